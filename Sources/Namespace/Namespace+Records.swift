public import struct Foundation.Data

/// A file whose content is records with ids (a log): a read to the end can say which record it
/// ends with, so a watcher can resume with exactly the records after what was read.
public protocol RecordFileService: FileService {
    /// `read(node, offset:count:)` with the id of the record the data ends with (nil: unknown,
    /// e.g. a partial read).
    func readWithLastID(_ node: Node, offset: Int64, count: Int?, _ ctx: RequestContext) async throws -> (data: Data, lastID: UInt64?)
}

extension Namespace {
    /// `read`, with the id of the last record read for files made of records (see
    /// `RecordFileService`); nil for other files.
    public func readWithLastID(_ path: Path, offset: Int64 = 0, count: Int? = nil, as principal: Principal) async throws(FSError)
        -> (data: Data, lastID: UInt64?)
    {
        guard offset >= 0 else { throw FSError(.invalidInput, "negative offset", path: shown(path)) }
        let (entry, rest, ctx) = try route(path, principal, .read, refusingDirectories: true)
        guard let service = entry.service as? any RecordFileService else {
            return (try await read(path, offset: offset, count: count, as: principal), nil)
        }
        return try await guarded(path) {
            let node = try await service.walk(rest, ctx)
            try check(node, .read, ctx)
            return try await service.readWithLastID(node, offset: offset, count: count, ctx)
        }
    }
}
