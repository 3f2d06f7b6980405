public import Namespace

/// Counts alarms: on creation it schedules an alarm every `config.interval_ms` (default
/// 1000 ms) and each alarm tick adds one to `state.count`. A message `stop` cancels the alarm,
/// `start` schedules it again. For tests of alarms, restarts and scheduling.
public struct CounterKind: AgentKind {
    public let name = "counter"
    public init() {}

    func interval(_ config: JSON) -> Int64 { Int64(config["interval_ms"]?.intValue ?? 1000) }

    public func validate(config: JSON) throws {
        if let v = config["interval_ms"], !Alarm.periods.contains(Int64(v.intValue ?? 0)) {
            throw FSError.invalidInput("config.interval_ms must be a whole number in \(Alarm.periods.lowerBound)...\(Alarm.periods.upperBound)")
        }
    }

    public func onCreate(_ context: TickContext) async throws {
        let every = interval(context.config)
        try context.schedule(alarm: "count", at: context.now + every, everyMs: every)
        context.state = .object(["count": .int(0)])
    }

    public func onTick(_ context: TickContext) async throws {
        var state = context.state.objectValue ?? [:]
        var count = state["count"]?.intValue ?? 0
        count = count.addingReportingOverflow(context.alarms.filter { $0.id == "count" }.count).overflow ? .max
            : count + context.alarms.filter { $0.id == "count" }.count
        for envelope in context.envelopes {
            switch envelope.body.stringValue {
            case "stop": context.cancel(alarm: "count")
            case "start":
                let every = interval(context.config)
                try context.schedule(alarm: "count", at: context.now + every, everyMs: every)
            default: break
            }
        }
        state["count"] = .int(count)
        context.state = .object(state)
        context.emit(.object(["count": .int(count), "at": .string(Timestamp.iso(context.now))]))
    }
}
