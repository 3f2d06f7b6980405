public import Foundation
public import Namespace

/// `inbox`: a write enqueues one envelope and answers with its receipt; a read lists pending
/// envelopes, one JSON per line; a watch follows accepted envelopes.
public struct InboxService: FileService {
    public let name = "inbox"
    let host: any AgentHost
    /// A plain file, not a `stream`: its bytes are a queue whose head ticks remove, so offsets
    /// are not stable and a handle reads one snapshot (docs/decisions.md, "Reading inbox").
    /// Its watch feed is still the append-only record of accepted envelopes.
    static let table = FileTable.file("inbox", .file, [.read, .write, .append])
    /// How many pending envelopes a read shows.
    public static let readLimit = 10_000

    public init(host: any AgentHost) { self.host = host }

    public func walk(_ path: Path, _ ctx: RequestContext) async throws -> Node {
        var node = try Self.table.walk(path, shown: ctx.shownPath)
        node.mtime = try await host.changedAt(of: ctx.agentID)
        return node
    }

    public func read(_ node: Node, _ ctx: RequestContext) async throws -> Data {
        let lines = try await host.pending(of: ctx.agentID, limit: Self.readLimit).map { $0.description + "\n" }
        return Data(lines.joined().utf8)
    }

    public func write(_ node: Node, _ data: Data, _ mode: WriteMode, _ ctx: RequestContext) async throws -> Data {
        try await host.send(to: ctx.agentID, data, from: ctx.principal).json.fileData
    }

    public func feed(_ node: Node, _ ctx: RequestContext) async throws -> RecordFeed { try await host.feed(of: ctx.agentID, .inbox) }
}
