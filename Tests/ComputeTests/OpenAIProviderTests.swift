import ComputeOpenAI
import Foundation
import Namespace
import Runtime
import Testing

/// OpenAIProvider against the fake server (Tests/support/fake_openai.py): streaming as it
/// arrives, usage, retries and their limits, deadlines, cancellation, probes, and keys that
/// never reach an error. Serialized, because the server's call counts are shared.
@Suite(.serialized, .fakeOpenAI) struct OpenAIProviderTests {
    let server: FakeOpenAI

    init() async throws {
        server = try #require(FakeOpenAI.current)
        try await server.reset()
    }

    static let hello = CompletionResult(text: "Hello from the fake.", finishReason: "stop", usage: TokenUsage(promptTokens: 20, completionTokens: 4))

    func request(_ model: String, _ content: String = "hi", maxTokens: Int = 64) -> CompletionRequest {
        CompletionRequest(model: model, messages: [ChatMessage(role: "system", content: "be brief"), ChatMessage(role: "user", content: content)],
                          maxTokens: maxTokens)
    }

    /// Runs a completion expected to fail; returns its ProviderError and the seconds it took.
    func failure(_ provider: any ComputeProvider, _ request: CompletionRequest, log: DeltaLog = DeltaLog()) async -> (ProviderError?, Double) {
        let start = ContinuousClock.now
        do {
            let result = try await provider.complete(request, onDelta: log.onDelta)
            Issue.record("expected a failure, got \(result)")
            return (nil, seconds(since: start))
        } catch {
            #expect(error is ProviderError, "\(error)")
            return (error as? ProviderError, seconds(since: start))
        }
    }

    func seconds(since start: ContinuousClock.Instant) -> Double { Self.seconds(start.duration(to: .now)) }

    static func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

    // MARK: - Answers

    @Test func streamsDeltasInOrderWithUsageAndSendsTheRequestFields() async throws {
        let provider = try server.provider(key: "sk-test")
        let log = DeltaLog()
        var req = request("fixed")
        req.temperature = 0.5
        req.stop = ["END"]
        let result = try await provider.complete(req, onDelta: log.onDelta)
        #expect(await log.deltas == ["Hello", " from", " the", " fake."])
        #expect(result == Self.hello)
        let sent = try await server.last()
        #expect(sent["model"] == "fixed")
        #expect(sent["max_tokens"] == 64)
        #expect(sent["stream"] == true)
        #expect(sent["stream_options"] == .object(["include_usage": true]))
        #expect(sent["temperature"]?.doubleValue == 0.5)
        #expect(sent["stop"] == .array(["END"]))
        #expect(sent["messages"] == .array([.object(["role": "system", "content": "be brief"]), .object(["role": "user", "content": "hi"])]))
        #expect(try await server.lastAuthorization() == "Bearer sk-test")
        #expect(try await server.calls()["chat"] == 1)
    }

    @Test func withoutAKeyNoAuthorizationAndNoOptionalFields() async throws {
        _ = try await server.provider().complete(request("fixed"), onDelta: { _ in })
        #expect(try await server.lastAuthorization() == nil)
        let sent = try await server.last()
        #expect(sent["temperature"] == nil)
        #expect(sent["stop"] == nil)
    }

    @Test func noUsageReportedIsNil() async throws {
        let result = try await server.provider().complete(request("fixed-nousage"), onDelta: { _ in })
        #expect(result == CompletionResult(text: "Hello from the fake.", finishReason: "stop", usage: nil))
    }

    @Test func slowDeltasArriveAsTheyAreGenerated() async throws {
        let log = DeltaLog()
        let start = ContinuousClock.now
        _ = try await server.provider().complete(request("slow"), onDelta: log.onDelta)
        let end = ContinuousClock.now
        let times = await log.times
        try #require(times.count == 4)
        // 100 ms before each delta: they arrive as they come, the first well before the end and
        // spread over the answer (a loaded client may read two in one buffer, so pairs are not timed).
        #expect(Self.seconds(times[0].duration(to: end)) >= 0.2)
        #expect(Self.seconds(times[0].duration(to: times[3])) >= 0.15)
        #expect(Self.seconds(start.duration(to: times[0])) >= 0.06)
    }

    @Test func echoKeepsUnicodeWhole() async throws {
        let text = "héllo wörld 🌍 — 日本語"
        let log = DeltaLog()
        let result = try await server.provider().complete(request("echo", text), onDelta: log.onDelta)
        #expect(result.text == text)
        #expect(await log.deltas == [text])
    }

