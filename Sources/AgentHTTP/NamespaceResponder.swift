import Logging
import Foundation
import HTTPTypes
public import Hummingbird
public import Namespace
import NIOCore
public import Prometheus
public import Runtime

/// The HTTP mapping of SPEC.md: GET reads, HEAD stats, PUT replaces, POST appends, sends or
/// calls, DELETE removes, `?watch=1` streams SSE. Every operation goes to the runtime's
/// FileClient for the request's principal; this type only translates.
public struct NamespaceResponder: HTTPResponder {
    public typealias Context = BasicRequestContext

    let runtime: Runtime
    let auth: Authenticator
    let options: AgentHTTPOptions
    let metrics: HTTPMetrics

    public init(runtime: Runtime, operatorToken: String, options: AgentHTTPOptions = .init(), registry: PrometheusCollectorRegistry = .init()) {
        self.runtime = runtime
        self.auth = Authenticator(operatorToken: operatorToken, runtime: runtime)
        self.options = options
        self.metrics = HTTPMetrics(registry: registry)
    }

    public func respond(to request: Request, context: Context) async throws -> Response {
        let started = ContinuousClock.now
        let response: Response
        do {
            response = try await route(request)
        } catch let e as FSError {
            response = e.response
        } catch {
            // Nothing a client sends ends in a 500 or a stack trace.
            context.logger.error("request failed", metadata: ["path": "\(request.uri.path)", "error": "\(error)"])
            response = FSError(.unavailable, "the server could not complete the request; try again").response
        }
        metrics.record(route: HTTPMetrics.routeName(request), status: Int(response.status.code), since: started)
        return response
    }

    static let lastEventIDHeader = HTTPField.Name("X-Last-Event-ID")!

    static let reservedShortcuts: Set<String> = ["send", "tick", "hibernate", "wake"]

    func route(_ request: Request) async throws -> Response {
        let path = try RequestPath(raw: request.uri.path)
        let c = path.components
        let method = request.method
        // The one unauthenticated route.
        if c == ["runtime", "status"], method == .get || method == .head {
            let query = request.uri.queryParameters
            let range = try Self.range(offset: query["offset"], count: query["count"], path: path.text)
            let whole = Data((try await runtime.runtimeStatus().description + "\n").utf8)
            var response = bytes(range.slice(whole), status: .ok, type: range.isAll ? "application/json" : "application/octet-stream",
                                 head: method == .head)
            response.headers[.lastModified] = HTTPDate.format(ms: runtime.clock.now())  // computed now: changed now
            if method == .get { response.headers[HTTPField.Name("X-Offset")!] = String(range.offset) }
            return response
        }
        let principal = try await auth.principal(authorization: request.headers[.authorization])
        if c == ["openapi.yaml"], method == .get {
            return bytes(Data(OpenAPIDocument.yaml.utf8), status: .ok, type: "application/yaml")
        }
        if c == ["metrics"], method == .get {
            guard principal == .operator else { throw FSError.denied("/metrics", "only the operator may read metrics") }
            return bytes(Data(try await metrics.exposition(runtime).utf8), status: .ok, type: "text/plain; version=0.0.4")
        }
        let client = runtime.client(as: principal)

        switch (method, c.count, c.first) {
        case (.get, 1, "agents"), (.head, 1, "agents"):
            return try await listAgents(request, principal: principal, head: method == .head)
        case (.post, 1, "agents"):
            guard principal == .operator else { throw FSError.denied("/agents", "only the operator may create agents") }
            let query = request.uri.queryParameters
            if let flag = query["import"] {
                guard flag == "1" else { throw FSError.invalidInput("import takes 1", path: "/agents") }
                let bundle = try JSON(parsing: try await collect(request, limit: options.maxImportBytes))
                let imported = try await runtime.importAgent(bundle, as: query["id"].map(String.init), replace: try Self.flag(query, "replace"))
                var response = json(imported, status: .created)
                response.headers[.location] = "/agents/\(imported["id"]?.stringValue ?? "")"
                return response
            }
            // Room for a program of the most bytes a program may have, escaped in JSON.
            let body = try JSON(parsing: try await collect(request, limit: max(options.maxBodyBytes, 8 * ProgramLimits.maxBytes)))
            if case .array(let items) = body {
                // A fleet: every agent or none, in one transaction.
                try Runtime.checkBatch(count: items.count)
                let specs = try items.enumerated().map { i, item in try Self.agentSpec(item, index: i) }
                return json(.array(try await runtime.createAgents(specs)), status: .created)
            }
            let spec = try Self.agentSpec(body, index: nil)
            let created = try await runtime.createAgent(id: spec.id, kind: spec.kind, config: spec.config, program: spec.program)
            var response = json(created, status: .created)
            response.headers[.location] = "/agents/\(spec.id)"
            return response
        default:
            break
        }

        if c.count == 2, c[0] == "agents", !path.trailingSlash {
            let id = c[1]
            switch method {
            case .get, .head:
                let query = request.uri.queryParameters
                if try Self.flag(query, "export") {
                    guard principal == .operator else { throw FSError.denied(path.text, "only the operator may export agents") }
                    return json(try await runtime.exportAgent(id, includeSecret: try Self.flag(query, "private_key")), head: method == .head)
                }
                return json(try JSON(parsing: try await client.read("/agents/\(id)/status")), head: method == .head)
            case .delete:
                try await client.remove("/agents/\(id)")
                return Response(status: .noContent)
            default: throw unsupported(method, path.text)
            }
        }

        if c.count == 3, c[0] == "agents", method == .post {
            let id = c[1]
            switch c[2] {
            case "tokens":
                guard principal == .operator else { throw FSError.denied(path.text, "only the operator may issue tokens") }
                let token = try await runtime.issueToken(for: id)
                return json(.object(["token": .string(token), "agent": .string(id)]), status: .created)
            case "send":
                let answer = try await client.write("/agents/\(id)/inbox", try await collect(request), mode: .append)
                return bytes(answer, status: .accepted, type: "application/json")
            case "tick", "hibernate", "wake":
                try await client.write("/agents/\(id)/ctl", Data(c[2].utf8), mode: .replace)
                return json(try JSON(parsing: try await client.read("/agents/\(id)/status")))
            default: break
            }
        }

        return try await file(request, path, client)
    }

