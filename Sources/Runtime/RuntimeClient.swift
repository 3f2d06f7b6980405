public import Foundation
public import Namespace
import Services

/// The in-process FileClient: the global tree (`/agents/<id>/...`, `/runtime/status`) for one
/// principal. The HTTP layer and the in-process FUSE mount sit on this.
public struct RuntimeClient: FileClient {
    public let runtime: Runtime
    public let principal: Principal

    enum Target {
        case root, agentsDir, runtimeDir, runtimeStatus
        /// `/runtime/providers/` and one `<name>.json` in it (operator only).
        case providersDir
        case provider(String)
        case agent(Namespace, Path)
    }

    func target(_ text: String) async throws -> Target {
        let path = try Path(text)
        let c = path.components
        switch c.first {
        case nil: return .root
        case "agents":
            if c.count == 1 { return .agentsDir }
            let id = try AgentID.validate(c[1])
            if case .agent(let own) = principal, own != id {
                throw FSError.denied("/agents/\(id)", "this token is for agent '\(own)' only")
            }
            let ns = try await runtime.namespace(of: id)
            return .agent(ns, path.droppingFirst(2))
        case "runtime":
            if c.count == 1 { return .runtimeDir }
            if c.count == 2, c[1] == "status" { return .runtimeStatus }
            // Providers are the operator's: an agent is refused them whether they exist or not.
            if c[1] == "providers" {
                guard principal == .operator else { throw FSError.denied(path.description, "only the operator may see the runtime's providers") }
                guard c.count <= 3 else { throw FSError.notFound(text) }
                return c.count == 2 ? .providersDir : .provider(try Self.providerName(c[2], path.description))
            }
            throw FSError.notFound(text)
        default:
            throw FSError.notFound(path.description)
        }
    }

    static func dir(_ name: String, _ path: String) -> FileStat {
        FileStat(name: name, type: .dir, size: 0, mtime: 0, version: 0, id: FileStat.stableID(path), mode: 0o555)
    }

    public func stat(_ path: String) async throws -> FileStat {
        switch try await target(path) {
        case .root: return Self.dir("", "/")
        case .agentsDir: return Self.dir("agents", "/agents")
        case .runtimeDir: return Self.dir("runtime", "/runtime")
        case .providersDir: return Self.dir("providers", "/runtime/providers")
        case .provider(let name): return try await providerStat(name)
        case .runtimeStatus:
            let size = Int64(try await runtime.runtimeStatus().fileData.count)
            return FileStat(name: "status", type: .file, size: size, mtime: runtime.clock.now(), version: 0,
                            id: FileStat.stableID("/runtime/status"), mode: 0o444)
        case .agent(let ns, let rest):
            var s = try await ns.stat(rest, as: principal)
            if rest.isRoot { s.name = ns.agentID }
            return s
        }
    }

    public func list(_ path: String) async throws -> [FileStat] {
        switch try await target(path) {
        case .root: return [Self.dir("agents", "/agents"), Self.dir("runtime", "/runtime")]
        case .agentsDir:
            var ids: [String]
            if case .agent(let own) = principal {
                ids = try await runtime.store.agent(own) == nil ? [] : [own]
            } else {
                ids = []
                var after: String?
                while true {
                    let page = try await runtime.store.listAgents(after: after, limit: 1000).map(\.id)
                    ids += page
                    guard page.count == 1000 else { break }
                    after = page.last
                }
            }
            return ids.map { Self.dir($0, "/agents/\($0)") }
        case .runtimeDir:
            var out = [try await stat("/runtime/status")]
            if principal == .operator { out.append(Self.dir("providers", "/runtime/providers")) }
            return out
        case .providersDir: return try await providerList()
        case .runtimeStatus, .provider: throw FSError(.notDirectory, "not a directory", path: path)
        case .agent(let ns, let rest): return try await ns.list(rest, as: principal)
        }
    }

    public func read(_ path: String, _ range: ByteRange) async throws -> FileSlice {
        switch try await target(path) {
        case .root, .agentsDir, .runtimeDir, .providersDir: throw FSError(.isDirectory, "is a directory", path: path)
        case .runtimeStatus: return FileSlice(range.slice(try await runtime.runtimeStatus().fileData), at: range.offset)
        case .provider(let name): return FileSlice(range.slice(try await providerFile(name).shownJSON.fileData), at: range.offset)
        case .agent(let ns, let rest): return try await ns.read(rest, range, as: principal)
        }
    }

    public func write(_ path: String, _ data: Data, mode: WriteMode) async throws -> Data {
        switch try await target(path) {
        case .root, .agentsDir, .runtimeDir, .providersDir: throw FSError(.isDirectory, "is a directory", path: path)
        case .runtimeStatus: throw FSError.denied(path, "file cannot be written")
        case .provider(let name): return try await writeProvider(name, data, mode)
        case .agent(let ns, let rest): return try await ns.write(rest, data, mode: mode, as: principal)
        }
    }

    public func remove(_ path: String) async throws {
        switch try await target(path) {
        case .root, .agentsDir, .runtimeDir, .runtimeStatus, .providersDir: throw FSError.denied(path, "cannot be removed")
        case .provider(let name):
            defer { runtime.compute.providersChanged() }
            guard try await runtime.store.removeProvider(name) else { throw FSError(.notFound, "no provider '\(name)'", path: path) }
        case .agent(let ns, let rest):
            if rest.isRoot {
                guard principal == .operator else { throw FSError.denied(path, "only the operator may delete an agent") }
                try await runtime.deleteAgent(ns.agentID)
                return
            }
            try await ns.remove(rest, as: principal)
        }
    }

    public func watch(_ path: String, after: UInt64?) async throws -> AsyncThrowingStream<FeedRecord, any Error> {
        let subscription = try await subscribe(path, after: after)
        let box = IteratorBox(subscription.makeAsyncIterator(), subscription)
        return AsyncThrowingStream(unfolding: { await box.next() })
    }
}

extension RuntimeClient {
    /// `read`, with the id of the last record read when the file is a log read to its end: a
    /// watch resumed after it gets exactly the records the read did not.
    public func readWithLastID(_ path: String, _ range: ByteRange) async throws -> (slice: FileSlice, lastID: UInt64?) {
        guard case .agent(let ns, let rest) = try await target(path) else { return (try await read(path, range), nil) }
        return try await ns.readWithLastID(rest, range, as: principal)
    }

    /// The feed subscription behind `watch`, for a writer that pulls records in batches.
    public func subscribe(_ path: String, after: UInt64?) async throws -> RecordFeed.Subscription {
        guard case .agent(let ns, let rest) = try await target(path) else {
            throw FSError(.invalidInput, "only files and directories of an agent can be watched", path: path)
        }
        // The hub may let go of an unwatched feed between handing it out and the subscribe
        // (hibernation, an idle sweep): such a feed gets nothing more, so ask for a fresh one.
        while true {
            let feed = try await ns.feed(rest, as: principal)
            let subscription = feed.subscribe(after: after)
            if !feed.isRetired { return subscription }
            try Task.checkCancellation()
        }
    }
}

/// Holds a subscription's iterator for `AsyncThrowingStream(unfolding:)`, which calls `next`
/// one at a time.
final class IteratorBox: @unchecked Sendable {
    var iterator: RecordFeed.Subscription.Iterator
    let subscription: RecordFeed.Subscription

    init(_ iterator: RecordFeed.Subscription.Iterator, _ subscription: RecordFeed.Subscription) {
        self.iterator = iterator
        self.subscription = subscription
    }

    func next() async -> FeedRecord? { await iterator.next() }
}
