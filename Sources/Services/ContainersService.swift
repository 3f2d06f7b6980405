public import Foundation
public import Namespace

/// `containers/`: sandboxed code execution, budgeted. `new` is a call file (write a session
/// request, read `{"session_id"}`); each session is a directory of `status`, `ctl` ("stop"),
/// `output` (every exec's output, watchable), `exec/` (`new`, a call file, and one directory
/// per exec: `status`, `output`, `result`) and `files/`, its work directory. `usage` and
/// `policy` are documents, the policy written by the operator only.
public struct ContainersService: RecordFileService {
    public let name = "containers"
    let host: any ContainersHost
    static let root = FileTable.directory([
        .init("providers", .dir, .read),
        .init("new", .call, [.read, .write]),
        .init("sessions", .dir, .read),
        .init("usage", .file, .readOnly),
        .init("policy", .file, [.read, .write, .operatorOnlyWrite]),
    ])
    static let provider = FileTable.directory([.init("info", tag: "provider.info", .file, .readOnly)])
    static let session = FileTable.directory([
        .init("status", tag: "session.status", .file, .readOnly),
        .init("ctl", tag: "session.ctl", .file, [.read, .write]),
        .init("output", tag: "session.output", .stream, .readOnly),
        .init("exec", tag: "session.exec", .dir, .read),
        .init("files", tag: "files", .dir, [.read, .create]),
    ])
    static let exec = FileTable.directory([
        .init("status", tag: "exec.status", .file, .readOnly),
        .init("output", tag: "exec.output", .stream, .readOnly),
        .init("result", tag: "exec.result", .file, .readOnly),
    ])
    /// Largest session or exec request accepted by a `new`.
    public static let maxRequestBytes = 8 << 20
    /// Largest whole-file read of a session file; larger ones are read in ranges.
    public static let maxWholeRead = 64 << 20

    public init(host: any ContainersHost) { self.host = host }

    /// A write to `files/a/b/c` makes `a/b` when they are missing, as `mkdir -p` would.
    public var createsMissingDirectories: Bool { true }

    /// What a path names, validated.
    enum Place {
        case root(Node)
        case provider(String, Node)
        case session(String, Node)
        case execNew(String, Node)
        case exec(String, String, Node)
        case file(String, [String], Node)
    }

    static func id(_ text: String, _ what: String) throws(FSError) -> String { try AgentID.validate(text, what: what) }

    public func walk(_ path: Path, _ ctx: RequestContext) async throws -> Node {
        let c = path.components
        let agent = ctx.agentID
        if c.count <= 1 {
            var node = try Self.root.walk(path, shown: ctx.shownPath)
            node.mtime = try await host.changedAt(of: agent)
            return node
        }
        switch c[0] {
        case "providers":
            guard c.count <= 3 else { throw FSError.notFound(ctx.shownPath) }
            let name = try Self.id(c[1], "provider name")
            guard try await host.sandboxProviders(of: agent).contains(where: { $0.name == name }) else {
                throw FSError(.notFound, "no sandbox provider '\(name)'", path: ctx.shownPath)
            }
            var node = try Self.provider.walk(path.droppingFirst(2), shown: ctx.shownPath)
            node.path = path
            if c.count == 2 { node.tag = "providers/" }
            node.mtime = try await host.changedAt(of: agent)
            return node
        case "sessions":
            let sid = try Self.id(c[1], "session id")
            let session = try await host.session(of: agent, id: sid)
            if c.count == 2 {
                return Node(path: path, type: .dir, perms: .read, tag: "sessions/", mtime: session.mtime)
            }
            if c[2] == "files" { return try await fileNode(path, sid, Array(c.dropFirst(3)), ctx) }
            if c[2] == "exec", c.count >= 4, c[3] != "new" {
                guard c.count <= 5 else { throw FSError.notFound(ctx.shownPath) }
                let eid = try Self.id(c[3], "exec id")
                let exec = try await host.exec(of: agent, session: sid, id: eid)
                if c.count == 4 { return Node(path: path, type: .dir, perms: .read, tag: "exec/", mtime: exec.mtime) }
                var node = try Self.exec.walk(path.droppingFirst(4), shown: ctx.shownPath)
                if node.tag == "exec.result", !exec.finished {
                    throw FSError(.notFound, "exec '\(eid)' has no result yet (\(exec.state))", path: ctx.shownPath)
                }
                node.path = path
                node.mtime = exec.mtime
                if node.tag == "exec.output" { node.size = exec.outputBytes }
                return node
            }
            if c[2] == "exec", c.count == 4 {
                return Node(path: path, type: .call, perms: [.read, .write], tag: "exec.new", mtime: session.mtime)
            }
            guard c.count == 3 else { throw FSError.notFound(ctx.shownPath) }
            var node = try Self.session.walk(path.droppingFirst(2), shown: ctx.shownPath)
            node.path = path
            node.mtime = session.mtime
            if node.tag == "session.output" { node.size = session.outputBytes }
            return node
        default:
            throw FSError.notFound(ctx.shownPath)
        }
    }

