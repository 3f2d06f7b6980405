@testable import ComputeOpenAI
import Foundation
import Namespace
import Runtime
import Testing

/// The value parts of the provider, without sockets: SSE framing, chunk folding, back-off.
@Suite struct StreamDecodingTests {
    static let stream = """
        : a comment\r
        data: {"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}],"usage":null}\r
        \r
        data: {"choices":[{"index":0,"delta":{"content":"héllo "},"finish_reason":null}]}\n\n\
        data: {"choices":[{"index":0,"delta":{"content":"wörld"},"finish_reason":null}]}\r\r\
        event: ignored\n\
        data: {"choices":[{"index":0,"delta":{},"finish_reason":"length"}]}\n\n\
        data: {"choices":[],"usage":{"prompt_tokens":7,"completion_tokens":2}}\n\n\
        data: [DONE]\n\n
        """

    /// The stream fed in pieces of `size` bytes, as a network might split it.
    static func events(_ text: String, size: Int) throws -> [String] {
        var parser = SSEParser()
        let bytes = Array(text.utf8)
        var events: [String] = []
        for start in stride(from: 0, to: bytes.count, by: size) {
            events += try parser.feed(bytes[start..<min(start + size, bytes.count)])
        }
        if let last = parser.finish() { events.append(last) }
        return events
    }

    @Test func everySplitGivesTheSameEvents() throws {
        let whole = try Self.events(Self.stream, size: Int.max)
        #expect(whole.count == 6)
        #expect(whole.last == "[DONE]")
        for size in 1...17 { #expect(try Self.events(Self.stream, size: size) == whole, "pieces of \(size)") }
    }

    @Test func decoderFoldsTheStream() throws {
        var decoder = ChatStreamDecoder()
        var deltas: [String] = []
        for event in try Self.events(Self.stream, size: 3) {
            if let delta = try decoder.consume(event) { deltas.append(delta) }
        }
        #expect(deltas == ["héllo ", "wörld"])
        #expect(decoder.done)
        let usage = TokenUsage(promptTokens: 7, completionTokens: 2)
        #expect(decoder.result == CompletionResult(text: "héllo wörld", finishReason: "length", usage: usage))
    }

    @Test func multiLineDataAndALastEventWithoutABlankLine() throws {
        #expect(try Self.events("data: a\ndata:b\n\ndata: [DONE]", size: 2) == ["a\nb", "[DONE]"])
        #expect(try Self.events(": only comments\n\n:\n\n", size: 1) == [])
    }

    @Test func anOversizedEventIsRefused() {
        var parser = SSEParser()
        parser.maxEventBytes = 1 << 20
        #expect(throws: ProviderError.self) { _ = try parser.feed(Array(repeating: UInt8(ascii: "a"), count: (1 << 20) + 1)) }
    }

    @Test func aStreamErrorOrGarbageIsAnError() {
        var decoder = ChatStreamDecoder()
        #expect(throws: ProviderError("the provider failed during the answer: overloaded")) {
            _ = try decoder.consume(#"{"error":{"message":"overloaded"}}"#)
        }
        #expect(throws: ProviderError("the provider sent an event that is not JSON: nope")) { _ = try decoder.consume("nope") }
    }

    @Test func backOffDoublesToItsCapAndRetryAfterIsBounded() {
        let policy = RetryPolicy(maxRetries: 9)
        #expect((0..<7).map { policy.delay(retry: $0, retryAfter: nil) } == [250, 500, 1000, 2000, 4000, 4000, 4000].map(Duration.milliseconds))
        #expect(policy.delay(retry: 0, retryAfter: .seconds(3)) == .seconds(3))
        #expect(policy.delay(retry: 0, retryAfter: .seconds(120)) == .seconds(10))
    }

    @Test func retryAfterInSecondsOrAsAnHTTPDate() {
        let now = Date(timeIntervalSince1970: 1_700_000_000)  // Tue, 14 Nov 2023 22:13:20 GMT
        #expect(RetryPolicy.retryAfter("2", now: now) == .seconds(2))
        #expect(RetryPolicy.retryAfter("Tue, 14 Nov 2023 22:13:25 GMT", now: now) == .seconds(5))
        #expect(RetryPolicy.retryAfter("Tue, 14 Nov 2023 22:00:00 GMT", now: now) == .zero)
        #expect(RetryPolicy.retryAfter("soon", now: now) == nil)
        #expect(RetryPolicy.retryAfter(nil, now: now) == nil)
    }

    @Test func theRequestBody() {
        let request = CompletionRequest(model: "m", messages: [ChatMessage(role: "user", content: "q")], maxTokens: 5, temperature: 0, stop: ["x"])
        #expect(OpenAIWire.body(request).description
            == #"{"max_tokens":5,"messages":[{"content":"q","role":"user"}],"model":"m","stop":["x"],"stream":true,"#
            + #""stream_options":{"include_usage":true},"temperature":0.0}"#)
    }
}
