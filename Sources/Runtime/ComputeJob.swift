public import Namespace

/// A compute job as the store keeps it.
public struct ComputeJob: Sendable, Equatable {
    public enum State: String, Sendable, CaseIterable {
        case queued, running, succeeded, failed, cancelled
        public var isFinished: Bool { self == .succeeded || self == .failed || self == .cancelled }
    }

    public var id: String
    public var agent: String
    public var state: State
    public var provider: String
    public var model: String
    /// The request as it goes to the provider (messages, max_tokens after the budget's cap, ...).
    public var request: CompletionRequest
    public var reserved: Int64
    /// What was charged when it finished (nil while open).
    public var cost: Int64?
    public var usage: TokenUsage?
    public var createdAt: Int64
    public var startedAt: Int64?
    public var finishedAt: Int64?
    public var error: String?
    public var text: String?
    public var finishReason: String?
    public var idempotencyKey: String?
    /// Bytes of `stream` so far.
    public var streamBytes: Int64 = 0

    public init(id: String, agent: String, state: State = .queued, provider: String, model: String, request: CompletionRequest,
                reserved: Int64, createdAt: Int64, idempotencyKey: String? = nil) {
        self.id = id
        self.agent = agent
        self.state = state
        self.provider = provider
        self.model = model
        self.request = request
        self.reserved = reserved
        self.createdAt = createdAt
        self.idempotencyKey = idempotencyKey
    }

    /// `jobs/<job>/status`.
    public var statusJSON: JSON {
        var o: [String: JSON] = [
            "id": .string(id), "state": .string(state.rawValue), "provider": .string(provider), "model": .string(model),
            "reserved": .int64(reserved), "cost": cost.map { .int64($0) } ?? .null,
            "usage": (usage ?? TokenUsage(promptTokens: 0, completionTokens: 0)).json,
            "created_at": .string(Timestamp.iso(createdAt)),
            "started_at": startedAt.map { .string(Timestamp.iso($0)) } ?? .null,
            "finished_at": finishedAt.map { .string(Timestamp.iso($0)) } ?? .null,
        ]
        if let error { o["error"] = .string(error) }
        if let idempotencyKey { o["idempotency_key"] = .string(idempotencyKey) }
        return .object(o)
    }

    /// `jobs/<job>/result`, once it has finished with text.
    public var resultJSON: JSON? {
        guard state.isFinished, let text else { return nil }
        return .object(["text": .string(text), "finish_reason": finishReason.map { .string($0) } ?? .null,
                        "usage": (usage ?? TokenUsage(promptTokens: 0, completionTokens: 0)).json])
    }

    /// The envelope that tells the agent its job ended.
    public func notice(at: Int64) -> Envelope {
        Envelope(id: "\(id).done", from: "compute", kind: "job",
                 body: .object(["job_id": .string(id), "state": .string(state.rawValue)]), sentAt: at)
    }
}

/// How a job ends, as the runner reports it to the store.
public struct JobOutcome: Sendable, Equatable {
    public var state: ComputeJob.State
    public var text: String?
    public var finishReason: String?
    public var usage: TokenUsage?
    /// The cost from `usage` at the provider's prices; nil: none reported (charge the reservation).
    public var cost: Int64?
    public var error: String?
    /// Stream lines (and trace records) not written yet: committed with the end, which saves a
    /// commit for the last lines of every job.
    public var streamTail: [String] = []
    public var streamTailTrace: [JSON] = []

    public init(state: ComputeJob.State, text: String? = nil, finishReason: String? = nil, usage: TokenUsage? = nil, cost: Int64? = nil,
                error: String? = nil) {
        self.state = state
        self.text = text
        self.finishReason = finishReason
        self.usage = usage
        self.cost = cost
        self.error = error
    }
}