    /// A node of a session's work directory (`files/` itself for an empty `rest`).
    func fileNode(_ path: Path, _ session: String, _ rest: [String], _ ctx: RequestContext) async throws -> Node {
        let entry = try await host.sessionFile(of: ctx.agentID, session: session, rest)
        if entry.isDirectory {
            return Node(path: path, type: .dir, perms: rest.isEmpty ? [.read, .create] : [.read, .create, .remove], tag: "files", mtime: entry.mtime)
        }
        return Node(path: path, type: .file, perms: [.read, .write, .remove], tag: "file", size: entry.size, mtime: entry.mtime)
    }

    /// The session id and work-directory path of a files node.
    static func filePath(_ node: Node) -> (session: String, path: [String]) {
        let c = node.path.components
        return (c[1], Array(c.dropFirst(3)))
    }

    public func list(_ dir: Node, _ ctx: RequestContext) async throws -> [Node] {
        let c = dir.path.components
        let agent = ctx.agentID
        let changed = try await host.changedAt(of: agent)
        func under(_ table: FileTable, mtime: Int64) -> [Node] {
            table.list().map { n in var n = n; n.path = dir.path.appendingUnchecked(n.name); n.mtime = mtime; return n }
        }
        switch (c.count, c.first, dir.tag) {
        case (0, _, _):
            return Self.root.list().map { n in var n = n; n.mtime = changed; return n }
        case (1, "providers", _):
            return try await host.sandboxProviders(of: agent).map { p in
                Node(path: dir.path.appendingUnchecked(p.name), type: .dir, perms: .read, tag: "providers/", mtime: changed)
            }
        case (2, "providers", _):
            return under(Self.provider, mtime: changed)
        case (1, "sessions", _):
            return try await host.sessions(of: agent).map { s in
                Node(path: dir.path.appendingUnchecked(s.id), type: .dir, perms: .read, tag: "sessions/", mtime: s.mtime)
            }
        case (2, "sessions", _):
            let s = try await host.session(of: agent, id: c[1])
            // An ended session's files are gone: its directory does not list them.
            return under(Self.session, mtime: s.mtime).filter { $0.tag != "files" || !s.finished }.map { n in
                var n = n
                if n.tag == "session.output" { n.size = s.outputBytes }
                return n
            }
        case (_, "sessions", "session.exec"):
            let s = try await host.session(of: agent, id: c[1])
            let new = Node(path: dir.path.appendingUnchecked("new"), type: .call, perms: [.read, .write], tag: "exec.new", mtime: s.mtime)
            return try await [new] + host.execs(of: agent, session: c[1]).map { e in
                Node(path: dir.path.appendingUnchecked(e.id), type: .dir, perms: .read, tag: "exec/", mtime: e.mtime)
            }
        case (_, "sessions", "exec/"):
            let e = try await host.exec(of: agent, session: c[1], id: c[3])
            return under(Self.exec, mtime: e.mtime).filter { $0.tag != "exec.result" || e.finished }.map { n in
                var n = n
                if n.tag == "exec.output" { n.size = e.outputBytes }
                return n
            }
        case (_, "sessions", "files"):
            let (session, path) = Self.filePath(dir)
            return try await host.sessionFiles(of: agent, session: session, path).map { f in
                Node(path: dir.path.appendingUnchecked(f.name), type: f.isDirectory ? .dir : .file,
                     perms: f.isDirectory ? [.read, .create, .remove] : [.read, .write, .remove], tag: f.isDirectory ? "files" : "file",
                     size: f.isDirectory ? nil : f.size, mtime: f.mtime)
            }
        default:
            throw FSError(.notDirectory, "not a directory", path: ctx.shownPath)
        }
    }

