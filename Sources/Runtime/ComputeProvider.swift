public import Foundation
public import Namespace

/// A model provider: something that answers chat-completion requests (OpenAI's protocol today;
/// llama.cpp's llama-server, vLLM and Ollama speak it too). The runtime owns jobs, budgets and
/// the journal; a provider only talks to its server. Implementations live in their own target
/// (ComputeOpenAI sees async-http-client), so the runtime never sees a transport.
public protocol ComputeProvider: Sendable {
    /// One completion. `onDelta` receives each piece of text as the server produces it, in
    /// order (a provider that cannot stream calls it once with the whole text). Cancelling the
    /// calling task cancels the upstream request. Retries of transient failures (connection
    /// errors, 429, 5xx) happen inside, bounded; what is thrown is final.
    func complete(_ request: CompletionRequest, onDelta: @escaping @Sendable (String) async throws -> Void) async throws -> CompletionResult
    /// One health probe of the server (`/v1/models` or `/health`); the runtime caches it.
    func probe() async -> ProviderHealth
}

/// Makes providers from their configuration (agentd passes the OpenAI one; tests pass fakes).
public protocol ComputeProviderFactory: Sendable {
    func provider(for config: ProviderConfig) throws -> any ComputeProvider
}

/// `/runtime/providers/<name>.json`.
public struct ProviderConfig: Sendable, Equatable {
    /// Micro-USD per million tokens.
    public struct Price: Sendable, Equatable {
        public var input: Int64
        public var output: Int64
        public init(input: Int64, output: Int64) {
            self.input = input
            self.output = output
        }
    }

    public var name: String
    public var kind: String
    public var baseURL: String
    /// Stored, sent to the provider, never shown (reads show "***").
    public var apiKey: String?
    public var models: [String]
    public var price: Price
    /// Per request, first byte to last (default 120 s).
    public var timeoutMs: Int64
    /// Retries of a transient failure before the job fails (default 3).
    public var maxRetries: Int

    public init(name: String, kind: String = "openai", baseURL: String, apiKey: String? = nil, models: [String], price: Price,
                timeoutMs: Int64 = 120_000, maxRetries: Int = 3) {
        self.name = name
        self.kind = kind
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.models = models
        self.price = price
        self.timeoutMs = timeoutMs
        self.maxRetries = maxRetries
    }
}

public struct ChatMessage: Sendable, Equatable {
    public var role: String
    public var content: String
    public init(role: String, content: String) {
        self.role = role
        self.content = content
    }
}

/// What a provider is asked: the job's request after defaults and the budget's cap.
public struct CompletionRequest: Sendable, Equatable {
    public var model: String
    public var messages: [ChatMessage]
    public var maxTokens: Int
    public var temperature: Double?
    public var stop: [String]

    public init(model: String, messages: [ChatMessage], maxTokens: Int, temperature: Double? = nil, stop: [String] = []) {
        self.model = model
        self.messages = messages
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.stop = stop
    }
}

public struct TokenUsage: Sendable, Equatable {
    public var promptTokens: Int64
    public var completionTokens: Int64
    public init(promptTokens: Int64, completionTokens: Int64) {
        self.promptTokens = promptTokens
        self.completionTokens = completionTokens
    }

    public var json: JSON { .object(["prompt_tokens": .int64(promptTokens), "completion_tokens": .int64(completionTokens)]) }
}

public struct CompletionResult: Sendable, Equatable {
    public var text: String
    public var finishReason: String?
    /// nil when the server reported none.
    public var usage: TokenUsage?
    public init(text: String, finishReason: String?, usage: TokenUsage?) {
        self.text = text
        self.finishReason = finishReason
        self.usage = usage
    }
}

public struct ProviderHealth: Sendable, Equatable {
    public var ok: Bool
    public var latencyMs: Double
    /// Milliseconds since the epoch.
    public var checkedAt: Int64
    public var error: String?
    public init(ok: Bool, latencyMs: Double, checkedAt: Int64, error: String? = nil) {
        self.ok = ok
        self.latencyMs = latencyMs
        self.checkedAt = checkedAt
        self.error = error
    }
}

/// A provider's final failure, worded for the job's `error` field: it never holds a key or
/// a header.
public struct ProviderError: Error, CustomStringConvertible, Sendable, Equatable {
    public var message: String
    /// HTTP status of the last attempt, if the server answered.
    public var status: Int?
    public init(_ message: String, status: Int? = nil) {
        self.message = message
        self.status = status
    }

    public var description: String { message }
}
