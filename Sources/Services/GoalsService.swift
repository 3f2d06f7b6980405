public import Foundation
public import Namespace

/// `goals/`: one `<goal-id>.json` per goal; write to create or replace, rm to delete.
public struct GoalsService: FileService {
    public let name = "goals"
    let host: any AgentHost
    static let root = FileTable.directory([], perms: [.read, .create])
    static let perms: Perms = [.read, .write, .remove]

    public init(host: any AgentHost) { self.host = host }

    static func goalID(_ fileName: String, shown: String) throws(FSError) -> String {
        guard fileName.hasSuffix(".json") else { throw FSError(.invalidPath, "goal files are named <goal-id>.json", path: shown) }
        return try AgentID.validate(String(fileName.dropLast(5)), what: "goal id")
    }

    func node(_ goal: Goal) -> Node {
        Node(path: Path.root.appendingUnchecked(goal.id + ".json"), type: .file, perms: Self.perms, tag: "goal",
             size: Int64(goal.body.fileData.count), mtime: goal.updatedAt, version: goal.version)
    }

    public func walk(_ path: Path, _ ctx: RequestContext) async throws -> Node {
        if path.isRoot {
            var node = try Self.root.walk(path, shown: ctx.shownPath)
            let latest = try await host.goals(of: ctx.agentID).map(\.updatedAt).max() ?? 0
            node.mtime = max(latest, try await host.changedAt(of: ctx.agentID))
            return node
        }
        guard path.count == 1 else { throw FSError.notFound(ctx.shownPath) }
        let id = try Self.goalID(path.name, shown: ctx.shownPath)
        return node(try await host.goal(of: ctx.agentID, id: id))
    }

    public func list(_ dir: Node, _ ctx: RequestContext) async throws -> [Node] {
        try await host.goals(of: ctx.agentID).map(node)
    }

    public func read(_ node: Node, _ ctx: RequestContext) async throws -> Data {
        let id = try Self.goalID(node.name, shown: ctx.shownPath)
        return try await host.goal(of: ctx.agentID, id: id).body.fileData
    }

    public func write(_ node: Node, _ data: Data, _ mode: WriteMode, _ ctx: RequestContext) async throws -> Data {
        try await put(node.name, data, ctx)
    }

    public func create(_ name: String, in dir: Node, _ data: Data, _ ctx: RequestContext) async throws -> Data {
        try await put(name, data, ctx)
    }

    func put(_ name: String, _ data: Data, _ ctx: RequestContext) async throws -> Data {
        let id = try Self.goalID(name, shown: ctx.shownPath)
        let body = try JSON(fileData: data)
        guard case .object = body else { throw FSError(.invalidInput, "a goal is a JSON object", path: ctx.shownPath) }
        _ = try await host.putGoal(of: ctx.agentID, id: id, body)
        return Data()
    }

    public func remove(_ node: Node, _ ctx: RequestContext) async throws {
        try await host.removeGoal(of: ctx.agentID, id: try Self.goalID(node.name, shown: ctx.shownPath))
    }

    public func feed(_ node: Node, _ ctx: RequestContext) async throws -> RecordFeed { try await host.feed(of: ctx.agentID, .goals) }
}

extension Path {
    /// For names already validated by the service that made them.
    func appendingUnchecked(_ name: String) -> Path { (try? appending(name)) ?? self }
}
