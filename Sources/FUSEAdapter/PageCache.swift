public import Foundation
import Synchronization

/// When the kernel may answer a read from its page cache instead of asking the file system.
///
/// Content is versioned per agent: every change to anything of agent A (told by `changed`,
/// from the runtime's change stream, before the change is acknowledged in process) moves A's
/// generation on. For each cacheable file the mount remembers the generation at which the
/// kernel's attributes of it were last answered (its `st_size`), and the generation at which
/// its page cache was last refilled. An open may then:
///
/// - keep the cache (`keep_cache`) when both are the current generation: nothing of the agent
///   changed since the kernel learnt the file's size and its bytes, so they are the file's;
/// - refill it (page cache, `keep_cache` off: the kernel drops the pages at open) when only the
///   size is current: the reads of this handle bring the bytes;
/// - read directly (`direct_io`, every read asks the file system, the size is not used) when the
///   kernel's size may be old: after a change, until the kernel next asks for the attributes.
///
/// A generation is read before the stat or the read it vouches for starts, so a change that
/// lands meanwhile makes it old, never the other way. Only read-only opens of the files in
/// `isCacheable` take part (documents whose bytes are a function of what the store holds:
/// status, config, goals); logs, streams, calls and everything opened for writing stay direct.
/// A mount without a change stream (`--no-cache`, or a remote stream that is down) has no
/// PageCache, or one that is `suspended`, and every open is direct, as before.
public final class PageCache: Sendable {
    public enum Mode: Equatable, Sendable {
        case direct
        /// The kernel keeps its pages; the handle's generation.
        case keep(UInt64)
        /// The kernel drops its pages and refills them from this handle.
        case fill(UInt64)
    }

    struct FileState {
        var attrs: UInt64?
        var filled: UInt64?
    }

    struct State {
        var clock: UInt64 = 1
        /// Agents changed since the mount began (or since the table was last cleared), each at
        /// the clock value of its last change; others are at `floor`.
        var agents: [String: UInt64] = [:]
        var floor: UInt64 = 1
        var files: [String: FileState] = [:]
        /// While true (no change stream), every open is direct.
        var suspended = false
    }

    let state = Mutex(State())
    /// Read-only opens of cacheable files so far, by mode: keep, fill, direct.
    let opens = Mutex<(keep: Int, fill: Int, direct: Int)>((0, 0, 0))
    public var openCounts: (keep: Int, fill: Int, direct: Int) { opens.withLock { $0 } }
    /// Bounds on the tables: past them, everything counts as changed now and they start over.
    static let maxAgents = 65_536
    static let maxFiles = 65_536

    public init(suspended: Bool = false) {
        state.withLock { $0.suspended = suspended }
    }

    /// Everything of these agents changed. Call it before the change is acknowledged.
    public func changed<S: Sequence<String>>(agents: S) {
        state.withLock { s in
            s.clock &+= 1
            if s.agents.count >= Self.maxAgents { Self.reset(&s) }
            for agent in agents { s.agents[agent] = s.clock }
        }
    }

    /// Anything may have changed (a change stream lost, or restarted): nothing cached is trusted.
    public func changedAll() { state.withLock { Self.reset(&$0) } }

    /// Stops (true) or resumes (false) caching; both count as a change of everything.
    public func suspend(_ yes: Bool) {
        state.withLock { s in
            Self.reset(&s)
            s.suspended = yes
        }
    }

    public var isSuspended: Bool { state.withLock { $0.suspended } }

    static func reset(_ s: inout State) {
        s.clock &+= 1
        s.floor = s.clock
        s.agents.removeAll(keepingCapacity: true)
        s.files.removeAll(keepingCapacity: true)
    }

    /// `/agents/<id>/status`, `/agents/<id>/config` and `/agents/<id>/goals/<name>.json`: the
    /// agent's id, or nil for a file that is never cached.
    public static func cacheableAgent(_ path: String) -> Substring? {
        let c = path.split(separator: "/", omittingEmptySubsequences: false)
        guard c.count >= 4, c[0].isEmpty, c[1] == "agents", !c[2].isEmpty else { return nil }
        switch c.count {
        case 4 where c[3] == "status" || c[3] == "config": return c[2]
        case 5 where c[3] == "goals" && c[4].hasSuffix(".json") && c[4].count > 5: return c[2]
        default: return nil
        }
    }

    static func generation(_ s: State, _ agent: Substring) -> UInt64 { s.agents[String(agent)] ?? s.floor }

    /// Before a stat of `path` is asked: the generation it will vouch for, or nil.
    public func beginAttributes(_ path: String) -> UInt64? {
        guard let agent = Self.cacheableAgent(path) else { return nil }
        return state.withLock { s in s.suspended ? nil : Self.generation(s, agent) }
    }

    /// After the stat answered (and before the answer goes to the kernel): its size is the
    /// file's at `generation` if nothing changed meanwhile.
    public func endAttributes(_ path: String, _ generation: UInt64?) {
        guard let generation, let agent = Self.cacheableAgent(path) else { return }
        state.withLock { s in
            let now = Self.generation(s, agent)
            if s.files.count >= Self.maxFiles, s.files[path] == nil { Self.reset(&s); return }
            s.files[path, default: FileState()].attrs = now == generation ? generation : nil
        }
    }

    /// How a read-only open of `path` reads.
    public func openMode(_ path: String) -> Mode {
        guard let agent = Self.cacheableAgent(path) else { return .direct }
        let mode = state.withLock { s -> Mode in
            guard !s.suspended, let file = s.files[path] else { return .direct }
            let now = Self.generation(s, agent)
            guard file.attrs == now else { return .direct }
            if file.filled == now { return .keep(now) }
            // Not marked filled yet: only a read on this handle shows that the kernel has
            // dropped the old pages (at this open) and is taking its bytes (`served`).
            return .fill(now)
        }
        opens.withLock { c in
            switch mode {
            case .keep: c.keep += 1
            case .fill: c.fill += 1
            case .direct: c.direct += 1
            }
        }
        return mode
    }

    /// A read served by a handle opened as `mode` goes into the page cache. A `fill` handle's
    /// read comes after the kernel dropped the old pages at its open: from then on the pages are
    /// of its generation. A `keep` handle of another generation than the pages' makes them mixed,
    /// so they are not kept at the next open.
    public func served(_ path: String, mode: Mode) {
        state.withLock { s in
            switch mode {
            case .fill(let g): s.files[path]?.filled = g
            case .keep(let g): if s.files[path]?.filled != g { s.files[path]?.filled = nil }
            case .direct: break
            }
        }
    }

    /// The mount itself committed a change to `path` (a write, a ctl command, a remove): the
    /// agent's files are changed for this mount at once, without waiting for the change stream.
    public func committed(_ path: String) {
        let c = path.split(separator: "/", omittingEmptySubsequences: false)
        guard c.count >= 3, c[0].isEmpty, c[1] == "agents", !c[2].isEmpty else { return }
        changed(agents: CollectionOfOne(String(c[2])))
    }
}
