import Foundation
import HTTPTypes
import Hummingbird
import Namespace
import NIOCore
import Runtime
import ServiceLifecycle

extension NamespaceResponder {
    enum StreamItem: Sendable {
        case record(FeedRecord)
        case heartbeat
    }

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
            let (items, sink) = AsyncStream.makeStream(of: StreamItem.self, bufferingPolicy: .bufferingOldest(capacity))
            // Graceful shutdown ends the stream at once instead of waiting for the client.
            try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    defer { sink.finish() }
                    for try await record in stream {
                        // A client that cannot keep up is disconnected; it resumes with Last-Event-ID.
                        if case .dropped = sink.yield(.record(record)) { return }
                    }
                }
                group.addTask {
                    while !Task.isCancelled {
                        try await Task.sleep(for: .milliseconds(Int(heartbeat * 1000)))
                        sink.yield(.heartbeat)
                    }
                }
                for await item in items {
                    switch item {
                    case .heartbeat: try await writer.write(ByteBuffer(string: ": keep-alive\n\n"))
                    case .record(let r): try await writer.write(ByteBuffer(string: Self.sse(r)))
                    }
                }
                group.cancelAll()
            }
            } onGracefulShutdown: {
                sink.finish()
            }
            try await writer.finish(nil)
        })
    }

    static func sse(_ r: FeedRecord) -> String {
        let data = r.data.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\ndata: ")
        return "id: \(r.id)\nevent: \(r.event)\ndata: \(data)\n\n"
    }
}
