/// What a request does, for the central access check.
public enum Operation: String, Sendable, CaseIterable {
    case stat, read, list, watch, write, call, create, remove

    var mutates: Bool {
        switch self {
        case .write, .call, .create, .remove: true
        case .stat, .read, .list, .watch: false
        }
    }
}

extension AccessLevel {
    /// Whether an agent principal may do `op` under a mount with this level.
    public func permits(_ op: Operation) -> Bool {
        switch self {
        case .disabled: false
        case .readWrite, .budgeted: true
        case .readOnly: !op.mutates
        case .signOnly: !op.mutates || op == .call
        }
    }

    /// Whether `op` spends budget.
    public func charges(_ op: Operation) -> Bool { self == .budgeted && (op == .write || op == .call || op == .create) }
}

/// Where budgeted mounts spend. The runtime implements it over the agent's counters.
public protocol BudgetLedger: Sendable {
    /// Spends `units`, or throws budget_exceeded and spends nothing.
    func spend(agent: String, units: Int, path: String) async throws
    /// Gives back `units` spent for an operation that then failed.
    func refund(agent: String, units: Int, path: String) async throws
}
