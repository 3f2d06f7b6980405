public import Foundation
public import Namespace

/// `ctl`: read the state word; write one command line from the command table.
public struct CtlService: FileService {
    public let name = "ctl"
    let host: any AgentHost
    static let table = FileTable.file("ctl", .file, [.read, .write])

    public init(host: any AgentHost) { self.host = host }

    public func walk(_ path: Path, _ ctx: RequestContext) async throws -> Node {
        var node = try Self.table.walk(path, shown: ctx.shownPath)
        node.mtime = try await host.changedAt(of: ctx.agentID)
        return node
    }

    public func read(_ node: Node, _ ctx: RequestContext) async throws -> Data {
        let status = try await host.status(of: ctx.agentID)
        return Data(((status["state"]?.stringValue ?? "unknown") + "\n").utf8)
    }

    public func write(_ node: Node, _ data: Data, _ mode: WriteMode, _ ctx: RequestContext) async throws -> Data {
        let (command, args) = try CommandLine.parse(data, shown: ctx.shownPath)
        guard let cmd = ControlCommand(rawValue: command) else {
            let known = ControlCommand.allCases.map(\.rawValue).joined(separator: ", ")
            throw FSError(.invalidInput, "unknown ctl command '\(command)'; expected one of: \(known)", path: ctx.shownPath)
        }
        guard args.isEmpty else { throw FSError(.invalidInput, "ctl command '\(command)' takes no arguments", path: ctx.shownPath) }
        try await host.control(ctx.agentID, cmd, from: ctx.principal)
        return Data()
    }
}

/// One-line text commands: `name arg ...`, like Plan 9's `parsecmd`.
enum CommandLine {
    static func parse(_ data: Data, shown: String) throws(FSError) -> (String, [String]) {
        guard data.count <= 4096, let text = String(data: data, encoding: .utf8) else {
            throw FSError(.invalidInput, "a command is one line of UTF-8 text", path: shown)
        }
        let line = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !line.contains("\n") else { throw FSError(.invalidInput, "write one command per write", path: shown) }
        let words = line.split(whereSeparator: { $0 == " " || $0 == "\t" }).map(String.init)
        guard let first = words.first else { throw FSError(.invalidInput, "empty command", path: shown) }
        return (first, Array(words.dropFirst()))
    }
}
