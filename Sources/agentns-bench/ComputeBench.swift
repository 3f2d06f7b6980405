import AgentNSTesting
import AsyncHTTPClient
import ComputeOpenAI
import Foundation
import Namespace
import Runtime
import RuntimeSQLite
import Synchronization

// compute/ against its same-run baseline: the test server (Tests/support/fake_openai.py)
// called directly through the same provider code (async-http-client), then through the
// runtime's jobs (admission, journal, stream, settle and notice all committed).

/// The fake server as a child process.
struct FakeServer {
    let process: Process
    let port: Int

    static func start() throws -> FakeServer {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        p.arguments = ["python3", "Tests/support/fake_openai.py", "--port", "0"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice  // its per-connection noise is not a figure
        try p.run()
        var line = Data()
        while !line.contains(0x0a) {
            let chunk = out.fileHandleForReading.availableData
            if chunk.isEmpty { throw FSError(.unavailable, "fake_openai.py did not start (run from the repository root)") }
            line.append(chunk)
        }
        let text = String(decoding: line, as: UTF8.self)
        guard let port = Int(text.split(separator: " ").last?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") else {
            throw FSError(.unavailable, "fake_openai.py said '\(text)'")
        }
        return FakeServer(process: p, port: port)
    }

    func stop() {
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}

func percentile(_ xs: [Double], _ p: Double) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? 0 : s[min(s.count - 1, Int((Double(s.count) * p).rounded(.up)) - 1)]
}

/// Each delta's arrival at the runtime, by position, for the streaming figure.
final class DeltaTimes: Sendable {
    let times = Mutex<[ContinuousClock.Instant]>([])
}

/// Wraps the OpenAI provider to note when each delta reaches the runtime.
struct TimingFactory: ComputeProviderFactory {
    let inner: OpenAIProviderFactory
    let times: DeltaTimes

    struct Timed: ComputeProvider {
        let inner: any ComputeProvider
        let times: DeltaTimes
        func complete(_ request: CompletionRequest, onDelta: @escaping @Sendable (String) async throws -> Void) async throws -> CompletionResult {
            try await inner.complete(request) { delta in
                times.times.withLock { $0.append(.now) }
                try await onDelta(delta)
            }
        }
        func probe() async -> ProviderHealth { await inner.probe() }
    }

    func provider(for config: ProviderConfig) throws -> any ComputeProvider { Timed(inner: try inner.provider(for: config), times: times) }
}

/// Resumes the waiter of each job when its notice reaches the agent's inbox.
final class NoticeWaiters: Sendable {
    let state = Mutex<(waiting: [String: CheckedContinuation<Void, Never>], arrived: Set<String>)>(([:], []))

    func arrived(_ job: String) {
        let c = state.withLock { s -> CheckedContinuation<Void, Never>? in
            if let c = s.waiting.removeValue(forKey: job) { return c }
            s.arrived.insert(job)
            return nil
        }
        c?.resume()
    }

    func wait(_ job: String) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now = state.withLock { s -> Bool in
                if s.arrived.remove(job) != nil { return true }
                s.waiting[job] = c
                return false
            }
            if now { c.resume() }
        }
    }
}