    func file(_ request: Request, _ path: RequestPath, _ client: RuntimeClient) async throws -> Response {
        let text = path.text
        let query = request.uri.queryParameters
        switch request.method {
        case .get:
            if let watch = query["watch"], watch != "1" {
                throw FSError.invalidInput("watch takes 1 (or leave it out to read)", path: text)
            }
            if query["watch"] != nil || request.headers[.accept] == "text/event-stream" {
                return try await watch(request, text, client)
            }
            let range = try Self.range(offset: query["offset"], count: query["count"], path: text)
            let accept = request.headers[.accept] ?? ""
            if path.trailingSlash || accept.contains("application/json") {
                if let entries = try? await client.list(text) { return json(.array(entries.map(Self.entry))) }
            }
            do {
                let (slice, lastID) = try await client.readWithLastID(text, range)
                // A part of a JSON document is not JSON: a ranged read of one is plain bytes.
                let type = range.isAll || !Self.isJSON(path.components) ? Self.contentType(path.components) : "application/octet-stream"
                var response = bytes(slice.data, status: .ok, type: type)
                response.headers[HTTPField.Name("X-Offset")!] = String(slice.offset)
                // A log read to its end names its last record: watch with it as Last-Event-ID to
                // get exactly the records after what was read.
                if let lastID { response.headers[Self.lastEventIDHeader] = String(lastID) }
                return response
            } catch let e as FSError where e.code == .isDirectory {
                return json(.array(try await client.list(text).map(Self.entry)))
            }
        case .head:
            if let watch = query["watch"], watch != "1" { throw FSError.invalidInput("watch takes 1 (or leave it out to read)", path: text) }
            let stat = try await client.stat(text)
            var headers: HTTPFields = [
                .contentLength: "\(stat.size)", HTTPField.Name("X-File-Type")!: stat.type.rawValue,
                .eTag: "\"\(stat.version)\"", HTTPField.Name("X-File-Mode")!: String(stat.mode, radix: 8),
            ]
            headers[.lastModified] = HTTPDate.format(ms: stat.mtime)
            if stat.type != .dir { headers[.contentType] = Self.contentType(path.components) }
            return Response(status: .ok, headers: headers, body: ResponseBody())
        case .put:
            let answer = try await client.write(text, try await collect(request), mode: .replace)
            return answer.isEmpty ? Response(status: .noContent) : bytes(answer, status: .ok, type: "text/plain; charset=utf-8")
        case .post:
            let answer = try await client.write(text, try await collect(request), mode: .append)
            if path.components.count == 3, path.components[2] == "inbox" {
                return bytes(answer, status: .accepted, type: "application/json")
            }
            let type = Self.isJSONCall(path.components) ? "application/json" : "text/plain; charset=utf-8"
            return answer.isEmpty ? Response(status: .noContent) : bytes(answer, status: .ok, type: type)
        case .delete:
            try await client.remove(text)
            return Response(status: .noContent)
        default:
            throw unsupported(request.method, text)
        }
    }