    @Test func longStreamOf200Deltas() async throws {
        let log = DeltaLog()
        let result = try await server.provider().complete(request("long"), onDelta: log.onDelta)
        #expect(await log.deltas.count == 200)
        #expect(result.text == String(repeating: "x ", count: 200))
        #expect(result.usage == TokenUsage(promptTokens: 20, completionTokens: 200))
    }

    @Test func aJSONAnswerToAStreamRequestIsAccepted() async throws {
        let log = DeltaLog()
        let result = try await server.provider().complete(request("nostream"), onDelta: log.onDelta)
        #expect(result == Self.hello)
        #expect(await log.deltas == ["Hello from the fake."])
    }

    // MARK: - Retries

    @Test func a429IsRetriedAfterItsRetryAfter() async throws {
        let start = ContinuousClock.now
        let result = try await server.provider(maxRetries: 1).complete(request("r429", "429 \(UUID())"), onDelta: { _ in })
        #expect(result.text == "Hello from the fake.")
        #expect(seconds(since: start) >= 0.95)
        #expect(try await server.calls()["chat"] == 2)
    }

    @Test func a500IsRetriedAfterBackOff() async throws {
        let start = ContinuousClock.now
        let result = try await server.provider(maxRetries: 1).complete(request("r500", "500 \(UUID())"), onDelta: { _ in })
        #expect(result.text == "Hello from the fake.")
        #expect(seconds(since: start) >= 0.24)
        #expect(try await server.calls()["chat"] == 2)
    }

    @Test func always500FailsAfterMaxRetriesPlusOneCalls() async throws {
        let (error, took) = await failure(try server.provider(maxRetries: 2), request("always500"))
        #expect(error?.status == 500)
        #expect(error?.message == "the provider answered 500 Internal Server Error: the fake failed on purpose (after 3 attempts)")
        #expect(took >= 0.74)  // 250 + 500 ms of back-off
        #expect(try await server.calls()["chat"] == 3)
    }

    @Test func otherClientErrorsAreFinalWithTheServersMessage() async throws {
        let (error, _) = await failure(try server.provider(maxRetries: 3), request("no-such-model"))
        #expect(error == ProviderError("the provider answered 404 Not Found: The model 'no-such-model' does not exist", status: 404))
        #expect(try await server.calls()["chat"] == 1)
        // A long message is cut to 300 characters.
        let long = String(repeating: "m", count: 1000)
        let (cut, _) = await failure(try server.provider(), request(long))
        let message = try #require(cut?.message)
        #expect(message.hasPrefix("the provider answered 404 Not Found: The model 'mmm"))
        #expect(message.hasSuffix("…"))
        #expect(message.count == "the provider answered 404 Not Found: ".count + 300)
    }

    @Test func aDropAfterDeltasIsFinalWithoutRetry() async throws {
        let log = DeltaLog()
        let (error, _) = await failure(try server.provider(maxRetries: 3), request("drop"), log: log)
        #expect(error == ProviderError("the provider closed the stream early: the connection closed in the middle of the answer"))
        #expect(error?.status == nil)
        #expect(await log.deltas == ["Hello", " from"])
        #expect(try await server.calls()["chat"] == 1)
    }

    @Test func connectionRefusedFailsAfterRetriesWithAClearMessage() async throws {
        let port = try UnusedPort.take()
        let (error, took) = await failure(try server.provider(maxRetries: 2, baseURL: "http://127.0.0.1:\(port)/v1/"), request("fixed"))
        #expect(error == ProviderError("cannot reach provider 'fake': connection refused (after 3 attempts)"))
        #expect(took >= 0.74 && took < 5)
    }

    // MARK: - Deadlines and cancellation

    @Test func aHangFailsAtTheDeadline() async throws {
        let (error, took) = await failure(try server.provider(timeoutMs: 700), request("hang"))
        #expect(error == ProviderError("the provider did not finish within 700 ms (timeout_ms)"))
        #expect(took >= 0.69 && took < 4.0, "took \(took) s")  // the deadline, not the server, ends it (slack for a loaded CI machine)
        try await expectDisconnect()
    }

    @Test func cancellingTheTaskClosesTheUpstreamRequest() async throws {
        let provider = try server.provider(timeoutMs: 30_000)
        let task = Task { try await provider.complete(request("hang"), onDelta: { _ in }) }
        try await server.wait(for: "chat", toReach: 1, within: .seconds(2))
        let cancelled = ContinuousClock.now
        task.cancel()
        let outcome = await task.result
        #expect(throws: CancellationError.self) { try outcome.get() }
        try await expectDisconnect()
        #expect(seconds(since: cancelled) < 3.0)
    }

