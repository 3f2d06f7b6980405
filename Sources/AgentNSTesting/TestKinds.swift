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
        r.register(SpenderKind())
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

/// Ticks that wait at a gate the test opens: for what happens while a tick is running (the
/// agent deleted and created again under it). A tick of an agent whose gate is closed counts
/// itself as entered and waits; `open` lets every waiting and later tick of it through. Each
/// tick writes state, an outbox line, a goal and an alarm, so a stale commit would show.
public struct GateKind: AgentKind {
    public let name = "gate"
    public init() {}

    struct Gate {
        var closed = true
        var entered = 0
        var waiting: [CheckedContinuation<Void, Never>] = []
    }

    static let gates = Mutex<[String: Gate]>([:])

    /// Closes `agent`'s gate (use ids no other test uses: gates are per process).
    public static func close(_ agent: String) { gates.withLock { $0[agent] = Gate() } }

    public static func open(_ agent: String) {
        let waiting = gates.withLock { g -> [CheckedContinuation<Void, Never>] in
            var gate = g[agent] ?? Gate()
            gate.closed = false
            defer { gate.waiting = []; g[agent] = gate }
            return gate.waiting
        }
        for c in waiting { c.resume() }
    }

    /// Ticks of `agent` that reached the gate so far.
    public static func entered(_ agent: String) -> Int { gates.withLock { $0[agent]?.entered ?? 0 } }

    public func onTick(_ context: TickContext) async throws {
        let id = context.agentID
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let wait = Self.gates.withLock { g -> Bool in
                var gate = g[id] ?? Gate(closed: false)
                gate.entered += 1
                if gate.closed { gate.waiting.append(c) }
                g[id] = gate
                return gate.closed
            }
            if !wait { c.resume() }
        }
        var state = context.state.objectValue ?? [:]
        state["gated"] = .int((state["gated"]?.intValue ?? 0) + 1)
        context.state = .object(state)
        context.emit(.object(["through": "gate"]))
        try context.setGoal("gated", .object(["by": "gate"]))
        try context.schedule(alarm: "gated", at: context.now + 3_600_000)
    }
}

/// Spends `config.spend` budget units (default 1) on every tick and echoes its envelopes: for
/// budget checks at commit.
public struct SpenderKind: AgentKind {
    public let name = "spender"
    public init() {}

    public func validate(config: JSON) throws {}

    public func onTick(_ context: TickContext) async throws {
        context.spend(Int64(context.config["spend"]?.intValue ?? 1))
        for e in context.envelopes { context.emit(.object(["echo": e.body])) }
    }
}
