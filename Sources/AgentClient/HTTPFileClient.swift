public import AsyncHTTPClient
public import Foundation
public import Namespace
public import NIOCore
public import NIOHTTP1

/// The FileClient over agentd's HTTP mapping: what agentctl (and agentfs) speak. Errors come
/// back as the server's FSError; an unreachable server is `unavailable`.
public struct HTTPFileClient: FileClient {
    public let baseURL: String
    let token: String?
    let http: HTTPClient
    /// Largest response body read into memory.
    public var maxResponseBytes = 64 << 20
    public var timeout: TimeAmount = .seconds(30)

    public init(url: String, token: String?, http: HTTPClient = .shared) {
        var base = url
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.token = token
        self.http = http
    }

    /// Percent-encodes each component of a namespace path; `/` stays a separator.
    public static func encode(_ path: String) -> String {
        let allowed = Set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8)
        var out = ""
        for b in path.utf8 {
            if b == UInt8(ascii: "/") || allowed.contains(b) {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                out += "%" + (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true)
            }
        }
        return out
    }

    /// One request; returns status, headers and body, or throws the server's error.
    public func request(_ method: HTTPMethod, _ path: String, query: String = "", body: Data? = nil,
                        headers extra: [(String, String)] = []) async throws -> (status: Int, headers: HTTPHeaders, body: Data) {
        var request = HTTPClientRequest(url: baseURL + Self.encode(path) + (query.isEmpty ? "" : "?" + query))
        request.method = method
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        for (k, v) in extra { request.headers.add(name: k, value: v) }
        if let body { request.body = .bytes(ByteBuffer(bytes: body)) }
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: timeout)
        } catch {
            throw FSError(.unavailable, "cannot reach agentd at \(baseURL): \(error); is it running? (agentd --listen HOST:PORT)", path: path)
        }
        let data = method == .HEAD ? Data() : Data(try await response.body.collect(upTo: maxResponseBytes).readableBytesView)
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else { throw Self.error(status: status, body: data, path: path, headers: response.headers) }
        return (status, response.headers, data)
    }

    /// The server's JSON error as an FSError.
    static func error(status: Int, body: Data, path: String, headers: HTTPHeaders) -> FSError {
        if let json = try? JSON(parsing: body), let e = json["error"], let raw = e["code"]?.stringValue, let code = FSError.Code(rawValue: raw) {
            return FSError(code, e["message"]?.stringValue ?? raw, path: e["path"]?.stringValue ?? path,
                           retryAfter: headers.first(name: "Retry-After").flatMap(Int.init))
        }
        let code = FSError.Code.allCases.first { $0.httpStatus == status } ?? .unavailable
        return FSError(code, "HTTP \(status)", path: path)
    }

    // MARK: - FileClient

    /// The global tree's fixed directories (`/`, `/agents`, `/runtime`) and agent directories,
    /// whose HTTP routes answer with JSON documents rather than file stats.
    static func directory(_ path: String) -> (components: [Substring], fixed: FileStat?) {
        let c = path.split(separator: "/")
        let isFixed = c.isEmpty || (c.count == 1 && (c[0] == "agents" || c[0] == "runtime"))
        let stat = FileStat(name: c.last.map(String.init) ?? "", type: .dir, size: 0, mtime: 0, version: 0,
                            id: FileStat.stableID(c.isEmpty ? "/" : "/" + c.joined(separator: "/")), mode: 0o555)
        return (c, isFixed ? stat : nil)
    }

    public func stat(_ path: String) async throws -> FileStat {
        let (c, fixed) = Self.directory(path)
        if let fixed { return fixed }
        if c.count == 2, c[0] == "agents" {
            _ = try await request(.HEAD, path + "/")
            return FileStat(name: String(c[1]), type: .dir, size: 0, mtime: 0, version: 0, id: FileStat.stableID("/agents/\(c[1])"), mode: 0o555)
        }
        let (_, h, _) = try await request(.HEAD, path)
        let name = path.split(separator: "/").last.map(String.init) ?? ""
        let type = h.first(name: "X-File-Type").flatMap(FileType.init(rawValue:)) ?? .file
        let version = h.first(name: "ETag").flatMap { UInt64($0.trimmingCharacters(in: CharacterSet(charactersIn: "\""))) } ?? 0
        let mode = h.first(name: "X-File-Mode").flatMap { UInt32($0, radix: 8) } ?? (type == .dir ? 0o555 : 0o444)
        let mtime = h.first(name: "Last-Modified").flatMap(HTTPTimes.imfFixdate) ?? 0
        return FileStat(name: name, type: type, size: h.first(name: "Content-Length").flatMap(Int64.init) ?? 0, mtime: mtime, version: version,
                        id: FileStat.stableID(path), mode: mode)
    }

    public func list(_ path: String) async throws -> [FileStat] {
        let (c, fixed) = Self.directory(path)
        if fixed != nil {
            switch c.first {
            case nil: return [Self.directory("/agents").fixed!, Self.directory("/runtime").fixed!]
            case "runtime": return [try await stat("/runtime/status")]
            default:
                let (_, _, body) = try await request(.GET, "/agents")
                guard case .array(let agents) = try JSON(parsing: body) else { throw FSError(.unavailable, "agent list is not a JSON array", path: path) }
                return agents.compactMap { $0["id"]?.stringValue }.map { id in
                    FileStat(name: id, type: .dir, size: 0, mtime: 0, version: 0, id: FileStat.stableID("/agents/" + id), mode: 0o555)
                }
            }
        }
        let dir = path.hasSuffix("/") ? path : path + "/"
        let (_, _, body) = try await request(.GET, dir, headers: [("Accept", "application/json")])
        guard case .array(let entries) = try JSON(parsing: body) else { throw FSError(.unavailable, "listing is not a JSON array", path: path) }
        let prefix = path.hasSuffix("/") ? String(path.dropLast()) : path
        return entries.map { e in
            let name = e["name"]?.stringValue ?? ""
            return FileStat(name: name, type: e["type"]?.stringValue.flatMap(FileType.init(rawValue:)) ?? .file,
                            size: Int64(e["size"]?.intValue ?? 0), mtime: e["mtime"]?.stringValue.flatMap(HTTPTimes.rfc3339) ?? 0,
                            version: 0, id: FileStat.stableID(prefix + "/" + name),
                            mode: e["mode"]?.stringValue.flatMap { UInt32($0, radix: 8) } ?? 0o444)
        }
    }

    public func read(_ path: String, _ range: ByteRange) async throws -> FileSlice {
        var query = range.offset > 0 ? "offset=\(range.offset)" : ""
        if let count = range.count { query += (query.isEmpty ? "" : "&") + "count=\(count)" }
        let (_, headers, body) = try await request(.GET, path, query: query)
        let begins = headers.first(name: "X-Offset").flatMap(Int64.init) ?? range.offset
        return FileSlice(body, at: max(begins, range.offset))
    }

    public func write(_ path: String, _ data: Data, mode: WriteMode) async throws -> Data {
        try await request(mode == .replace ? .PUT : .POST, path, body: data).body
    }

    public func remove(_ path: String) async throws { _ = try await request(.DELETE, path) }

    /// Reads a whole file and, for a log, the id of its last record (`X-Last-Event-ID`): pass it
    /// to `watch(after:)` to follow with nothing lost or repeated between the two.
    public func readWithLastEventID(_ path: String) async throws -> (data: Data, lastID: UInt64?) {
        let r = try await request(.GET, path)
        return (r.body, r.headers.first(name: "X-Last-Event-ID").flatMap { UInt64($0) })
    }

    /// Follows the SSE stream; with `reconnect`, a dropped connection is resumed with
    /// Last-Event-ID after a short pause, so no record is missed while it is retained.
    public func watch(_ path: String, after: UInt64?) async throws -> AsyncThrowingStream<FeedRecord, any Error> {
        try await watch(path, after: after, reconnect: false)
    }

    public func watch(_ path: String, after: UInt64?, reconnect: Bool,
                      onReconnect: (@Sendable (FSError) -> Void)? = nil) async throws -> AsyncThrowingStream<FeedRecord, any Error> {
        let first = try await open(path, after: after)  // the first connection's errors are the caller's
        let (stream, sink) = AsyncThrowingStream.makeStream(of: FeedRecord.self)
        let client = self
        let task = Task {
            var body: HTTPClientResponse.Body? = first
            var last = after
            while !Task.isCancelled {
                do {
                    if body == nil { body = try await client.open(path, after: last) }
                    var parser = SSEParser()
                    for try await buffer in body! {
                        for record in parser.feed(Array(buffer.readableBytesView)) {
                            last = record.id
                            sink.yield(record)
                            // The file is gone (its agent was deleted): nothing to resume.
                            if record.event == FeedRecord.endEvent { sink.finish(); return }
                        }
                    }
                    body = nil
                    if !reconnect { break }
                    onReconnect?(FSError(.unavailable, "the server closed the stream", path: path))
                } catch let e as FSError where reconnect && e.code == .unavailable {
                    body = nil
                    onReconnect?(e)
                } catch {
                    body = nil
                    if !reconnect || Task.isCancelled { sink.finish(throwing: error); return }
                    onReconnect?(FSError(.unavailable, "\(error)", path: path))
                }
                try? await Task.sleep(for: .milliseconds(500))
            }
            sink.finish()
        }
        sink.onTermination = { _ in task.cancel() }
        return stream
    }

    /// Opens the raw SSE response body (for tests and tools that want the bytes).
    public func open(_ path: String, after: UInt64?) async throws -> HTTPClientResponse.Body {
        var request = HTTPClientRequest(url: baseURL + Self.encode(path) + "?watch=1")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        request.headers.add(name: "Accept", value: "text/event-stream")
        if let after { request.headers.add(name: "Last-Event-ID", value: "\(after)") }
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: .hours(24 * 365))
        } catch {
            throw FSError(.unavailable, "cannot reach agentd at \(baseURL): \(error)", path: path)
        }
        guard response.status.code == 200 else {
            let data = Data(try await response.body.collect(upTo: 1 << 20).readableBytesView)
            throw Self.error(status: Int(response.status.code), body: data, path: path, headers: response.headers)
        }
        return response.body
    }
}

