public import Namespace

/// Replies to each message with its body and counts messages in its state. Deterministic:
/// for tests and demos.
public struct EchoKind: AgentKind {
    public let name = "echo"
    public init() {}

    public func onTick(_ context: TickContext) async throws {
        var count = context.state["messages"]?.intValue ?? 0
        for envelope in context.envelopes {
            context.trace("message", ["id": .string(envelope.id), "from": .string(envelope.from)])
            context.reply(to: envelope, body: envelope.body)
            if count < .max { count += 1 }
        }
        var state = context.state.objectValue ?? [:]
        state["messages"] = .int(count)
        if let last = context.envelopes.last { state["last_from"] = .string(last.from) }
        context.state = .object(state)
    }
}
