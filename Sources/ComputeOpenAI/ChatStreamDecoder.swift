import Namespace
import Runtime

/// Folds the events of a streamed chat completion into its result: each chunk's
/// `choices[0].delta.content` is the next piece of text, `finish_reason` and `usage` come from
/// whichever chunk carries them (the final one, or the usage chunk with empty `choices`), and
/// `[DONE]` ends the stream.
struct ChatStreamDecoder {
    private(set) var text = ""
    private(set) var finishReason: String?
    private(set) var usage: TokenUsage?
    private(set) var done = false

    /// The stream ended as the protocol says it should: `[DONE]`, or at least a finish reason.
    var isComplete: Bool { done || finishReason != nil }

    var result: CompletionResult { CompletionResult(text: text, finishReason: finishReason, usage: usage) }

    /// Reads one event's data; returns the text it adds, if any.
    mutating func consume(_ data: String) throws(ProviderError) -> String? {
        if data == "[DONE]" {
            done = true
            return nil
        }
        guard let chunk = try? JSON(parsing: data) else {
            throw ProviderError("the provider sent an event that is not JSON: \(OpenAIWire.truncated(data))")
        }
        if let message = OpenAIWire.errorMessage(chunk) { throw ProviderError("the provider failed during the answer: \(message)") }
        if let usage = OpenAIWire.usage(chunk) { self.usage = usage }
        guard let choice = chunk["choices"]?.arrayValue?.first else { return nil }
        if let reason = choice["finish_reason"]?.stringValue { finishReason = reason }
        guard let content = choice["delta"]?["content"]?.stringValue, !content.isEmpty else { return nil }
        text += content
        return content
    }
}
