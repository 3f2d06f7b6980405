public import Foundation
public import Namespace

/// A sandbox provider: where `containers/` sessions live and their execs run. The runtime owns
/// sessions, execs, budgets and notices; a provider owns work directories and processes.
/// Implementations live in their own target (SandboxBubblewrap is the local one); a second one
/// (Docker's engine API, a remote sandbox service) is one more conformance.
///
/// Every path handed to a provider is a list of already-validated components relative to the
/// session's work directory (no empty, ".", ".." or "/" in any of them); the provider still
/// resolves them beneath the work directory without following a symlink out of it, because
/// the sandboxed program makes whatever links it likes.
public protocol SandboxProvider: Sendable {
    /// The name in `containers/providers/<name>` ("local").
    var name: String { get }
    /// `containers/providers/<name>/info`: `{kind, isolation, limits}`.
    var info: JSON { get }
    /// The limits this provider enforces on this machine. A session asking for a limit not in
    /// the set is refused at creation (never run with the limit silently ignored).
    var enforceable: Set<SandboxLimit> { get }

    /// Makes the session's empty work directory. Idempotent.
    func createSession(_ session: SandboxSession) async throws
    /// Deletes the session's work directory and everything in it. Idempotent.
    func removeSession(_ session: SandboxSession) async throws
    /// The agent is gone and its sessions removed: what the provider kept for it goes too.
    func removeAgent(_ agent: String) async
    /// Whether the work directory exists (a restart checks the sessions it finds).
    func sessionExists(_ session: SandboxSession) async -> Bool

    /// Runs one exec to its end. `output` receives stdout and stderr as they arrive, in order,
    /// never more than `limits.outputBytes` in all (the rest is read and dropped: `truncated`);
    /// it is awaited, so a slow consumer slows the reader rather than growing a buffer.
    /// Cancelling the calling task kills the whole process tree (`killedBy` is then nil and
    /// `cancelled` true). Nothing the exec started outlives this call.
    func run(_ session: SandboxSession, _ exec: SandboxExec,
             output: @escaping @Sendable (SandboxOutput) async -> Void) async throws -> SandboxExit

    // Files of the work directory. Errors are FSError: not_found, not_directory, is_directory,
    // permission_denied (a symlink leading out, a hard-linked file), already_exists,
    // budget_exceeded (the work directory's byte limit).
    func stat(_ session: SandboxSession, _ path: [String]) async throws -> SandboxFileInfo
    func list(_ session: SandboxSession, _ path: [String]) async throws -> [SandboxFileInfo]
    /// Up to `count` bytes (nil: to the end) from `offset`.
    func read(_ session: SandboxSession, _ path: [String], offset: Int64, count: Int64?) async throws -> Data
    /// Writes `data` at `offset` (nil: replaces the whole file), creating the file (and its
    /// missing parent directories) if needed, so that the work directory stays within
    /// `diskLimit` bytes (budget_exceeded otherwise, nothing written).
    func write(_ session: SandboxSession, _ path: [String], _ data: Data, offset: Int64?, diskLimit: Int64?) async throws
    /// Replaces the file with `data`, executable by the sandbox user (an exec agent's program).
    func writeExecutable(_ session: SandboxSession, _ path: [String], _ data: Data) async throws
    /// Removes a file, a symlink (never what it points to) or an empty directory.
    func remove(_ session: SandboxSession, _ path: [String]) async throws
    /// Makes a directory (and missing parents); already_exists if something is there.
    func makeDirectory(_ session: SandboxSession, _ path: [String]) async throws
    /// Bytes used by the work directory.
    func diskUsage(_ session: SandboxSession) async throws -> Int64
}

extension SandboxProvider {
    public func removeAgent(_ agent: String) async {}

    public func writeExecutable(_ session: SandboxSession, _ path: [String], _ data: Data) async throws {
        try await write(session, path, data, offset: nil, diskLimit: nil)
    }
}

/// Which session: the agent owning it and its id (both validated names).
public struct SandboxSession: Sendable, Hashable {
    public var agent: String
    public var id: String
    public init(agent: String, id: String) {
        self.agent = agent
        self.id = id
    }
}