    // MARK: - Pieces

    func unsupported(_ method: HTTPRequest.Method, _ path: String) -> FSError {
        FSError(.methodNotAllowed, "\(method.rawValue) is not supported here; use GET, HEAD, PUT, POST or DELETE", path: path)
    }

    func collect(_ request: Request, limit: Int? = nil) async throws -> Data {
        let limit = limit ?? options.maxBodyBytes
        if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
            throw FSError(.payloadTooLarge, "request body of \(length) bytes is over the limit of \(limit)")
        }
        do {
            let buffer = try await request.body.collect(upTo: limit)
            return Data(buffer.readableBytesView)
        } catch is NIOTooManyBytesError {
            throw FSError(.payloadTooLarge, "request body is over the limit of \(limit) bytes")
        }
    }

    /// A yes/no query parameter: absent or 0 is no, 1 is yes, anything else is invalid_input.
    static func flag(_ query: Parameters, _ name: String) throws(FSError) -> Bool {
        switch query[Substring(name)].map(String.init) {
        case nil, "0": return false
        case "1": return true
        default: throw FSError.invalidInput("\(name) takes 1 or 0")
        }
    }

    static func entry(_ s: FileStat) -> JSON {
        .object(["name": .string(s.name), "type": .string(s.type.rawValue), "size": .int64(s.size),
                 "mtime": .string(Timestamp.iso(s.mtime)), "mode": .string(String(s.mode, radix: 8))])
    }

    /// `?offset=N&count=M`: checked once here (negative or malformed is invalid_input).
    static func range(offset: Substring?, count: Substring?, path: String) throws(FSError) -> ByteRange {
        do {
            return try ByteRange(offset: offset.map(String.init), count: count.map(String.init))
        } catch {
            throw error.at(path)
        }
    }

    /// Files whose content is one JSON document: status, config, state, `*.json`, and every file
    /// of an agent's compute/ but a job's stream (JSON lines) and ctl.
    static func isJSON(_ c: [String]) -> Bool {
        guard let name = c.last else { return false }
        if c.count > 3, c[0] == "agents", c[2] == "compute" { return name != "stream" && name != "ctl" }
        if c.count > 3, c[0] == "agents", c[2] == "containers" {
            // A session's files are the program's, whatever their names; outputs are JSON lines.
            if c.count > 5, c[3] == "sessions", c[5] == "files" { return false }
            return ["status", "result", "usage", "policy", "info"].contains(name)
        }
        return ["status", "config", "state"].contains(name) || name.hasSuffix(".json")
    }

    /// Call files whose answer is JSON (`compute/new` answers {"job_id", "state"}).
    static func isJSONCall(_ c: [String]) -> Bool {
        guard c.count >= 4, c[0] == "agents", c.last == "new" else { return false }
        return (c.count == 4 && (c[2] == "compute" || c[2] == "containers")) || (c.count == 7 && c[2] == "containers" && c[5] == "exec")
    }

    static func contentType(_ c: [String]) -> String { isJSON(c) ? "application/json" : "text/plain; charset=utf-8" }

    func json(_ value: JSON, status: HTTPResponse.Status = .ok, head: Bool = false) -> Response {
        bytes(Data((value.description + "\n").utf8), status: status, type: "application/json", head: head)
    }

    func bytes(_ data: Data, status: HTTPResponse.Status, type: String, head: Bool = false) -> Response {
        var headers: HTTPFields = [.contentType: type]
        if head {
            headers[.contentLength] = "\(data.count)"
            return Response(status: status, headers: headers, body: ResponseBody())
        }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

extension NamespaceResponder {
    /// One `{"id", "kind", "config"?, "program"?}` of a create (`index`: its place in a batch).
    static func agentSpec(_ body: JSON, index: Int?) throws -> AgentSpec {
        let at = index.map { "agent \($0): " } ?? ""
        guard case .object = body, let id = body["id"]?.stringValue, let kind = body["kind"]?.stringValue else {
            throw FSError.invalidInput(at + "create takes JSON {\"id\", \"kind\", \"config\"?, \"program\"?} with string id and kind, or an array of them",
                                       path: "/agents")
        }
        let config = body["config"] ?? .object([:])
        guard case .object = config else { throw FSError.invalidInput(at + "config must be a JSON object", path: "/agents") }
        switch body["program"] {
        case nil, .null?: return AgentSpec(id: id, kind: kind, config: config)
        case .string(let text)?: return AgentSpec(id: id, kind: kind, config: config, program: Data(text.utf8))
        default:
            throw FSError.invalidInput(at + "program must be a string: the program's text (or PUT its bytes to /agents/\(id)/program)", path: "/agents")
        }
    }
}
