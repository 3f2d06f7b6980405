import Foundation
import HTTPTypes
import Hummingbird
import Namespace
import NIOCore
import Runtime
import ServiceLifecycle
import Synchronization

extension NamespaceResponder {
    /// `?watch=1`: Server-Sent Events. Every event has `id:`, `event:` and one-line `data:`;
    /// a comment line goes out every `heartbeatSeconds`; `Last-Event-ID` (header or
    /// `?last_event_id=`) resumes after that record, or gets `reset` when it is gone.
    func watch(_ request: Request, _ path: String, _ client: RuntimeClient) async throws -> Response {
        let lastID: UInt64?
        if let raw = request.headers[HTTPField.Name("Last-Event-ID")!] ?? request.uri.queryParameters["last_event_id"].map(String.init) {
            guard let v = UInt64(raw.trimmingCharacters(in: .whitespaces)) else {
                throw FSError.invalidInput("Last-Event-ID must be a record id (a whole number)", path: path)
            }
            lastID = v
        } else {
            lastID = nil
        }
        let stream = try await client.watch(path, after: lastID)  // errors here still get a JSON response
        let heartbeat = options.heartbeatSeconds
        let capacity = options.watchBuffer
        let headers: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no"]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            try await writer.write(ByteBuffer(string: ": watching \(path)\n\n"))
            // Records are encoded into one pending buffer and written in batches: a tick's
            // records go out in one write per watcher, not one each. A watcher whose pending
            // records exceed the buffer is disconnected; it resumes with Last-Event-ID.
            let pending = PendingEvents(limit: capacity)
            let (doorbell, ring) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
            // Graceful shutdown ends the stream at once instead of waiting for the client.
            try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    defer { pending.close(); ring.finish() }
                    for try await record in stream {
                        guard pending.append(Self.sse(record)) else { return }
                        ring.yield()
                    }
                }
                group.addTask {
                    while !Task.isCancelled {
                        try await Task.sleep(for: .milliseconds(Int(heartbeat * 1000)))
                        _ = pending.append(": keep-alive\n\n", counted: false)
                        ring.yield()
                    }
                }
                for await _ in doorbell {
                    if let text = pending.take() { try await writer.write(ByteBuffer(string: text)) }
                }
                if let text = pending.take(), !pending.overflowed { try await writer.write(ByteBuffer(string: text)) }
                group.cancelAll()
            }
            } onGracefulShutdown: {
                ring.finish()
            }
            try await writer.finish(nil)
        })
    }

    static func sse(_ r: FeedRecord) -> String {
        let data = r.data.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\ndata: ")
        return "id: \(r.id)\nevent: \(r.event)\ndata: \(data)\n\n"
    }
}

/// The SSE text waiting for one watcher's connection, bounded in records.
final class PendingEvents: Sendable {
    struct State {
        var text = ""
        var records = 0
        var closed = false
        var overflowed = false
    }
    let state = Mutex(State())
    let limit: Int

    init(limit: Int) { self.limit = limit }

    /// False once the watcher has fallen `limit` records behind (it is then disconnected).
    func append(_ text: String, counted: Bool = true) -> Bool {
        state.withLock { s in
            if s.closed || s.overflowed { return false }
            if counted {
                s.records += 1
                if s.records > limit {
                    s.overflowed = true
                    return false
                }
            }
            s.text += text
            return true
        }
    }

    func take() -> String? {
        state.withLock { s in
            guard !s.text.isEmpty else { return nil }
            defer { s.text = ""; s.records = 0 }
            return s.text
        }
    }

    var overflowed: Bool { state.withLock { $0.overflowed } }

    func close() { state.withLock { $0.closed = true } }
}