/// The limits a provider can enforce, by the names results and policies use.
public enum SandboxLimit: String, Sendable, CaseIterable, Hashable {
    case memory, pids, cpu, timeout, output, disk
}

/// One exec's limits (all enforced: the runtime fills every one from request, session and
/// policy, the request never above the policy's maximum).
public struct SandboxLimits: Sendable, Equatable {
    public var memoryBytes: Int64
    public var pids: Int64
    public var cpuMs: Int64
    /// Wall time, the exec's `timeout_ms`.
    public var timeoutMs: Int64
    /// stdout and stderr together.
    public var outputBytes: Int64
    /// The work directory's total size.
    public var diskBytes: Int64

    public init(memoryBytes: Int64, pids: Int64, cpuMs: Int64, timeoutMs: Int64, outputBytes: Int64, diskBytes: Int64) {
        self.memoryBytes = memoryBytes
        self.pids = pids
        self.cpuMs = cpuMs
        self.timeoutMs = timeoutMs
        self.outputBytes = outputBytes
        self.diskBytes = diskBytes
    }
}

/// What to run.
public struct SandboxExec: Sendable, Equatable {
    public var argv: [String]
    public var stdin: Data
    /// Added to a minimal environment (PATH, HOME=/work, LANG, TMPDIR).
    public var env: [String: String]
    public var limits: SandboxLimits
    /// Extra read-write bind mounts: host path → path inside (exec agents' `/n/self`).
    public var binds: [(host: String, inside: String)]
    /// What the provider names the run's resources after, so that a process can later be known
    /// as one of this run's (exec agents: `tick.<agent>`, which the self mount admits). Letters,
    /// digits, `.`, `_` and `-`.
    public var label: String?

    public init(argv: [String], stdin: Data = Data(), env: [String: String] = [:], limits: SandboxLimits,
                binds: [(host: String, inside: String)] = [], label: String? = nil) {
        self.label = label
        self.argv = argv
        self.stdin = stdin
        self.env = env
        self.limits = limits
        self.binds = binds
    }

    public static func == (a: SandboxExec, b: SandboxExec) -> Bool {
        a.argv == b.argv && a.stdin == b.stdin && a.env == b.env && a.limits == b.limits
            && a.binds.map(\.host) == b.binds.map(\.host) && a.binds.map(\.inside) == b.binds.map(\.inside) && a.label == b.label
    }
}

/// A piece of output, as read (UTF-8; invalid bytes replaced; a character split across reads
/// is kept whole).
public struct SandboxOutput: Sendable, Equatable {
    public enum Stream: String, Sendable { case stdout, stderr }
    public var stream: Stream
    public var data: String
    public init(stream: Stream, data: String) {
        self.stream = stream
        self.data = data
    }
}

/// How an exec ended.
public struct SandboxExit: Sendable, Equatable {
    /// The program's exit status; nil when it was ended by a signal.
    public var exitCode: Int32?
    public var signal: Int32?
    public var durationMs: Int64
    public var cpuMs: Int64
    public var maxRSSKB: Int64
    /// The limit that ended it (or, for `pids`, that refused its forks before it failed).
    public var killedBy: SandboxLimit?
    public var truncated: Bool
    /// Ended because the calling task was cancelled (`ctl stop`, shutdown).
    public var cancelled: Bool

    public init(exitCode: Int32?, signal: Int32? = nil, durationMs: Int64, cpuMs: Int64, maxRSSKB: Int64, killedBy: SandboxLimit? = nil,
                truncated: Bool = false, cancelled: Bool = false) {
        self.exitCode = exitCode
        self.signal = signal
        self.durationMs = durationMs
        self.cpuMs = cpuMs
        self.maxRSSKB = maxRSSKB
        self.killedBy = killedBy
        self.truncated = truncated
        self.cancelled = cancelled
    }
}

/// A file or directory of a work directory.
public struct SandboxFileInfo: Sendable, Equatable {
    public enum Kind: String, Sendable { case file, directory, symlink, other }
    public var name: String
    public var kind: Kind
    public var size: Int64
    /// Milliseconds since the epoch.
    public var mtime: Int64
    public init(name: String, kind: Kind, size: Int64, mtime: Int64) {
        self.name = name
        self.kind = kind
        self.size = size
        self.mtime = mtime
    }
}
