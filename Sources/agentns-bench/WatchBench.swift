import AgentClient
import AgentHTTP
import AgentNSTesting
import AsyncHTTPClient
import Foundation
import Logging
import ServiceLifecycle
import Hummingbird
import Namespace
import Runtime
import RuntimeSQLite

/// SSE fan-out: `watchers` clients follow one agent's trace over real sockets while the agent
/// ticks `ticks` times; reports delivered events per second and the commit-to-receipt latency
/// of each `tick_end` record (its `at` is taken just before the commit).
private let tickEnd = Array("\"tick_end\"".utf8)
private let atKey = Array("\"at\":\"".utf8)

/// The index just past `needle` in `h`, if it occurs.
private func end(of needle: [UInt8], in h: UnsafeBufferPointer<UInt8>) -> Int? {
    guard h.count >= needle.count else { return nil }
    for i in 0...(h.count - needle.count) where h[i] == needle[0] {
        var j = 1
        while j < needle.count, h[i + j] == needle[j] { j += 1 }
        if j == needle.count { return i + j }
    }
    return nil
}

/// The `at` of a `tick_end` record, found by byte search: the watchers' clients share the 2 cores
/// with the server, and a JSON parse (or Foundation's String.contains) per event per watcher
/// would cost them more than the server's work.
private func tickEndAt(_ data: String) -> String? {
    var data = data
    return data.withUTF8 { h -> String? in
        guard end(of: tickEnd, in: h) != nil, let start = end(of: atKey, in: h) else { return nil }
        var stop = start
        while stop < h.count, h[stop] != UInt8(ascii: "\"") { stop += 1 }
        return String(decoding: UnsafeBufferPointer(rebasing: h[start..<stop]), as: UTF8.self)
    }
}

/// `cpuPerEvent` is the process's CPU time (agentd's side and the watchers' clients, which share
/// it) over the run, per delivered event.
func watchBench(watchers: Int, ticks: Int, intervalMs: Int) async throws -> (eventsPerSecond: Double, p50: Double, p99: Double, cpuPerEvent: Double) {
    let dir = try TestRuntime.temporaryDirectory("bench-watch")
    let store = try SQLiteStore(path: dir + "/agentd.sqlite")
    let runtime = Runtime(store: store)
    _ = try await runtime.createAgent(id: "w", kind: "echo")
    let (portStream, portSink) = AsyncStream.makeStream(of: Int.self)
    let app = AgentHTTPServer.application(runtime: runtime, operatorToken: "bench", port: 0) { port in portSink.yield(port) }
    var config = HTTPClient.Configuration()
    config.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: watchers + 16)
    let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    var result = (0.0, 0.0, 0.0, 0.0)
    // The server runs as a service so that it stops gracefully: cancelling its task instead makes
    // Hummingbird log "Waiting on child channel: CancellationError()" as an error.
    let server = ServiceGroup(services: [app], logger: Logger(label: "bench"))
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await server.run() }
        group.addTask { await runtime.run() }
        var ports = portStream.makeAsyncIterator()
        let port = await ports.next()!
        let fs = HTTPFileClient(url: "http://127.0.0.1:\(port)", token: "bench", http: http)
        var streams: [AsyncThrowingStream<FeedRecord, any Error>] = []
        for _ in 0..<watchers { streams.append(try await fs.watch("/agents/w/logs/trace", after: nil)) }
        let start = ContinuousClock.now
        let cpuStart = cpuSeconds()
        let latencies = try await withThrowingTaskGroup(of: [Double].self) { readers in
            for s in streams {
                readers.addTask {
                    var seen = 0
                    var lat: [Double] = []
                    // A byte search: Foundation's String.contains would cost the shared cores more than the server's work.
                    for try await r in s {
                        guard let at = tickEndAt(r.data) else { continue }
                        let now = Double(SystemClock().now())
                        if let ms = Timestamp.parse(at) { lat.append(now - Double(ms)) }
                        seen += 1
                        if seen == ticks { break }
                    }
                    return lat
                }
            }
            for i in 0..<ticks {
                _ = try await runtime.send(to: "w", Data("m\(i)".utf8), from: .operator)
                try await Task.sleep(for: .milliseconds(intervalMs))
            }
            return try await readers.reduce(into: [Double]()) { $0 += $1 }
        }
        let elapsed = seconds(ContinuousClock.now - start)
        let cpu = cpuSeconds() - cpuStart
        let sorted = latencies.sorted()
        func pct(_ p: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(Double(sorted.count) * p))] }
        // Every trace record of each tick reached every watcher; count them all as delivered events.
        let perTick = Double(try await runtime.lines("w", "logs/trace").count - 1) / Double(ticks)
        let delivered = Double(latencies.count) * perTick
        result = (delivered / elapsed, pct(0.5), pct(0.99), delivered > 0 ? cpu / delivered : 0)
        await server.triggerGracefulShutdown()
        try await group.next()  // the server's group, or the engine: whichever ends first
        group.cancelAll()
    }
    try await http.shutdown()
    await store.close()
    return result
}
