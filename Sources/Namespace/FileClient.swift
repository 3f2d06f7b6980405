public import struct Foundation.Data

/// The file protocol every edge speaks: the in-process runtime and the HTTP client both
/// implement it, so the FUSE adapter, agentctl and the tests drive either one.
/// Paths are global: `/agents/<id>/...` and `/runtime/status`.
public protocol FileClient: Sendable {
    func stat(_ path: String) async throws -> FileStat
    func list(_ path: String) async throws -> [FileStat]
    /// The bytes of `range` and the offset they begin at (past the one asked for only on a log
    /// whose head was pruned: see FileSlice).
    func read(_ path: String, _ range: ByteRange) async throws -> FileSlice
    /// Returns the answer: a call's result, a created id, or nothing.
    func write(_ path: String, _ data: Data, mode: WriteMode) async throws -> Data
    func remove(_ path: String) async throws
    /// Records after `after` (nil: from now), then live ones, until the task is cancelled.
    func watch(_ path: String, after: UInt64?) async throws -> AsyncThrowingStream<FeedRecord, any Error>
}

extension FileClient {
    /// `count` nil reads to the end; a negative offset or count is `invalid_input`.
    public func read(_ path: String, offset: Int64, count: Int?) async throws -> Data {
        try await read(path, try ByteRange(offset: offset, count: count)).data
    }

    public func read(_ path: String) async throws -> Data { try await read(path, .all).data }
    public func readString(_ path: String) async throws -> String { String(decoding: try await read(path), as: UTF8.self) }
    @discardableResult
    public func write(_ path: String, _ text: String, mode: WriteMode = .replace) async throws -> Data {
        try await write(path, Data(text.utf8), mode: mode)
    }
}
