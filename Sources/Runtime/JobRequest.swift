public import Namespace

/// A job request as written to `compute/new`, validated. See SPEC "Compute".
public struct JobRequest: Sendable, Equatable {
    public var provider: String?
    public var model: String?
    public var messages: [ChatMessage]
    public var maxTokens: Int?
    public var temperature: Double?
    public var stop: [String]
    public var idempotencyKey: String?
    public var maxCost: Int64?

    static let keys: Set<String> = ["provider", "model", "messages", "prompt", "max_tokens", "temperature", "stop", "idempotency_key", "max_cost"]
    public static let maxMessages = 1000
    public static let maxContentBytes = 1 << 20

    public init(provider: String? = nil, model: String? = nil, messages: [ChatMessage], maxTokens: Int? = nil, temperature: Double? = nil,
                stop: [String] = [], idempotencyKey: String? = nil, maxCost: Int64? = nil) {
        self.provider = provider
        self.model = model
        self.messages = messages
        self.maxTokens = maxTokens
        self.temperature = temperature
        self.stop = stop
        self.idempotencyKey = idempotencyKey
        self.maxCost = maxCost
    }

    public init(json: JSON) throws(FSError) {
        func bad(_ message: String) -> FSError { FSError.invalidInput("job request: " + message) }
        guard let o = json.objectValue else { throw bad("a JSON object {\"messages\": [...]} or {\"prompt\": \"...\"}") }
        for key in o.keys where !Self.keys.contains(key) { throw bad("unknown key '\(key)'") }
        func string(_ key: String, max: Int = 200) throws(FSError) -> String? {
            guard let v = o[key], v != .null else { return nil }
            guard let s = v.stringValue, !s.isEmpty, s.utf8.count <= max else { throw bad("'\(key)' is a non-empty string of at most \(max) bytes") }
            return s
        }
        provider = try string("provider")
        model = try string("model")
        idempotencyKey = try string("idempotency_key")
        switch (o["messages"], o["prompt"]) {
        case (.some(.array(let list)), nil):
            guard !list.isEmpty, list.count <= Self.maxMessages else { throw bad("'messages' holds 1 to \(Self.maxMessages) messages") }
            var out: [ChatMessage] = []
            for m in list {
                guard let role = m["role"]?.stringValue, ["system", "user", "assistant"].contains(role), let content = m["content"]?.stringValue
                else { throw bad("each message is {\"role\": \"system\"|\"user\"|\"assistant\", \"content\": \"...\"}") }
                out.append(ChatMessage(role: role, content: content))
            }
            messages = out
        case (nil, .some(.string(let prompt))):
            messages = [ChatMessage(role: "user", content: prompt)]
        default:
            throw bad("give either 'messages' (an array) or 'prompt' (a string)")
        }
        guard messages.reduce(0, { $0 + $1.content.utf8.count }) <= Self.maxContentBytes else {
            throw FSError(.payloadTooLarge, "job request: the messages hold more than \(Self.maxContentBytes) bytes")
        }
        if let v = o["max_tokens"], v != .null {
            guard case .integer(let i) = v, i >= 1, i <= Int64(ComputePolicy.maxTokensCeiling) else {
                throw bad("'max_tokens' is an integer in 1...\(ComputePolicy.maxTokensCeiling)")
            }
            maxTokens = Int(i)
        }
        if let v = o["temperature"], v != .null {
            guard let t = v.doubleValue, t >= 0, t <= 2 else { throw bad("'temperature' is a number in 0...2") }
            temperature = t
        }
        switch o["stop"] {
        case nil, .some(.null): stop = []
        case .some(.string(let s)): stop = [s]
        case .some(.array(let a)) where a.count <= 4 && a.allSatisfy({ ($0.stringValue?.utf8.count ?? 1000) <= 200 }):
            stop = a.compactMap(\.stringValue)
        default: throw bad("'stop' is a string or up to 4 strings")
        }
        if let v = o["max_cost"], v != .null {
            guard case .integer(let i) = v, i >= 0 else { throw bad("'max_cost' is an integer number of micro-USD, 0 or more") }
            maxCost = i
        }
    }

    /// A bound on the prompt's tokens that holds for byte-level tokenizers: every token covers
    /// at least one byte, and chat templates add a few tokens per message.
    public var promptTokenBound: Int64 {
        Int64(messages.reduce(16) { $0 + $1.content.utf8.count + $1.role.utf8.count + 16 })
    }
}

/// What a request becomes once provider, model, limits and prices are known: the provider call
/// and its worst-case cost.
public struct JobPlan: Sendable, Equatable {
    public var provider: String
    public var request: CompletionRequest
    public var reservation: Int64

    /// Picks the provider and model (request, then policy, then the only provider there is) and
    /// prices the worst case: prompt bound × input price + max_tokens × output price. A
    /// `max_cost` below that lowers max_tokens to what it covers; one that cannot cover the
    /// prompt and a token is budget_exceeded.
    public static func make(_ r: JobRequest, policy: ComputePolicy, providers: [ProviderConfig]) throws(FSError) -> JobPlan {
        let name: String
        if let n = r.provider ?? policy.provider {
            name = n
        } else if providers.count == 1 {
            name = providers[0].name
        } else if providers.isEmpty {
            throw FSError(.unavailable, "no compute provider is configured; the operator adds one at /runtime/providers/<name>.json")
        } else {
            throw FSError.invalidInput("job request: name a 'provider' (\(providers.map(\.name).sorted().joined(separator: ", "))) or set one in compute/policy")
        }
        if let allowed = policy.providers, !allowed.contains(name) {
            throw FSError.denied("/compute/new", "compute/policy does not allow provider '\(name)'")
        }
        guard let p = providers.first(where: { $0.name == name }) else {
            throw FSError(.notFound, "no compute provider '\(name)'", path: "/compute/providers/\(name)")
        }
        guard let model = r.model ?? policy.model ?? p.models.first else {
            throw FSError.invalidInput("job request: name a 'model'; provider '\(name)' lists none")
        }
        if !p.models.isEmpty, !p.models.contains(model) {
            throw FSError.invalidInput("job request: provider '\(name)' has no model '\(model)' (it has \(p.models.joined(separator: ", ")))")
        }
        var maxTokens = r.maxTokens ?? policy.maxTokens
        let input = Money.cost(tokens: r.promptTokenBound, pricePerMillion: p.price.input)
        var reservation = Money.add(input, Money.cost(tokens: Int64(maxTokens), pricePerMillion: p.price.output))
        if let cap = r.maxCost, cap < reservation {
            let left = cap - input
            let covered: Int64 = left < 0 ? 0 : Money.tokensCovered(by: left, pricePerMillion: p.price.output) ?? Int64(maxTokens)
            guard covered >= 1 else {
                throw FSError(.budgetExceeded, "max_cost \(Money.format(cap)) does not cover the prompt and one token at '\(name)' prices")
            }
            maxTokens = Int(min(Int64(maxTokens), covered))
            reservation = Money.add(input, Money.cost(tokens: Int64(maxTokens), pricePerMillion: p.price.output))
        }
        let request = CompletionRequest(model: model, messages: r.messages, maxTokens: maxTokens, temperature: r.temperature, stop: r.stop)
        return JobPlan(provider: name, request: request, reservation: reservation)
    }
}
