public import Namespace

/// Answers each message with a model: the message submits a compute job keyed by its envelope
/// id (a redelivered message finds the same job and never calls the model twice), and the
/// job's notice makes the reply. Config: `{"provider"?, "model"?, "system"?, "max_tokens"?,
/// "temperature"?, "memory"?}`; `memory` is how many past turns (a message and its answer) go
/// with each request, kept in state.
///
/// State: `pending` maps job ids to the message they answer; `deferred` holds messages waiting
/// for a free job slot (compute/policy `max_running`), in arrival order; `history` holds the last
/// turns. A message the budget cannot pay for is answered with the refusal, not retried.
public struct LLMKind: AgentKind {
    public let name = "llm"
    public init() {}

    public static let maxMemory = 100
    /// Bytes of one remembered message.
    public static let maxTurnBytes = 16 << 10

    struct Config {
        var provider: String?
        var model: String?
        var system: String?
        var maxTokens: Int?
        var temperature: Double?
        var memory = 4

        init(_ config: JSON) throws(FSError) {
            func bad(_ m: String) -> FSError { FSError.invalidInput("llm config: " + m) }
            func string(_ k: String) throws(FSError) -> String? {
                guard let v = config[k], v != .null else { return nil }
                guard let s = v.stringValue, s.utf8.count <= 64 << 10 else { throw bad("'\(k)' is a string") }
                return s
            }
            provider = try string("provider")
            model = try string("model")
            system = try string("system")
            if let v = config["max_tokens"], v != .null {
                guard case .integer(let i) = v, i >= 1, i <= Int64(ComputePolicy.maxTokensCeiling) else { throw bad("'max_tokens' is an integer, 1 or more") }
                maxTokens = Int(i)
            }
            if let v = config["temperature"], v != .null {
                guard let t = v.doubleValue, t >= 0, t <= 2 else { throw bad("'temperature' is a number in 0...2") }
                temperature = t
            }
            if let v = config["memory"], v != .null {
                guard case .integer(let i) = v, i >= 0, i <= Int64(LLMKind.maxMemory) else { throw bad("'memory' is an integer in 0...\(LLMKind.maxMemory)") }
                memory = Int(i)
            }
        }
    }

    public func validate(config: JSON) throws { _ = try Config(config) }

    public func onTick(_ context: TickContext) async throws {
        let config = try Config(context.config)
        var state = context.state.objectValue ?? [:]
        var pending = state["pending"]?.objectValue ?? [:]
        var history = state["history"]?.arrayValue ?? []
        var deferred = state["deferred"]?.arrayValue ?? []
        for envelope in context.envelopes {
            if envelope.from == "compute", envelope.kind == "job", let jobID = envelope.body["job_id"]?.stringValue {
                guard let asked = pending.removeValue(forKey: jobID) else {
                    context.trace("llm_unknown_job", ["job": .string(jobID)])
                    continue
                }
                let job = try await context.compute?.job(jobID)
                let to = Envelope(id: asked["in_reply_to"]?.stringValue ?? "", from: asked["to"]?.stringValue ?? "", kind: "message", body: .null,
                                  sentAt: context.now)
                if let job, job.state == .succeeded, let text = job.text {
                    context.reply(to: to, body: .string(text))
                    // Turns kept for memory are bounded in bytes too: state is rewritten every tick.
                    func kept(_ s: String) -> JSON {
                        .string(s.utf8.count <= Self.maxTurnBytes ? s : String(decoding: s.utf8.prefix(Self.maxTurnBytes), as: UTF8.self))
                    }
                    history += [.object(["role": "user", "content": kept(asked["prompt"]?.stringValue ?? "")]),
                                .object(["role": "assistant", "content": kept(text)])]
                } else {
                    let why = job?.error ?? "the job \(jobID) is gone"
                    context.reply(to: to, body: .object(["error": .string("the model could not answer: \(why)"), "job_id": .string(jobID)]))
                }
                continue
            }
            context.trace("message", ["id": .string(envelope.id), "from": .string(envelope.from)])
            let prompt = envelope.body.stringValue ?? envelope.body.description
            deferred.append(.object(["in_reply_to": .string(envelope.id), "to": .string(envelope.from), "prompt": .string(prompt)]))
        }
        // Submit in arrival order until the agent's open jobs are at compute/policy's
        // max_running; the rest wait in state for a notice to free a slot (never a failed tick,
        // which would dead-letter them after its retries).
        guard let compute = context.compute else { throw FSError(.unavailable, "this runtime offers no compute") }
        while let asked = deferred.first {
            let inReplyTo = asked["in_reply_to"]?.stringValue ?? ""
            let prompt = asked["prompt"]?.stringValue ?? ""
            var messages: [ChatMessage] = []
            if let system = config.system { messages.append(ChatMessage(role: "system", content: system)) }
            for turn in history.suffix(config.memory * 2) {
                messages.append(ChatMessage(role: turn["role"]?.stringValue ?? "user", content: turn["content"]?.stringValue ?? ""))
            }
            messages.append(ChatMessage(role: "user", content: prompt))
            let request = JobRequest(provider: config.provider, model: config.model, messages: messages, maxTokens: config.maxTokens,
                                     temperature: config.temperature, idempotencyKey: "env:" + inReplyTo)
            do {
                let job = try await compute.submit(request)
                pending[job.id] = asked
                deferred.removeFirst()
            } catch let e as FSError where e.code == .queueFull {
                context.trace("llm_deferred", ["waiting": .int(deferred.count)])
                break
            } catch let e as FSError where [.budgetExceeded, .invalidInput, .notFound, .permissionDenied, .payloadTooLarge].contains(e.code) {
                // Retrying cannot help: say so to the sender instead of dead-lettering after retries.
                let to = Envelope(id: inReplyTo, from: asked["to"]?.stringValue ?? "", kind: "message", body: .null, sentAt: context.now)
                context.reply(to: to, body: .object(["error": .string(e.message), "code": .string(e.code.rawValue)]))
                deferred.removeFirst()
            }
        }
        state["deferred"] = .array(deferred)
        state["pending"] = .object(pending)
        state["history"] = .array(Array(history.suffix(config.memory * 2)))
        context.state = .object(state)
    }
}
