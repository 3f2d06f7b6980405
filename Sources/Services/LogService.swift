public import Foundation
public import Namespace

/// Append-only logs read by byte offset: `outbox` mounted alone, `logs/` holding `trace` and
/// `trajectory`. Sizes grow honestly so `tail -f` can poll them.
public struct LogService: RecordFileService {
    public let name: String
    let host: any AgentHost
    let table: FileTable

    /// `outbox`: one log mounted as a file.
    public static func outbox(host: any AgentHost) -> LogService {
        LogService(name: "outbox", host: host, table: .file(LogName.outbox.rawValue, .stream, .readOnly))
    }

    /// `logs/`: trace and trajectory.
    public static func logs(host: any AgentHost) -> LogService {
        LogService(name: "logs", host: host, table: .directory([
            .init("trace", .stream, .readOnly),
            .init("trajectory", .stream, .readOnly),
        ]))
    }

    func log(_ node: Node) -> LogName? { LogName(rawValue: node.tag) }

    public func walk(_ path: Path, _ ctx: RequestContext) async throws -> Node {
        var node = try table.walk(path, shown: ctx.shownPath)
        if let log = log(node) { node.size = try await host.logSize(of: ctx.agentID, log) }
        node.mtime = try await host.changedAt(of: ctx.agentID)
        return node
    }

    public func list(_ dir: Node, _ ctx: RequestContext) async throws -> [Node] {
        var out: [Node] = []
        let changed = try await host.changedAt(of: ctx.agentID)
        for var node in table.list() {
            node.mtime = changed
            if let log = log(node) { node.size = try await host.logSize(of: ctx.agentID, log) }
            out.append(node)
        }
        return out
    }

    public func read(_ node: Node, _ ctx: RequestContext) async throws -> Data {
        try await read(node, .all, ctx).data
    }

    public func read(_ node: Node, _ range: ByteRange, _ ctx: RequestContext) async throws -> FileSlice {
        guard let log = log(node) else { throw FSError(.isDirectory, "is a directory", path: ctx.shownPath) }
        return try await host.readLog(of: ctx.agentID, log, range)
    }

    public func readWithLastID(_ node: Node, _ range: ByteRange, _ ctx: RequestContext) async throws -> (slice: FileSlice, lastID: UInt64?) {
        guard let log = log(node) else { throw FSError(.isDirectory, "is a directory", path: ctx.shownPath) }
        guard range.count == nil else { return (try await read(node, range, ctx), nil) }
        return try await host.readLogToEnd(of: ctx.agentID, log, from: range.offset)
    }

    public func feed(_ node: Node, _ ctx: RequestContext) async throws -> RecordFeed {
        guard let log = log(node) else { throw FSError(.invalidInput, "watch a log file, not the directory", path: ctx.shownPath) }
        return try await host.feed(of: ctx.agentID, .log(log))
    }
}
