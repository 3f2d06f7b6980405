/// A file whose content is records with ids (a log): a read to the end can say which record it
/// ends with, so a watcher can resume with exactly the records after what was read.
public protocol RecordFileService: FileService {
    /// `read(node, range)` with the id of the record the data ends with (nil: unknown, e.g. a
    /// read that stops before the end).
    func readWithLastID(_ node: Node, _ range: ByteRange, _ ctx: RequestContext) async throws -> (slice: FileSlice, lastID: UInt64?)
}

extension Namespace {
    /// `read`, with the id of the last record read for files made of records (see
    /// `RecordFileService`); nil for other files.
    public func readWithLastID(_ path: Path, _ range: ByteRange, as principal: Principal) async throws(FSError)
        -> (slice: FileSlice, lastID: UInt64?)
    {
        let (entry, rest, ctx) = try route(path, principal, .read, refusingDirectories: true)
        guard let service = entry.service as? any RecordFileService else {
            return (try await read(path, range, as: principal), nil)
        }
        return try await guarded(path) {
            let node = try await service.walk(rest, ctx)
            try check(node, .read, ctx)
            return try await service.readWithLastID(node, range, ctx)
        }
    }
}
