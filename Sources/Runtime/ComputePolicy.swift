public import Namespace

/// `compute/policy`: an agent's limits and defaults for compute. Every key is optional; the
/// empty policy has no limits and takes the only provider there is.
///
/// ```
/// {"limit": 5000000, "per_day": 1000000, "per_tick": 100000, "per_job": 50000,
///  "provider": "local", "model": "smollm2", "providers": ["local"],
///  "max_tokens": 256, "max_running": 4}
/// ```
public struct ComputePolicy: Sendable, Equatable {
    public var limits: BudgetLimits
    public var provider: String?
    public var model: String?
    /// Providers the agent may use (nil: all).
    public var providers: [String]?
    /// Default max_tokens of a request that names none.
    public var maxTokens: Int
    /// Jobs of this agent open at once (queued or running) before `new` says queue_full.
    public var maxRunning: Int

    public static let maxTokensCeiling = 1 << 20
    public static let defaults = ComputePolicy(limits: .none, maxTokens: 256, maxRunning: 4)
    static let keys: Set<String> = ["limit", "per_day", "per_tick", "per_job", "provider", "model", "providers", "max_tokens", "max_running"]

    public init(limits: BudgetLimits, provider: String? = nil, model: String? = nil, providers: [String]? = nil, maxTokens: Int,
                maxRunning: Int) {
        self.limits = limits
        self.provider = provider
        self.model = model
        self.providers = providers
        self.maxTokens = maxTokens
        self.maxRunning = maxRunning
    }

    /// Validates a whole policy document (unknown keys and wrong types are invalid_input).
    public init(json: JSON) throws(FSError) {
        guard let o = json.objectValue else { throw FSError.invalidInput("compute/policy is a JSON object") }
        for key in o.keys where !Self.keys.contains(key) {
            throw FSError.invalidInput("compute/policy: unknown key '\(key)'; known: \(Self.keys.sorted().joined(separator: ", "))")
        }
        func money(_ key: String) throws(FSError) -> Int64? {
            guard let v = o[key], v != .null else { return nil }
            guard let i = v.int64Value, i >= 0, case .integer = v else {
                throw FSError.invalidInput("compute/policy: '\(key)' is an integer number of micro-USD, 0 or more")
            }
            return i
        }
        func count(_ key: String, _ range: ClosedRange<Int>, _ fallback: Int) throws(FSError) -> Int {
            guard let v = o[key], v != .null else { return fallback }
            guard case .integer(let i) = v, i >= range.lowerBound, i <= range.upperBound else {
                throw FSError.invalidInput("compute/policy: '\(key)' is an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            return Int(i)
        }
        func name(_ key: String) throws(FSError) -> String? {
            guard let v = o[key], v != .null else { return nil }
            guard let s = v.stringValue, !s.isEmpty, s.utf8.count <= 200 else {
                throw FSError.invalidInput("compute/policy: '\(key)' is a non-empty string")
            }
            return s
        }
        limits = BudgetLimits(life: try money("limit"), perDay: try money("per_day"), perTick: try money("per_tick"), perJob: try money("per_job"))
        provider = try name("provider")
        model = try name("model")
        if let v = o["providers"], v != .null {
            guard let a = v.arrayValue, a.count <= 100, a.allSatisfy({ $0.stringValue != nil }) else {
                throw FSError.invalidInput("compute/policy: 'providers' is an array of provider names")
            }
            providers = a.compactMap(\.stringValue)
        } else {
            providers = nil
        }
        maxTokens = try count("max_tokens", 1...Self.maxTokensCeiling, Self.defaults.maxTokens)
        maxRunning = try count("max_running", 1...1024, Self.defaults.maxRunning)
    }
}