func computeBench() async throws {
    let server = try FakeServer.start()
    defer { server.stop() }
    let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: OpenAIProviderFactory.httpConfiguration)
    let config = ProviderConfig(name: "fake", baseURL: "http://127.0.0.1:\(server.port)/v1", models: ["fixed", "long"],
                                price: .init(input: 1_000_000, output: 2_000_000))
    let direct = try OpenAIProvider(config: config, http: http)
    let request = CompletionRequest(model: "fixed", messages: [ChatMessage(role: "user", content: "hi")], maxTokens: 8)
    let sequential = arg("--jobs", 300)
    let perTask = arg("--per-task", 20)

    let times = DeltaTimes()
    var options = SQLiteStore.Options()
    options.fsyncEveryCommit = ProcessInfo.processInfo.environment["BENCH_NO_FSYNC"] == nil
    let store = try SQLiteStore(path: try TestRuntime.temporaryDirectory("bench-compute") + "/agentd.sqlite", options: options)
    let rt = Runtime(store: store, providers: TimingFactory(inner: OpenAIProviderFactory(http: http), times: times))
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { await rt.run() }
        try await rt.op.write("/runtime/providers/fake.json", Data(config.storedJSON.description.utf8), mode: .replace)
        _ = try await rt.createAgent(id: "a", kind: "echo", config: .object(["inbox": .object(["max_depth": 1_000_000])]))
        try await rt.op.write("/agents/a/ctl", Data("pause".utf8), mode: .replace)  // notices stay in the inbox
        _ = try await rt.patchComputePolicy(of: "a", .object(["max_running": 1024]))
        let waiters = NoticeWaiters()
        let inbox = try await rt.op.watch("/agents/a/inbox", after: nil)
        group.addTask {
            for try await r in inbox {
                if let job = (try? JSON(parsing: r.data))?["body"]?["job_id"]?.stringValue { waiters.arrived(job) }
            }
        }
        @Sendable func viaRuntime() async throws {
            let job = try await rt.submitJob(of: "a", JobRequest(model: "fixed", messages: request.messages, maxTokens: 8))
            await waiters.wait(job.id)
        }
        // Warm both paths.
        for _ in 0..<20 {
            _ = try await direct.complete(request) { _ in }
            try await viaRuntime()
        }

        log("== compute: one job at a time, \(sequential) each, instant provider (fake_openai.py 'fixed', 4 deltas)")
        var directMs: [Double] = []
        var runtimeMs: [Double] = []
        for _ in 0..<sequential {
            var t = ContinuousClock.now
            _ = try await direct.complete(request) { _ in }
            directMs.append(seconds(ContinuousClock.now - t) * 1000)
            t = ContinuousClock.now
            try await viaRuntime()
            runtimeMs.append(seconds(ContinuousClock.now - t) * 1000)
        }
        log(String(format: "direct call p50 %.2f ms; through compute (submit -> finished, committed) p50 %.2f ms; added p50 %.2f ms (goal <= 1 ms)",
                   median(directMs), median(runtimeMs), median(runtimeMs) - median(directMs)))

        log("== compute: 64 concurrent, \(perTask) jobs each")
        func rate(_ body: @escaping @Sendable () async throws -> Void) async throws -> Double {
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { g in
                for _ in 0..<64 { g.addTask { for _ in 0..<perTask { try await body() } } }
                try await g.waitForAll()
            }
            return Double(64 * perTask) / seconds(ContinuousClock.now - start)
        }
        var directRates: [Double] = []
        var runtimeRates: [Double] = []
        for _ in 0..<3 {
            directRates.append(try await rate { _ = try await direct.complete(request) { _ in } })
            runtimeRates.append(try await rate { try await viaRuntime() })
        }
        log(String(format: "direct %.0f jobs/s; through compute %.0f jobs/s (medians of 3); ratio %.2f (goal >= 0.8)",
                   median(directRates), median(runtimeRates), median(runtimeRates) / median(directRates)))

        log("== compute: streaming, token reaching the runtime -> watcher of jobs/<j>/stream (200 deltas 5 ms apart, 3 jobs)")
        var lags: [Double] = []
        for _ in 0..<3 {
            times.times.withLock { $0 = [] }
            let job = try await rt.submitJob(of: "a", JobRequest(model: "long", messages: request.messages, maxTokens: 256))
            let stream = try await rt.op.watch("/agents/a/compute/jobs/\(job.id)/stream", after: 0)
            var received: [ContinuousClock.Instant] = []
            for try await _ in stream {
                received.append(.now)
                if received.count == 200 { break }
            }
            let sent = times.times.withLock { $0 }
            // The first few may be committed before the watch begins (then they come from the seed).
            for (s, r) in zip(sent, received).dropFirst(5) { lags.append(seconds(r - s) * 1000) }
        }
        log(String(format: "lag p50 %.2f ms, p99 %.2f ms over %d deltas, the first 5 of each job left out (goal p99 <= 5 ms)", median(lags), percentile(lags, 0.99), lags.count))
        group.cancelAll()
    }
    await store.close()
    try await http.shutdown()
}
