public import Foundation
public import Namespace

/// `deadletter/`: `count`, `list` (one JSON per line), `ctl` (`replay <id>`, `discard <id>`),
/// and one file per dead-lettered envelope, named by its id.
public struct DeadletterService: FileService {
    public let name = "deadletter"
    let host: any AgentHost
    static let table = FileTable.directory([
        .init("count", .file, .readOnly),
        .init("list", .file, .readOnly),
        .init("ctl", .file, [.read, .write]),
    ])

    public init(host: any AgentHost) { self.host = host }

    public func walk(_ path: Path, _ ctx: RequestContext) async throws -> Node {
        if path.count == 1, !Self.table.entries.contains(where: { $0.name == path.name }) {
            let id = try AgentID.validate(path.name, what: "envelope id")
            _ = try await host.deadLetter(of: ctx.agentID, id: id)
            return Node(path: path, type: .file, perms: [.read, .remove], tag: "entry", mtime: try await host.changedAt(of: ctx.agentID))
        }
        var node = try Self.table.walk(path, shown: ctx.shownPath)
        node.mtime = try await host.changedAt(of: ctx.agentID)
        return node
    }

    public func list(_ dir: Node, _ ctx: RequestContext) async throws -> [Node] {
        let entries = try await host.deadLetters(of: ctx.agentID).compactMap { $0["id"]?.stringValue }
        let changed = try await host.changedAt(of: ctx.agentID)
        return (Self.table.list() + entries.compactMap { id in
            (try? Path.root.appending(id)).map { Node(path: $0, type: .file, perms: [.read, .remove], tag: "entry") }
        }).map { node in
            var node = node
            node.mtime = changed
            return node
        }
    }

    public func read(_ node: Node, _ ctx: RequestContext) async throws -> Data {
        switch node.tag {
        case "count": return Data("\(try await host.deadLetters(of: ctx.agentID).count)\n".utf8)
        case "list": return Data(try await host.deadLetters(of: ctx.agentID).map { $0.description + "\n" }.joined().utf8)
        case "ctl": return Data("replay <id>\ndiscard <id>\n".utf8)
        default: return try await host.deadLetter(of: ctx.agentID, id: node.name).fileData
        }
    }

    public func write(_ node: Node, _ data: Data, _ mode: WriteMode, _ ctx: RequestContext) async throws -> Data {
        let (command, args) = try CommandLine.parse(data, shown: ctx.shownPath)
        guard args.count == 1 else { throw FSError(.invalidInput, "usage: replay <id> | discard <id>", path: ctx.shownPath) }
        let id = try AgentID.validate(args[0], what: "envelope id")
        switch command {
        case "replay": try await host.replayDeadLetter(of: ctx.agentID, id: id)
        case "discard": try await host.discardDeadLetter(of: ctx.agentID, id: id)
        default: throw FSError(.invalidInput, "unknown deadletter command '\(command)'; expected replay or discard", path: ctx.shownPath)
        }
        return Data()
    }

    public func remove(_ node: Node, _ ctx: RequestContext) async throws {
        try await host.discardDeadLetter(of: ctx.agentID, id: node.name)
    }

    public func feed(_ node: Node, _ ctx: RequestContext) async throws -> RecordFeed { try await host.feed(of: ctx.agentID, .deadletter) }
}
