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
        let subscription = try await client.subscribe(path, after: lastID)  // errors here still get a JSON response
        let heartbeat = Duration.milliseconds(Int64(options.heartbeatSeconds * 1000))
        return Response(status: .ok, headers: Self.eventStreamHeaders, body: ResponseBody { writer in
            try await writer.write(ByteBuffer(string: ": watching \(path)\n\n"))
            // The connection pulls: each write carries every record that arrived while the last
            // one was in flight (a tick's records in one write), and a connection that cannot keep
            // up holds nothing but its place in the feed's ring; if the ring moves past it, it
            // gets `reset`.
            let stopping = Atomic<Bool>(false)
            try await Self.pumpEvents(every: heartbeat, wake: { subscription.wake() }, onShutdown: {
                stopping.store(true, ordering: .relaxed)
                subscription.wake()
            }) {
                var batches = subscription.batches()
                var buffer = ByteBuffer()
                while let batch = await batches.next(), !stopping.load(ordering: .relaxed) {
                    buffer.clear()
                    if batch.isEmpty { buffer.writeString(": keep-alive\n\n") }
                    for record in batch { Self.sse(record, into: &buffer) }
                    try await writer.write(buffer)
                }
            }
            try await writer.finish(nil)
        })
    }

    /// The headers of every event stream (`X-Accel-Buffering: no` keeps a proxy from holding events).
    static let eventStreamHeaders: HTTPFields = [.contentType: "text/event-stream", .cacheControl: "no-cache", HTTPField.Name("X-Accel-Buffering")!: "no"]

    /// Runs `pump`, the loop that writes a stream's events until its source ends, beside a timer
    /// that calls `wake` every `heartbeat` (a pump woken with nothing to send writes the
    /// keep-alive comment); graceful shutdown calls `onShutdown`, which must end the pump at once.
    static func pumpEvents(every heartbeat: Duration, wake: @escaping @Sendable () -> Void, onShutdown: @escaping @Sendable () -> Void,
                           _ pump: () async throws -> Void) async throws {
        try await withGracefulShutdownHandler {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    while true {
                        try await Task.sleep(for: heartbeat)
                        wake()
                    }
                }
                defer { group.cancelAll() }
                try await pump()
            }
        } onGracefulShutdown: {
            onShutdown()
        }
    }

    /// One record as an SSE event. A record's data is one line in almost every case (JSON lines),
    /// so the frame is built without splitting; a multi-line one gets a `data:` per line.
    static func sse(_ r: FeedRecord, into buffer: inout ByteBuffer) {
        buffer.writeString("id: ")
        buffer.writeString(String(r.id))
        buffer.writeString("\nevent: ")
        buffer.writeString(r.event)
        buffer.writeString("\ndata: ")
        if r.data.utf8.contains(UInt8(ascii: "\n")) {
            buffer.writeString(r.data.split(separator: "\n", omittingEmptySubsequences: false).joined(separator: "\ndata: "))
        } else {
            buffer.writeString(r.data)
        }
        buffer.writeString("\n\n")
    }
}
