public import struct Foundation.Data

/// An open file with Plan 9 semantics over a stateless FileClient: the seam FUSE handles sit
/// on. Writes are buffered and committed on `flush` or `close` (which report the error); a
/// read after a write on the same handle returns that write's answer (call files:
/// `identity/sign`), so two handles never see each other's answers; a synthetic file is read
/// from one snapshot per handle so its size cannot change under a reader; streams (logs) are
/// read live by offset so a follower sees them grow.
public actor OpenFile {
    public struct Flags: OptionSet, Sendable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        public static let read = Flags(rawValue: 1)
        public static let write = Flags(rawValue: 2)
        /// O_TRUNC: the commit replaces the file (`>`); without it, the commit appends (`>>`).
        public static let truncate = Flags(rawValue: 4)
    }

    public nonisolated let path: String
    public nonisolated let stat: FileStat
    let client: any FileClient
    public nonisolated let flags: Flags
    var pending = Data()
    var dirty = false
    var answer: Data?
    /// Bytes written through this handle when the answer came: a reader on the same file
    /// descriptor is at that offset (`echo -n data >&3; cat <&3`), and reads the answer from
    /// its start there.
    var answerBase: Int64 = 0
    var written: Int64 = 0
    var snapshot: Data?
    /// Streams: how far the log's offsets are ahead of this handle's. A read that lands below a
    /// pruned log's retained records is answered from the oldest one; the handle then reads on
    /// from there, so `cat`, `wc` and `grep` see each retained record once, in order.
    var shift: Int64 = 0

    /// Opens `path`: it must exist, and must not be a directory.
    public init(client: any FileClient, path: String, flags: Flags) async throws {
        try self.init(client: client, path: path, flags: flags, stat: try await client.stat(path))
    }

    /// Opens `path` whose stat the caller already has (a fresh cache entry), with no round trip.
    public init(client: any FileClient, path: String, flags: Flags, stat: FileStat) throws {
        if stat.type == .dir { throw FSError(.isDirectory, "is a directory", path: path) }
        self.client = client
        self.path = path
        self.flags = flags
        self.stat = stat
    }

    /// A file that does not exist yet (O_CREAT): the close commits what was written, even
    /// nothing, so the service accepts or refuses the new file then and the close reports it.
    public init(creating path: String, client: any FileClient, flags: Flags) {
        let name = path.split(separator: "/").last.map(String.init) ?? ""
        self.client = client
        self.path = path
        self.flags = flags.union(.truncate)
        self.stat = FileStat(name: name, type: .file, size: 0, mtime: 0, version: 0, id: FileStat.stableID(path), mode: 0o644)
        self.dirty = true
    }

    /// Bytes written and not yet committed.
    public var pendingCount: Int { pending.count }

    /// True until the first commit of a file opened with `creating:`.
    public var isUncommitted: Bool { dirty }

    /// Buffers `data`; nothing reaches the file until `flush` or `close`.
    public func write(_ data: Data) throws {
        guard flags.contains(.write) else { throw FSError(.permissionDenied, "file is not open for writing", path: path) }
        pending.append(data)
        written += Int64(data.count)
        dirty = true
    }

    /// Commits what was written since the last commit and keeps its answer for reads.
    public func flush() async throws {
        guard dirty else { return }
        let data = pending
        pending = Data()
        dirty = false
        answer = try await client.write(path, data, mode: flags.contains(.truncate) ? .replace : .append)
        answerBase = written
    }

    public func read(offset: Int64, count: Int) async throws -> Data {
        guard flags.contains(.read) else { throw FSError(.permissionDenied, "file is not open for reading", path: path) }
        let range = try ByteRange(offset: offset, count: count)
        if dirty { try await flush() }
        if let answer { return (offset >= answerBase ? range.shifted(by: -answerBase) : range).slice(answer) }
        if stat.type == .stream {
            let want = range.shifted(by: shift)
            let got = try await client.read(path, want)
            if got.offset > want.offset { shift += got.offset - want.offset }
            return got.data
        }
        if snapshot == nil || offset == 0 { snapshot = try await client.read(path) }
        return range.slice(snapshot ?? Data())
    }

    /// Commits pending writes; the error of that commit is the error of the close.
    public func close() async throws { try await flush() }
}
