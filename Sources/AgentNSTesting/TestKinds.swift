public import Namespace
public import Runtime
import Synchronization

extension KindRegistry {
    /// The standard kinds plus the test kinds.
    public static var testing: KindRegistry {
        var r = KindRegistry.standard
        r.register(FaultyKind())
        r.register(ProbeKind())
        r.register(GateKind())
        return r
    }
}

/// Does everything a tick can do (state, outbox, trace, goals, alarms) and then throws when a
/// message body is "fail" — or every time while `config.fail` is true. For atomic-commit and
/// retry tests.
public struct FaultyKind: AgentKind {
    public let name = "faulty"
    public init() {}

    public struct Boom: Error, CustomStringConvertible {
        public var description: String { "boom: the faulty kind failed on purpose" }
    }

    public func onTick(_ context: TickContext) async throws {
        var state = context.state.objectValue ?? [:]
        state["ticks"] = .int((state["ticks"]?.intValue ?? 0) + 1)
        context.state = .object(state)
        for e in context.envelopes {
            context.emit(.object(["echo": e.body]))
            context.trace("message", ["id": .string(e.id)])
        }
        try context.setGoal("from-tick", .object(["n": .int(state["ticks"]?.intValue ?? 0)]))
        try context.schedule(alarm: "later", at: context.now + 3_600_000)
        let failing = context.config["fail"]?.boolValue == true || context.envelopes.contains { $0.body.stringValue == "fail" }
        if failing { throw Boom() }
    }
}

/// Records how many of its ticks run at once (across all probe agents of the process), and
/// yields mid-tick so overlapping ticks would show. For the single-tick guarantee.
public struct ProbeKind: AgentKind {
    public let name = "probe"
    public init() {}

    /// Per agent: ticks running now, and the most seen at once.
    static let inFlight = Mutex<[String: (now: Int, max: Int)]>([:])

    public static func maxConcurrent(_ agent: String) -> Int { inFlight.withLock { $0[agent]?.max ?? 0 } }

    public func onTick(_ context: TickContext) async throws {
        let id = context.agentID
        Self.inFlight.withLock { m in
            var e = m[id] ?? (0, 0)
            e.now += 1
            e.max = max(e.max, e.now)
            m[id] = e
        }
        for _ in 0..<5 { await Task.yield() }
        var state = context.state.objectValue ?? [:]
        var seen = state["seen"]?.arrayValue ?? []
        for e in context.envelopes { seen.append(.object(["id": .string(e.id), "from": .string(e.from), "body": e.body])) }
        state["seen"] = .array(seen)
        context.state = .object(state)
        Self.inFlight.withLock { m in m[id]?.now -= 1 }
    }
}
