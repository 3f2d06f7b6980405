public import Foundation
public import Namespace

/// `mounts`: the agent's mount table, one `path service access` line per mount.
public struct MountsService: FileService {
    public let name = "mounts"
    static let table = FileTable.file("mounts", .file, .readOnly)

    public init() {}

    public func walk(_ path: Path, _ ctx: RequestContext) async throws -> Node { try Self.table.walk(path, shown: ctx.shownPath) }
    public func read(_ node: Node, _ ctx: RequestContext) async throws -> Data { Data(ctx.table.text.utf8) }
}
