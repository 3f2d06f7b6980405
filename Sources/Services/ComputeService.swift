public import Foundation
public import Namespace

/// `compute/`: AI model calls, budgeted. `new` is a call file (write a job request, read
/// `{"job_id","state"}`); each job is a directory of `status`, `result`, `stream` (one JSON line
/// per token delta, watchable) and `ctl` ("cancel"); `usage` and `policy` are documents, the
/// policy written by the operator only; `providers/<name>/` holds `info` and `health`.
public struct ComputeService: RecordFileService {
    public let name = "compute"
    let host: any ComputeHost
    static let root = FileTable.directory([
        .init("providers", .dir, .read),
        .init("new", .call, [.read, .write]),
        .init("jobs", .dir, .read),
        .init("usage", .file, .readOnly),
        .init("policy", .file, [.read, .write, .operatorOnlyWrite]),
    ])
    static let provider = FileTable.directory([
        .init("info", tag: "provider.info", .file, .readOnly),
        .init("health", tag: "provider.health", .file, .readOnly),
    ])
    static let job = FileTable.directory([
        .init("status", tag: "job.status", .file, .readOnly),
        .init("result", tag: "job.result", .file, .readOnly),
        .init("stream", tag: "job.stream", .stream, .readOnly),
        .init("ctl", tag: "job.ctl", .file, [.read, .write]),
    ])
    /// Largest job request accepted by `new`.
    public static let maxRequestBytes = 2 << 20

    public init(host: any ComputeHost) { self.host = host }

    /// The provider or job a deep path names (its second component), validated.
    static func id(_ path: Path, _ ctx: RequestContext) throws(FSError) -> String {
        try AgentID.validate(path.components[1], what: path.components[0] == "jobs" ? "job id" : "provider name")
    }

    public func walk(_ path: Path, _ ctx: RequestContext) async throws -> Node {
        let c = path.components
        if c.count <= 1 {
            var node = try Self.root.walk(path, shown: ctx.shownPath)
            node.mtime = try await host.changedAt(of: ctx.agentID)
            return node
        }
        guard c.count <= 3, c[0] == "providers" || c[0] == "jobs" else { throw FSError.notFound(ctx.shownPath) }
        let id = try Self.id(path, ctx)
        let table = c[0] == "jobs" ? Self.job : Self.provider
        var node = try table.walk(path.droppingFirst(2), shown: ctx.shownPath)
        node.path = path
        if c[0] == "jobs" {
            let job = try await host.job(of: ctx.agentID, id: id)
            // `result` exists once the job has succeeded (SPEC: not_found until it finishes).
            if node.tag == "job.result", job.state != "succeeded" {
                throw FSError(.notFound, "job '\(id)' has no result (\(job.state))", path: ctx.shownPath)
            }
            node.mtime = job.mtime
            if node.tag == "job.stream" { node.size = job.streamBytes }
        } else {
            guard try await host.computeProviders(of: ctx.agentID).contains(where: { $0.name == id }) else {
                throw FSError(.notFound, "no compute provider '\(id)'", path: ctx.shownPath)
            }
            node.mtime = try await host.changedAt(of: ctx.agentID)
        }
        if c.count == 2 { node.tag = c[0] + "/" }
        return node
    }

    public func list(_ dir: Node, _ ctx: RequestContext) async throws -> [Node] {
        let c = dir.path.components
        let changed = try await host.changedAt(of: ctx.agentID)
        switch (c.count, c.first) {
        case (0, _):
            return Self.root.list().map { n in var n = n; n.mtime = changed; return n }
        case (1, "providers"):
            return try await host.computeProviders(of: ctx.agentID).map { p in
                Node(path: dir.path.appendingUnchecked(p.name), type: .dir, perms: .read, tag: "providers/", mtime: changed)
            }
        case (1, "jobs"):
            return try await host.jobs(of: ctx.agentID).map { j in
                Node(path: dir.path.appendingUnchecked(j.id), type: .dir, perms: .read, tag: "jobs/", mtime: j.mtime)
            }
        case (2, "providers"):
            return Self.provider.list().map { n in var n = n; n.path = dir.path.appendingUnchecked(n.name); n.mtime = changed; return n }
        case (2, "jobs"):
            let job = try await host.job(of: ctx.agentID, id: try Self.id(dir.path, ctx))
            return Self.job.list().filter { $0.tag != "job.result" || job.state == "succeeded" }.map { n in
                var n = n
                n.path = dir.path.appendingUnchecked(n.name)
                n.mtime = job.mtime
                if n.tag == "job.stream" { n.size = job.streamBytes }
                return n
            }
        default:
            throw FSError(.notDirectory, "not a directory", path: ctx.shownPath)
        }
    }

