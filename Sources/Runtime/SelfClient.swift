public import Foundation
public import Namespace

/// The file tree behind the self mount: `/<id>/...` is agent `<id>`'s own namespace, served
/// with `<id>`'s own principal (exactly what a client holding that agent's token may do).
/// Its root lists nothing. An exec agent's sandbox gets `<mount>/<id>` bound at `/n/self`, so
/// the program reaches its own agent and nothing else: `..` at `/n/self` is the sandbox's `/n`.
public struct SelfClient: FileClient {
    public let runtime: Runtime

    public init(runtime: Runtime) { self.runtime = runtime }

    /// The agent's client and the global path of `text` (`/<id>/rest` → `/agents/<id>/rest`),
    /// its calls bounded and abortable per agent (SelfCalls).
    func route(_ text: String) throws -> (Bounded, String)? {
        let path = try Path(text)
        guard let first = path.components.first else { return nil }
        let id = try AgentID.validate(first)
        let rest = path.droppingFirst(1).components
        return (Bounded(client: runtime.client(as: .agent(id)), agent: id, calls: runtime.selfCalls), "/agents/" + ([id] + rest).joined(separator: "/"))
    }

    struct Bounded {
        let client: RuntimeClient
        let agent: String
        let calls: SelfCalls

        func stat(_ path: String) async throws -> FileStat { try await calls.run(agent) { try await client.stat(path) } }
        func list(_ path: String) async throws -> [FileStat] { try await calls.run(agent) { try await client.list(path) } }
        func read(_ path: String, _ range: ByteRange) async throws -> FileSlice { try await calls.run(agent) { try await client.read(path, range) } }
        func write(_ path: String, _ data: Data, mode: WriteMode) async throws -> Data {
            try await calls.run(agent) { try await client.write(path, data, mode: mode) }
        }
        func remove(_ path: String) async throws { try await calls.run(agent) { try await client.remove(path) } }
        func watch(_ path: String, after: UInt64?) async throws -> AsyncThrowingStream<FeedRecord, any Error> {
            try await client.watch(path, after: after)
        }
    }

    public func stat(_ path: String) async throws -> FileStat {
        guard let (client, global) = try route(path) else {
            return FileStat(name: "", type: .dir, size: 0, mtime: 0, version: 0, id: FileStat.stableID("/self"), mode: 0o555)
        }
        return try await client.stat(global)
    }

    public func list(_ path: String) async throws -> [FileStat] {
        guard let (client, global) = try route(path) else { return [] }
        return try await client.list(global)
    }

    public func read(_ path: String, _ range: ByteRange) async throws -> FileSlice {
        guard let (client, global) = try route(path) else { throw FSError(.isDirectory, "is a directory", path: path) }
        return try await client.read(global, range)
    }

    public func write(_ path: String, _ data: Data, mode: WriteMode) async throws -> Data {
        guard let (client, global) = try route(path) else { throw FSError(.isDirectory, "is a directory", path: path) }
        return try await client.write(global, data, mode: mode)
    }

    public func remove(_ path: String) async throws {
        guard let (client, global) = try route(path) else { throw FSError.denied(path, "the self mount's root cannot be removed") }
        try await client.remove(global)
    }

    public func watch(_ path: String, after: UInt64?) async throws -> AsyncThrowingStream<FeedRecord, any Error> {
        guard let (client, global) = try route(path) else { throw FSError(.isDirectory, "is a directory", path: path) }
        return try await client.watch(global, after: after)
    }
}
