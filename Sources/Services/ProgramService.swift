public import Foundation
public import Namespace

/// `program`: an exec agent's code, a file like any other (read it, replace it whole). Only
/// exec agents have one; the operator writes it (an agent's own token reads it), each write a
/// new version committed before the write is answered. Its size is the program's true size.
public struct ProgramService: FileService {
    public let name = "program"
    let host: any AgentHost
    static let table = FileTable.file("program", .file, [.read, .write, .operatorOnlyWrite])

    public init(host: any AgentHost) { self.host = host }

    public func walk(_ path: Path, _ ctx: RequestContext) async throws -> Node {
        var node = try Self.table.walk(path, shown: ctx.shownPath)
        guard let info = try await host.programInfo(of: ctx.agentID) else { throw FSError.notFound(ctx.shownPath) }
        node.size = info.bytes
        node.mtime = info.updatedAt
        node.version = UInt64(clamping: info.version)
        return node
    }

    public func read(_ node: Node, _ ctx: RequestContext) async throws -> Data {
        try await host.program(of: ctx.agentID)
    }

    public func write(_ node: Node, _ data: Data, _ mode: WriteMode, _ ctx: RequestContext) async throws -> Data {
        guard mode == .replace else {
            throw FSError(.invalidInput, "a program is replaced whole (PUT, or > on a mount), never appended to", path: ctx.shownPath)
        }
        try await host.putProgram(of: ctx.agentID, data)
        return Data()
    }
}

/// What `program` shows of an exec agent's program (all zero before one is written).
public struct ProgramFileInfo: Sendable, Equatable {
    public var version: Int64
    public var bytes: Int64
    /// Milliseconds since the epoch.
    public var updatedAt: Int64

    public init(version: Int64, bytes: Int64, updatedAt: Int64) {
        self.version = version
        self.bytes = bytes
        self.updatedAt = updatedAt
    }
}
