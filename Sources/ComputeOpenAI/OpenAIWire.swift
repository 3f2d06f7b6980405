import Foundation
import Namespace
import Runtime

/// The JSON of OpenAI's chat-completions protocol: what is sent, and what is read from an
/// answer, a stream chunk or an error.
enum OpenAIWire {
    /// The longest server error message kept in a ProviderError.
    static let maxErrorCharacters = 300

    /// A streamed request that asks for the usage chunk.
    static func body(_ request: CompletionRequest) -> JSON {
        var body: [String: JSON] = [
            "model": .string(request.model),
            "messages": .array(request.messages.map { .object(["role": .string($0.role), "content": .string($0.content)]) }),
            "max_tokens": .int(request.maxTokens),
            "stream": true,
            "stream_options": .object(["include_usage": true]),
        ]
        if let temperature = request.temperature { body["temperature"] = .number(temperature) }
        if !request.stop.isEmpty { body["stop"] = .array(request.stop.map { .string($0) }) }
        return .object(body)
    }

    /// `usage` of an answer or a chunk; nil when absent or null.
    static func usage(_ json: JSON) -> TokenUsage? {
        guard let usage = json["usage"], let prompt = usage["prompt_tokens"]?.int64Value else { return nil }
        return TokenUsage(promptTokens: prompt, completionTokens: usage["completion_tokens"]?.int64Value ?? 0)
    }

    /// A whole (non-streamed) answer.
    static func result(_ json: JSON) throws(ProviderError) -> CompletionResult {
        if let message = errorMessage(json) { throw ProviderError("the provider failed: \(message)") }
        guard let choice = json["choices"]?.arrayValue?.first, let content = choice["message"]?["content"] else {
            throw ProviderError("the provider's answer has no choices[0].message")
        }
        return CompletionResult(text: content.stringValue ?? "", finishReason: choice["finish_reason"]?.stringValue, usage: usage(json))
    }

    /// OpenAI's `{"error": {"message": ...}}` (or `{"error": "..."}`), cut to a readable length.
    static func errorMessage(_ json: JSON) -> String? {
        guard let error = json["error"], error != .null else { return nil }
        return truncated(error["message"]?.stringValue ?? error.stringValue ?? error.description)
    }

    /// The message of an error answer's body: its JSON error message, else its text.
    static func errorMessage(body: [UInt8]) -> String {
        if let json = try? JSON(parsing: body), let message = errorMessage(json) { return message }
        let text = String(decoding: body, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return truncated(text.isEmpty ? "(no message)" : text)
    }

    static func truncated(_ text: String) -> String {
        text.count <= maxErrorCharacters ? text : String(text.prefix(maxErrorCharacters - 1)) + "…"
    }
}
