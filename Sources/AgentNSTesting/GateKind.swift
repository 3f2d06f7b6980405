public import Runtime
import Synchronization

/// Ticks that wait until the test opens their agent's gate: a test can hold any number of
/// ticks (and whatever waits on them) in flight at once, then let them go.
public struct GateKind: AgentKind {
    public let name = "gate"
    public init() {}

    /// Per agent: whether its gate is open, and how many of its ticks are waiting.
    static let gates = Mutex<[String: (open: Bool, waiting: Int)]>([:])

    public static func open(_ agent: String) { gates.withLock { $0[agent, default: (false, 0)].open = true } }

    /// Ticks of `agents` waiting at their gates now.
    public static func waiting(_ agents: [String]) -> Int { gates.withLock { g in agents.reduce(0) { $0 + (g[$1]?.waiting ?? 0) } } }

    public func onTick(_ context: TickContext) async throws {
        let id = context.agentID
        Self.gates.withLock { $0[id, default: (false, 0)].waiting += 1 }
        defer { Self.gates.withLock { $0[id]?.waiting -= 1 } }
        while !Self.gates.withLock({ $0[id]?.open ?? false }) {
            try await Task.sleep(for: .milliseconds(5))
        }
    }
}