    public func read(_ node: Node, _ ctx: RequestContext) async throws -> Data {
        let agent = ctx.agentID
        switch node.tag {
        case "new": return Data()  // a call's answer is read on the handle that wrote it
        case "usage": return try await host.computeUsage(of: agent).fileData
        case "policy": return try await host.computePolicy(of: agent).fileData
        case "provider.info":
            let name = try Self.id(node.path, ctx)
            guard let p = try await host.computeProviders(of: agent).first(where: { $0.name == name }) else { throw FSError.notFound(ctx.shownPath) }
            return p.info.fileData
        case "provider.health": return try await host.computeHealth(of: agent, provider: try Self.id(node.path, ctx)).fileData
        case "job.status": return try await host.jobStatus(of: agent, id: try Self.id(node.path, ctx)).fileData
        case "job.result": return try await host.jobResult(of: agent, id: try Self.id(node.path, ctx)).fileData
        case "job.ctl": return Data((try await host.job(of: agent, id: try Self.id(node.path, ctx)).state + "\n").utf8)
        case "job.stream": return try await read(node, .all, ctx).data
        default: throw FSError(.isDirectory, "is a directory", path: ctx.shownPath)
        }
    }

    public func read(_ node: Node, _ range: ByteRange, _ ctx: RequestContext) async throws -> FileSlice {
        guard node.tag == "job.stream" else { return FileSlice(range.slice(try await read(node, ctx)), at: range.offset) }
        return try await host.readJobStream(of: ctx.agentID, id: try Self.id(node.path, ctx), range)
    }

    public func readWithLastID(_ node: Node, _ range: ByteRange, _ ctx: RequestContext) async throws -> (slice: FileSlice, lastID: UInt64?) {
        (try await read(node, range, ctx), nil)
    }

    public func write(_ node: Node, _ data: Data, _ mode: WriteMode, _ ctx: RequestContext) async throws -> Data {
        switch node.tag {
        case "new":
            guard data.count <= Self.maxRequestBytes else {
                throw FSError(.payloadTooLarge, "a job request is at most \(Self.maxRequestBytes) bytes", path: ctx.shownPath)
            }
            return try await host.submitJob(of: ctx.agentID, data).fileData
        case "policy":
            let patch = try JSON(fileData: data)
            guard case .object = patch else { throw FSError(.invalidInput, "compute/policy takes a JSON object (a merge-patch)", path: ctx.shownPath) }
            return try await host.patchComputePolicy(of: ctx.agentID, patch).fileData
        case "job.ctl":
            let (command, args) = try CommandLine.parse(data, shown: ctx.shownPath)
            guard command == "cancel", args.isEmpty else {
                throw FSError(.invalidInput, "unknown job ctl command '\(command)'; the only command is: cancel", path: ctx.shownPath)
            }
            try await host.cancelJob(of: ctx.agentID, id: try Self.id(node.path, ctx))
            return Data()
        default:
            throw FSError.denied(ctx.shownPath, "file cannot be written")
        }
    }

    public func feed(_ node: Node, _ ctx: RequestContext) async throws -> RecordFeed {
        guard node.tag == "job.stream" else { throw FSError(.invalidInput, "watch a job's stream (compute/jobs/<job>/stream)", path: ctx.shownPath) }
        return try await host.feed(of: ctx.agentID, .job(try Self.id(node.path, ctx)))
    }
}