    @Test func cancellingDuringTheStreamStopsIt() async throws {
        let provider = try server.provider(timeoutMs: 30_000)
        let log = DeltaLog()
        let task = Task { try await provider.complete(request("long"), onDelta: log.onDelta) }
        while await log.deltas.count < 5 { try await Task.sleep(for: .milliseconds(5)) }
        let cancelled = ContinuousClock.now
        task.cancel()
        let outcome = await task.result
        #expect(throws: CancellationError.self) { try outcome.get() }
        #expect(seconds(since: cancelled) < 0.5)
        #expect(await log.deltas.count < 150)
        try await expectDisconnect()
    }

    /// The server saw its client go away within a second.
    func expectDisconnect() async throws {
        try await server.wait(for: "disconnects", toReach: 1, within: .seconds(1))
    }

    // MARK: - Secrets

    @Test func theKeyIsInNoError() async throws {
        let key = "sk-secret-test"
        let port = try UnusedPort.take()
        let cases: [(any ComputeProvider, String)] = [
            (try server.provider(key: key), "badkey"),
            (try server.provider(key: key, maxRetries: 1), "always500"),
            (try server.provider(key: key), "drop"),
            (try server.provider(key: key), "no-such-model"),
            (try server.provider(key: key, timeoutMs: 300), "hang"),
            (try server.provider(key: key, maxRetries: 0, baseURL: "http://127.0.0.1:\(port)/v1"), "fixed"),
        ]
        for (provider, model) in cases {
            let (error, _) = await failure(provider, request(model))
            let text = try #require(error).message + String(describing: error) + "\(String(reflecting: error))"
            #expect(!text.contains(key), "\(model): \(text)")
        }
        try await expectDisconnect()  // of the hang, before the next test counts
        #expect(try await server.lastAuthorization() == "Bearer \(key)")
        let (badkey, _) = await failure(try server.provider(key: key), request("badkey"))
        #expect(badkey == ProviderError("the provider answered 401 Unauthorized: Incorrect API key provided: Bearer ***", status: 401))
        let health = await (try server.provider(key: key, baseURL: "http://127.0.0.1:\(port)/v1")).probe()
        #expect(health.error?.contains(key) == false)
    }

    // MARK: - Probes and configuration

    @Test func probeAsksModels() async throws {
        let health = await (try server.provider()).probe()
        #expect(health.ok)
        #expect(health.error == nil)
        #expect(health.latencyMs > 0 && health.latencyMs < 5000)
        #expect(abs(health.checkedAt - Int64(Date().timeIntervalSince1970 * 1000)) < 10_000)
        #expect(try await server.calls() == ["chat": 0, "models": 1, "health": 0, "disconnects": 0])
    }

    @Test func probeFallsBackToHealth() async throws {
        // Without /v1 the fake has no /models, but it has /health.
        let health = await (try server.provider(baseURL: "http://127.0.0.1:\(server.port)")).probe()
        #expect(health.ok)
        #expect(try await server.calls() == ["chat": 0, "models": 0, "health": 1, "disconnects": 0])
    }

    @Test func probeOfADeadPort() async throws {
        let port = try UnusedPort.take()
        let health = await (try server.provider(baseURL: "http://127.0.0.1:\(port)/v1")).probe()
        #expect(!health.ok)
        #expect(health.error == "cannot reach provider 'fake': connection refused")
        #expect(health.latencyMs < 5000)
    }

    @Test func theFactoryTakesOnlyOpenAIAndHTTPURLs() throws {
        let factory = OpenAIProviderFactory(http: server.http)
        let other = ProviderConfig(name: "x", kind: "anthropic", baseURL: server.baseURL, models: [], price: .init(input: 0, output: 0))
        #expect(throws: FSError(.invalidInput, "provider x: kind \"anthropic\" is not supported (the one kind is \"openai\")")) {
            try factory.provider(for: other)
        }
        for url in ["", "127.0.0.1:8080", "ftp://host/v1", "http://"] {
            let bad = ProviderConfig(name: "x", baseURL: url, models: [], price: .init(input: 0, output: 0))
            #expect(throws: FSError.self, "\(url)") { try factory.provider(for: bad) }
        }
    }
}
