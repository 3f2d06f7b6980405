public import Namespace

/// A kind of agent: a small type the runtime calls for each tick. It sees the world only
/// through its context, and everything it does is an effect recorded there and committed with
/// the tick (or dropped with it when the tick throws).
public protocol AgentKind: Sendable {
    var name: String { get }
    /// Checks the kind's own config keys; the default accepts anything.
    func validate(config: JSON) throws
    /// Runs once when the agent is created; its effects commit with the creation.
    func onCreate(_ context: TickContext) async throws
    /// One tick: `context.envelopes` and `context.alarms` are what caused it.
    func onTick(_ context: TickContext) async throws
}

extension AgentKind {
    public func validate(config: JSON) throws {}
    public func onCreate(_ context: TickContext) async throws {}
}

/// A tick's view of its agent and the effects it asks for.
public final class TickContext {
    public let agentID: String
    public let config: JSON
    public let cause: TickCause
    public let now: Int64
    public let envelopes: [Envelope]
    public let alarms: [Alarm]
    /// The agent's state; assign to change it.
    public var state: JSON
    /// The agent's compute (jobs are admitted at once, outside the tick's transaction; their
    /// idempotency keys make a retried tick harmless). nil where the runtime offers none.
    public let compute: (any TickCompute)?
    /// The tick's number (the agent's tick_count once it commits).
    public let tick: Int64
    /// Runs an exec agent's program (nil where the runtime has no sandbox).
    public let exec: (any TickExec)?

    public private(set) var outbox: [JSON] = []
    public private(set) var trace: [JSON] = []
    public private(set) var goalsPut: [String: JSON] = [:]
    public private(set) var goalsRemoved: [String] = []
    public private(set) var alarmsSet: [Alarm] = []
    public private(set) var alarmsCancelled: [String] = []
    public private(set) var budgetSpend: Int64 = 0

    public init(agentID: String, config: JSON, state: JSON, cause: TickCause, now: Int64, envelopes: [Envelope] = [], alarms: [Alarm] = [],
                compute: (any TickCompute)? = nil, tick: Int64 = 0, exec: (any TickExec)? = nil) {
        self.agentID = agentID
        self.compute = compute
        self.tick = tick
        self.exec = exec
        self.config = config
        self.state = state
        self.cause = cause
        self.now = now
        self.envelopes = envelopes
        self.alarms = alarms
    }

    /// Appends a record to the outbox.
    public func emit(_ record: JSON) { outbox.append(record) }

    /// Replies to an envelope: an outbox record and a `reply` trace line.
    public func reply(to envelope: Envelope, body: JSON) {
        outbox.append(.object(["type": .string("reply"), "to": .string(envelope.from), "in_reply_to": .string(envelope.id),
                               "body": body, "at": .string(Timestamp.iso(now))]))
        trace("reply", ["in_reply_to": .string(envelope.id), "to": .string(envelope.from)])
    }

    public func trace(_ type: String, _ fields: [String: JSON] = [:]) { trace.append(Trace.record(type, at: now, fields)) }
    /// Appends a trace record made elsewhere (Trace.record).
    public func append(trace record: JSON) { trace.append(record) }

    public func setGoal(_ id: String, _ body: JSON) throws {
        _ = try AgentID.validate(id, what: "id")
        goalsPut[id] = body
        goalsRemoved.removeAll { $0 == id }
    }

    public func removeGoal(_ id: String) {
        goalsPut[id] = nil
        goalsRemoved.append(id)
    }

    /// Schedules (or moves) an alarm of the agent's own.
    public func schedule(alarm id: String, at: Int64, everyMs: Int64? = nil) throws {
        _ = try AgentID.validate(id, what: "id")
        guard (0...Alarm.maxTime).contains(at) else { throw FSError.invalidInput("alarm '\(id)': time \(at) is out of range") }
        if let everyMs, !Alarm.periods.contains(everyMs) {
            throw FSError.invalidInput("alarm '\(id)': every_ms must be in \(Alarm.periods.lowerBound)...\(Alarm.periods.upperBound)")
        }
        alarmsSet.removeAll { $0.id == id }
        alarmsSet.append(Alarm(id: id, dueAt: at, everyMs: everyMs, source: .agent))
    }

    public func cancel(alarm id: String) {
        alarmsSet.removeAll { $0.id == id }
        alarmsCancelled.append(id)
    }

    /// Spends budget units with the tick (checked against config.budget.limit at commit).
    /// Spends `units` (negative is nothing) of the agent's budget; the tick's total saturates.
    public func spend(_ units: Int64) {
        guard units > 0 else { return }
        budgetSpend = budgetSpend.addingReportingOverflow(units).overflow ? .max : budgetSpend + units
    }
}

/// Kinds by name.
public struct KindRegistry: Sendable {
    var kinds: [String: any AgentKind] = [:]

    public init(_ kinds: [any AgentKind] = []) {
        for k in kinds { register(k) }
    }

    /// The kinds that ship: echo, counter, llm and exec.
    public static let standard = KindRegistry([EchoKind(), CounterKind(), LLMKind(), ExecKind()])

    public mutating func register(_ kind: any AgentKind) { kinds[kind.name] = kind }

    public func kind(named name: String) -> (any AgentKind)? { kinds[name] }

    public var names: [String] { kinds.keys.sorted() }
}

/// What a tick may do with compute.
public protocol TickCompute: Sendable {
    func submit(_ request: JobRequest) async throws -> ComputeJob
    func job(_ id: String) async throws -> ComputeJob?
}
