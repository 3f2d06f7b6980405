public import Foundation
public import Namespace

/// `status`, `config` and `state`: one JSON document each, computed from the host.
/// `config` takes a merge-patch from the operator.
public struct JSONFileService: FileService {
    public enum Document: String, Sendable { case status, config, state }

    public let document: Document
    let host: any AgentHost
    public var name: String { document.rawValue }

    public init(_ document: Document, host: any AgentHost) {
        self.document = document
        self.host = host
    }

    var table: FileTable {
        switch document {
        case .config: .file("config", .file, [.read, .write, .operatorOnlyWrite])
        case .status, .state: .file(document.rawValue, .file, .readOnly)
        }
    }

    public func walk(_ path: Path, _ ctx: RequestContext) async throws -> Node {
        var node = try table.walk(path, shown: ctx.shownPath)
        node.mtime = try await host.changedAt(of: ctx.agentID)
        return node
    }

    public func read(_ node: Node, _ ctx: RequestContext) async throws -> Data {
        switch document {
        case .status: try await host.statusFile(of: ctx.agentID)
        case .config: try await host.config(of: ctx.agentID).fileData
        case .state: try await host.state(of: ctx.agentID).fileData
        }
    }

    public func write(_ node: Node, _ data: Data, _ mode: WriteMode, _ ctx: RequestContext) async throws -> Data {
        let patch = try JSON(fileData: data)
        guard case .object = patch else { throw FSError(.invalidInput, "config takes a JSON object (a merge-patch)", path: ctx.shownPath) }
        try await host.patchConfig(of: ctx.agentID, patch)
        return try await host.config(of: ctx.agentID).fileData
    }

    public func feed(_ node: Node, _ ctx: RequestContext) async throws -> RecordFeed {
        switch document {
        case .status: try await host.feed(of: ctx.agentID, .status)
        case .config: try await host.feed(of: ctx.agentID, .config)
        case .state: try await host.feed(of: ctx.agentID, .state)
        }
    }
}
