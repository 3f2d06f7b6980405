public import Namespace

extension CompletionRequest {
    /// The stored form (and what `status` could show): the fields a provider is sent.
    public var json: JSON {
        var o: [String: JSON] = [
            "model": .string(model), "max_tokens": .int(maxTokens),
            "messages": .array(messages.map { .object(["role": .string($0.role), "content": .string($0.content)]) }),
        ]
        if let temperature { o["temperature"] = .number(temperature) }
        if !stop.isEmpty { o["stop"] = .array(stop.map { .string($0) }) }
        return .object(o)
    }

    /// Reads the stored form back (fields missing from a damaged row get neutral values).
    public init(json: JSON) {
        self.init(model: json["model"]?.stringValue ?? "", messages: (json["messages"]?.arrayValue ?? []).map {
            ChatMessage(role: $0["role"]?.stringValue ?? "user", content: $0["content"]?.stringValue ?? "")
        }, maxTokens: json["max_tokens"]?.intValue ?? 1, temperature: json["temperature"]?.doubleValue,
                  stop: (json["stop"]?.arrayValue ?? []).compactMap(\.stringValue))
    }
}