    public func read(_ node: Node, _ ctx: RequestContext) async throws -> Data {
        let agent = ctx.agentID
        let c = node.path.components
        switch node.tag {
        case "new", "exec.new": return Data()  // a call's answer is read on the handle that wrote it
        case "usage": return try await host.containersUsage(of: agent).fileData
        case "policy": return try await host.containersPolicy(of: agent).fileData
        case "provider.info":
            guard let p = try await host.sandboxProviders(of: agent).first(where: { $0.name == c[1] }) else { throw FSError.notFound(ctx.shownPath) }
            return p.info.fileData
        case "session.status": return try await host.sessionStatus(of: agent, id: c[1]).fileData
        case "session.ctl": return Data((try await host.session(of: agent, id: c[1]).state + "\n").utf8)
        case "exec.status": return try await host.execStatus(of: agent, session: c[1], id: c[3]).fileData
        case "exec.result": return try await host.execResult(of: agent, session: c[1], id: c[3]).fileData
        case "session.output", "exec.output": return try await read(node, .all, ctx).data
        case "file":
            guard (node.size ?? 0) <= Int64(Self.maxWholeRead) else {
                throw FSError(.payloadTooLarge, "the file is larger than \(Self.maxWholeRead) bytes; read it in ranges (?offset=&count=)",
                              path: ctx.shownPath)
            }
            let (session, path) = Self.filePath(node)
            return try await host.readSessionFile(of: agent, session: session, path, .all)
        default: throw FSError(.isDirectory, "is a directory", path: ctx.shownPath)
        }
    }

    public func read(_ node: Node, _ range: ByteRange, _ ctx: RequestContext) async throws -> FileSlice {
        let c = node.path.components
        switch node.tag {
        case "session.output": return try await host.readSessionOutput(of: ctx.agentID, session: c[1], range)
        case "exec.output": return try await host.readExecOutput(of: ctx.agentID, session: c[1], exec: c[3], range)
        case "file":
            let (session, path) = Self.filePath(node)
            return FileSlice(try await host.readSessionFile(of: ctx.agentID, session: session, path, range), at: range.offset)
        default: return FileSlice(range.slice(try await read(node, ctx)), at: range.offset)
        }
    }

    public func readWithLastID(_ node: Node, _ range: ByteRange, _ ctx: RequestContext) async throws -> (slice: FileSlice, lastID: UInt64?) {
        (try await read(node, range, ctx), nil)
    }

    public func write(_ node: Node, _ data: Data, _ mode: WriteMode, _ ctx: RequestContext) async throws -> Data {
        let agent = ctx.agentID
        let c = node.path.components
        switch node.tag {
        case "new", "exec.new":
            guard data.count <= Self.maxRequestBytes else {
                throw FSError(.payloadTooLarge, "a request is at most \(Self.maxRequestBytes) bytes", path: ctx.shownPath)
            }
            if node.tag == "new" { return try await host.createSession(of: agent, data).fileData }
            return try await host.startExec(of: agent, session: c[1], data).fileData
        case "policy":
            let patch = try JSON(fileData: data)
            guard case .object = patch else { throw FSError(.invalidInput, "containers/policy takes a JSON object (a merge-patch)", path: ctx.shownPath) }
            return try await host.patchContainersPolicy(of: agent, patch).fileData
        case "session.ctl":
            let (command, args) = try CommandLine.parse(data, shown: ctx.shownPath)
            guard command == "stop", args.isEmpty else {
                throw FSError(.invalidInput, "unknown session ctl command '\(command)'; the only command is: stop", path: ctx.shownPath)
            }
            try await host.stopSession(of: agent, id: c[1])
            return Data()
        case "file":
            let (session, path) = Self.filePath(node)
            try await host.writeSessionFile(of: agent, session: session, path, data, append: mode == .append)
            return Data()
        default:
            throw FSError.denied(ctx.shownPath, "file cannot be written")
        }
    }

    public func create(_ name: String, in dir: Node, _ data: Data, _ ctx: RequestContext) async throws -> Data {
        guard dir.tag == "files" else { throw FSError.denied(ctx.shownPath, "no new files can be created here") }
        let (session, path) = Self.filePath(dir)
        try await host.writeSessionFile(of: ctx.agentID, session: session, path + [name], data, append: false)
        return Data()
    }

    public func remove(_ node: Node, _ ctx: RequestContext) async throws {
        guard node.tag == "file" || (node.tag == "files" && node.path.components.count > 3) else {
            throw FSError.denied(ctx.shownPath, "file cannot be removed")
        }
        let (session, path) = Self.filePath(node)
        try await host.removeSessionFile(of: ctx.agentID, session: session, path)
    }

    public func feed(_ node: Node, _ ctx: RequestContext) async throws -> RecordFeed {
        let c = node.path.components
        switch node.tag {
        case "session.output": return try await host.feed(of: ctx.agentID, .sessionOutput(c[1]))
        case "exec.output": return try await host.feed(of: ctx.agentID, .execOutput(session: c[1], exec: c[3]))
        default:
            throw FSError(.invalidInput, "watch an output (containers/sessions/<s>/output or .../exec/<e>/output)", path: ctx.shownPath)
        }
    }
}
