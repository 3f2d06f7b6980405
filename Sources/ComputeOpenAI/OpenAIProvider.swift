public import AsyncHTTPClient
import Foundation
import Namespace
import NIOCore
import NIOHTTP1
public import Runtime

/// A ComputeProvider over OpenAI's chat-completions protocol (OpenAI, llama.cpp's
/// llama-server, vLLM, Ollama). Each completion is one streamed POST to
/// `<base_url>/chat/completions` whose server-sent events are read as they arrive; transient
/// failures are retried while no text has been delivered, and `timeout_ms` bounds the whole
/// call, retries included.
///
/// `complete` throws a ProviderError for every failure of the provider, CancellationError when
/// the calling task is cancelled, and whatever `onDelta` throws, unchanged (which ends the call).
public struct OpenAIProvider: ComputeProvider {
    let config: ProviderConfig
    let http: HTTPClient
    /// `base_url` without a trailing slash.
    let base: String
    var retry: RetryPolicy
    /// The longest non-streamed answer read.
    var maxAnswerBytes = 16 << 20

    /// Throws `invalid_input` when `base_url` is not an http(s) URL with a host.
    public init(config: ProviderConfig, http: HTTPClient) throws {
        var base = config.baseURL.trimmingCharacters(in: .whitespaces)
        while base.hasSuffix("/") { base.removeLast() }
        guard let url = URL(string: base), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https",
            url.host?.isEmpty == false
        else {
            throw FSError(.invalidInput, "provider \(config.name): base_url must be an http or https URL, like http://127.0.0.1:8080/v1")
        }
        self.config = config
        self.http = http
        self.base = base
        self.retry = RetryPolicy(maxRetries: max(config.maxRetries, 0))
    }

    var chatURL: String { base + "/chat/completions" }