/// Incremental Server-Sent Events parser: bytes in, complete events out.
public struct SSEParser: Sendable {
    var buffer: [UInt8] = []
    var id: UInt64?
    var event = "message"
    var data: [String] = []

    public init() {}

    public mutating func feed(_ bytes: [UInt8]) -> [FeedRecord] {
        buffer += bytes
        var out: [FeedRecord] = []
        while let nl = buffer.firstIndex(of: 0x0a) {
            var line = Array(buffer[..<nl])
            buffer.removeFirst(nl + 1)
            if line.last == 0x0d { line.removeLast() }
            let text = String(decoding: line, as: UTF8.self)
            if text.isEmpty {
                if !data.isEmpty || id != nil {
                    out.append(FeedRecord(id: id ?? 0, event: event, data: data.joined(separator: "\n")))
                }
                id = nil
                event = "message"
                data = []
                continue
            }
            if text.hasPrefix(":") { continue }
            let (field, value): (Substring, Substring)
            if let colon = text.firstIndex(of: ":") {
                field = text[..<colon]
                var v = text[text.index(after: colon)...]
                if v.hasPrefix(" ") { v = v.dropFirst() }
                value = v
            } else {
                (field, value) = (Substring(text), "")
            }
            switch field {
            case "id": id = UInt64(value)
            case "event": event = String(value)
            case "data": data.append(String(value))
            default: break
            }
        }
        return out
    }
}

extension HTTPFileClient {
    /// GET of a non-file route (`/agents`, `/agents/<id>`); returns the body.
    public func get(_ path: String, query: String = "") async throws -> Data { try await request(.GET, path, query: query).body }

    /// A GET and its `Link` header, which names the next page of a paged list (`rel="next"`).
    public func getPage(_ path: String, query: String = "") async throws -> (body: Data, link: String?) {
        let answer = try await request(.GET, path, query: query)
        return (answer.body, answer.headers.first(name: "Link"))
    }
    /// POST to a non-file route (`/agents`, `/agents/<id>/tokens`); returns the body.
    public func post(_ path: String, query: String = "", body: Data? = nil) async throws -> Data {
        try await request(.POST, path, query: query, body: body).body
    }
}
