import AgentClient
import AsyncHTTPClient
import AgentHTTP
import AgentNSTesting
import Foundation
import HTTPTypes
import HummingbirdTesting
import Namespace
import NIOCore
import Runtime
import Testing

/// SSE over real sockets, read with the same client agentctl uses.
@Suite struct WatchHTTPTests {
    func client(_ c: any TestClientProtocol, token: String = operatorToken) -> HTTPFileClient {
        HTTPFileClient(url: "http://127.0.0.1:\(c.port!)", token: token)
    }

    @Test func framingResumeAndReset() async throws {
        try await withServer(.live) { rt, c in
            _ = try await rt.createAgent(id: "w", kind: "echo")
            let fs = client(c)
            let stream = try await fs.watch("/agents/w/logs/trace", after: nil)
            for i in 0..<3 { try await rt.send("w", "m\(i)") }
            var got: [FeedRecord] = []
            for try await r in stream {
                got.append(r)
                if got.filter({ $0.data.contains("tick_end") }).count == 3 { break }
            }
            #expect(got.allSatisfy { $0.event == "record" })
            #expect(zip(got, got.dropFirst()).allSatisfy { $0.id < $1.id })
            let lines = try await rt.op.readString("/agents/w/logs/trace").split(separator: "\n").map(String.init)
            #expect(Array(lines.suffix(got.count)) == got.map(\.data))
            // Resume: exactly the records after the id.
            let resumed = try await fs.watch("/agents/w/logs/trace", after: got[2].id)
            var again: [FeedRecord] = []
            for try await r in resumed {
                again.append(r)
                if again.count == got.count - 3 { break }
            }
            #expect(again == Array(got.dropFirst(3)))
            // Raw framing: id, event and one-line data per event.
            let raw = try await rawSSE(fs, "/agents/w/logs/trace", lastEventID: got[0].id, bytes: 400)
            #expect(raw.hasPrefix(": watching /agents/w/logs/trace\n\n"))
            #expect(raw.contains("id: \(got[1].id)\nevent: record\ndata: {"))
            // Reset: a resume id that fell out of the ring.
            for i in 0..<1100 { try await rt.ctl("w", i % 2 == 0 ? "pause" : "resume") }
            for try await r in try await fs.watch("/agents/w/logs/trace", after: 1) {
                #expect(r.event == "reset")
                break
            }
        }
    }

    @Test func heartbeatComments() async throws {
        var opts = AgentHTTPOptions()
        opts.heartbeatSeconds = 0.1
        try await withServer(.live, options: opts) { rt, c in
            _ = try await rt.createAgent(id: "w", kind: "echo")
            let raw = try await rawSSE(client(c), "/agents/w/outbox", lastEventID: nil, bytes: 80)
            #expect(raw.contains(": keep-alive\n\n"))
        }
    }

    @Test func watchErrorsAreJSONBeforeTheStreamStarts() async throws {
        try await withServer(.live) { rt, c in
            _ = try await rt.createAgent(id: "w", kind: "echo")
            await #expect { _ = try await client(c).watch("/agents/w/nothing", after: nil) } throws: { ($0 as? FSError)?.code == .notFound }
            await #expect { _ = try await client(c, token: "bad").watch("/agents/w/outbox", after: nil) } throws: { ($0 as? FSError)?.code == .unauthorized }
        }
    }

    @Test func manyWatchersEachGetEveryEventInOrder() async throws {
        try await withServer(.live) { rt, c in
            _ = try await rt.createAgent(id: "w", kind: "echo")
            // One connection per watcher: a pool larger than the default 8 per host.
            var config = HTTPClient.Configuration()
            config.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 512)
            let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
            defer { Task { try? await http.shutdown() } }
            let fs = HTTPFileClient(url: "http://127.0.0.1:\(c.port!)", token: operatorToken, http: http)
            let watchers = 200, messages = 20
            var streams: [AsyncThrowingStream<FeedRecord, any Error>] = []
            for _ in 0..<watchers { streams.append(try await fs.watch("/agents/w/outbox", after: nil)) }
            let results = try await withThrowingTaskGroup(of: [String].self) { group in
                for s in streams {
                    group.addTask {
                        var bodies: [String] = []
                        for try await r in s {
                            bodies.append(try JSON(parsing: r.data)["body"]?.stringValue ?? "?")
                            if bodies.count == messages { break }
                        }
                        return bodies
                    }
                }
                for i in 0..<messages { try await rt.send("w", "m\(i)") }
                return try await group.reduce(into: [[String]]()) { $0.append($1) }
            }
            #expect(results.count == watchers)
            for r in results { #expect(r == (0..<messages).map { "m\($0)" }) }
            // One producer for all of them.
            #expect(rt.feeds.count == 1)
        }
    }
}

/// The first `bytes` bytes of an SSE response, as sent.
func rawSSE(_ fs: HTTPFileClient, _ path: String, lastEventID: UInt64?, bytes: Int) async throws -> String {
    var data: [UInt8] = []
    for try await buffer in try await fs.open(path, after: lastEventID) {
        data += buffer.readableBytesView
        if data.count >= bytes { break }
    }
    return String(decoding: data, as: UTF8.self)
}
