/// What an agent principal may do under a mount. The operator is not bound by access levels.
public enum AccessLevel: String, Sendable, CaseIterable, Codable {
    case readOnly = "read-only"
    case readWrite = "read-write"
    /// Only reading and call files (identity's pubkey, sign and verify).
    case signOnly = "sign-only"
    /// Like read-write, but every write, call and create spends one unit of the agent's budget.
    case budgeted
    /// Visible in listings, every access refused.
    case disabled
}

/// Who is asking.
public enum Principal: Sendable, Hashable, CustomStringConvertible {
    case `operator`
    case agent(String)

    public var description: String {
        switch self {
        case .operator: "operator"
        case .agent(let id): "agent:\(id)"
        }
    }

    /// The sender name envelopes carry when this principal writes an inbox.
    public var senderName: String {
        switch self {
        case .operator: "operator"
        case .agent(let id): id
        }
    }
}