    public func complete(
        _ request: CompletionRequest, onDelta: @escaping @Sendable (String) async throws -> Void
    ) async throws -> CompletionResult {
        let clock = ContinuousClock()
        let deadline = clock.now + .milliseconds(max(config.timeoutMs, 1))
        let body = ByteBuffer(bytes: OpenAIWire.body(request).bytes)
        // The whole call races its deadline; the loser is cancelled (which closes the upstream
        // connection of an attempt in flight).
        return try await withThrowingTaskGroup(of: CompletionResult?.self) { group in
            group.addTask { try await self.withRetries(body: body, deadline: deadline, onDelta: onDelta) }
            group.addTask {
                try await Task.sleep(until: deadline, clock: clock)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let result = first else { throw timeoutError }
            return result
        }
    }

    var timeoutError: ProviderError { ProviderError("the provider did not finish within \(config.timeoutMs) ms (timeout_ms)") }

    /// Attempts until one succeeds, a failure is final, the retries are spent, or the next
    /// wait would pass the deadline.
    func withRetries(
        body: ByteBuffer, deadline: ContinuousClock.Instant, onDelta: @escaping @Sendable (String) async throws -> Void
    ) async throws -> CompletionResult {
        var retries = 0
        while true {
            try Task.checkCancellation()
            do {
                return try await attempt(body: body, deadline: deadline, onDelta: onDelta)
            } catch let failure as AttemptFailure {
                try Task.checkCancellation()
                guard failure.retryable, retries < retry.maxRetries else { throw final(failure.error, attempts: retries + 1) }
                let wait = retry.delay(retry: retries, retryAfter: failure.retryAfter)
                guard ContinuousClock.now + wait < deadline else {
                    throw final(failure.error, attempts: retries + 1, note: "no time left within timeout_ms to retry")
                }
                try await Task.sleep(for: wait)
                retries += 1
            }
        }
    }

    /// The error reported for the last attempt, naming how many there were, with the key
    /// scrubbed out of anything the server or the transport said.
    func final(_ error: ProviderError, attempts: Int, note: String? = nil) -> ProviderError {
        var message = error.message
        if attempts > 1 { message += " (after \(attempts) attempts)" }
        if let note { message += "; \(note)" }
        return ProviderError(scrub(message), status: error.status)
    }

    /// `text` with every occurrence of the api key replaced.
    /// The key out of a message (a careless server may echo the Authorization header), also a
    /// part of it cut by truncation at the message's end.
    func scrub(_ text: String) -> String {
        guard let key = config.apiKey, !key.isEmpty else { return text }
        var out = text.replacingOccurrences(of: key, with: "***")
        if out.hasSuffix("…") {
            let body = out.dropLast()
            for n in stride(from: key.count - 1, through: min(6, key.count - 1), by: -1) where n > 0 && body.hasSuffix(key.prefix(n)) {
                out = String(body.dropLast(n)) + "***…"
                break
            }
        }
        return out
    }

    func headers(accept: String) -> HTTPHeaders {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Accept", value: accept)
        headers.add(name: "User-Agent", value: "agentns")
        if let key = config.apiKey, !key.isEmpty { headers.add(name: "Authorization", value: "Bearer \(key)") }
        return headers
    }

    static func nioDeadline(_ deadline: ContinuousClock.Instant) -> NIODeadline {
        let left = ContinuousClock.now.duration(to: deadline)
        let nanos = left.components.seconds * 1_000_000_000 + left.components.attoseconds / 1_000_000_000
        return .now() + .nanoseconds(max(nanos, 0))
    }

    // MARK: - One attempt

    func attempt(
        body: ByteBuffer, deadline: ContinuousClock.Instant, onDelta: @escaping @Sendable (String) async throws -> Void
    ) async throws -> CompletionResult {
        var request = HTTPClientRequest(url: chatURL)
        request.method = .POST
        request.headers = headers(accept: "text/event-stream, application/json")
        request.body = .bytes(body)
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, deadline: Self.nioDeadline(deadline))
        } catch {
            throw transportFailure(error, .request)
        }
        let status = Int(response.status.code)
        guard (200..<300).contains(status) else { throw await statusFailure(response) }
        if response.headers.first(name: "Content-Type")?.lowercased().hasPrefix("application/json") == true {
            return try await whole(response, onDelta: onDelta)
        }
        return try await stream(response, onDelta: onDelta)
    }

    /// Reads server-sent events as they arrive, delivering each delta before reading on.
    func stream(_ response: HTTPClientResponse, onDelta: @escaping @Sendable (String) async throws -> Void) async throws -> CompletionResult {
        var parser = SSEParser()
        var decoder = ChatStreamDecoder()
        var delivered = false
        var chunks = response.body.makeAsyncIterator()
        while !decoder.done {
            let chunk: ByteBuffer?
            do {
                chunk = try await chunks.next()
            } catch {
                throw transportFailure(error, .answer(delivered: delivered))
            }
            guard let chunk else { break }
            let events: [String]
            do { events = try parser.feed(chunk.readableBytesView) } catch { throw AttemptFailure(error, retryable: false) }
            for event in events where !decoder.done {
                let delta: String?
                do { delta = try decoder.consume(event) } catch { throw AttemptFailure(error, retryable: false) }
                if let delta {
                    delivered = true
                    try await onDelta(delta)
                }
            }
        }
        if !decoder.done, let event = parser.finish() {
            let delta: String?
            do { delta = try decoder.consume(event) } catch { throw AttemptFailure(error, retryable: false) }
            if let delta { try await onDelta(delta) }
        }
        // A cancelled body can end like a short one: say which it was.
        try Task.checkCancellation()
        guard decoder.isComplete else {
            throw AttemptFailure(ProviderError("the provider closed the stream early"), retryable: !delivered)
        }
        return decoder.result
    }

    /// A server that answered a stream request with one JSON document.
    func whole(_ response: HTTPClientResponse, onDelta: @escaping @Sendable (String) async throws -> Void) async throws -> CompletionResult {
        let bytes: ByteBuffer
        do {
            bytes = try await response.body.collect(upTo: maxAnswerBytes)
        } catch {
            throw transportFailure(error, .answer(delivered: false))
        }
        guard let json = try? JSON(parsing: bytes.readableBytesView) else {
            throw AttemptFailure(ProviderError("the provider's answer is not JSON"), retryable: false)
        }
        let result: CompletionResult
        do { result = try OpenAIWire.result(json) } catch { throw AttemptFailure(error, retryable: false) }
        if !result.text.isEmpty { try await onDelta(result.text) }
        return result
    }

    /// An answer other than 2xx: 429 and 5xx may be retried, the rest are final.
    func statusFailure(_ response: HTTPClientResponse) async -> AttemptFailure {
        let status = Int(response.status.code)
        let body = (try? await response.body.collect(upTo: 64 << 10)).map { Array($0.readableBytesView) } ?? []
        let phrase = HTTPResponseStatus(statusCode: status).reasonPhrase
        let message = "the provider answered \(status)\(phrase.isEmpty ? "" : " " + phrase): \(OpenAIWire.errorMessage(body: body))"
        return AttemptFailure(ProviderError(message, status: status), retryable: status == 429 || status >= 500,
                              retryAfter: RetryPolicy.retryAfter(response.headers.first(name: "Retry-After")))
    }
}
