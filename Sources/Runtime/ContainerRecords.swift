public import Namespace

/// A `containers/` session as the store keeps it.
public struct ContainerSession: Sendable, Equatable {
    public enum State: String, Sendable, CaseIterable {
        case running, stopped, expired, failed
        public var isLive: Bool { self == .running }
    }

    public var id: String
    public var agent: String
    public var provider: String
    public var state: State
    /// What each exec gets unless it asks for less (never more than the policy's maximum).
    public var limits: SandboxLimits
    public var createdAt: Int64
    /// The last exec's start or end (idle expiry counts from it).
    public var lastUsedAt: Int64
    public var idleMs: Int64
    public var endedAt: Int64?
    public var error: String?
    /// Totals over its execs.
    public var execs: Int64 = 0
    public var cpuMs: Int64 = 0
    public var cost: Int64 = 0
    /// Bytes of the session's `output` so far.
    public var outputBytes: Int64 = 0

    public init(id: String, agent: String, provider: String, state: State = .running, limits: SandboxLimits, createdAt: Int64, idleMs: Int64) {
        self.id = id
        self.agent = agent
        self.provider = provider
        self.state = state
        self.limits = limits
        self.createdAt = createdAt
        self.lastUsedAt = createdAt
        self.idleMs = idleMs
    }

    public var expiresAt: Int64 { Money.add(lastUsedAt, idleMs) }

    /// `sessions/<s>/status`.
    public func statusJSON(running: Int64, diskBytes: Int64?) -> JSON {
        var usage: [String: JSON] = ["execs": .int64(execs), "running": .int64(running), "cpu_ms": .int64(cpuMs), "cost": .int64(cost)]
        if let diskBytes { usage["disk_bytes"] = .int64(diskBytes) }
        var o: [String: JSON] = [
            "id": .string(id), "state": .string(state.rawValue), "provider": .string(provider), "limits": limits.json,
            "usage": .object(usage), "created_at": .string(Timestamp.iso(createdAt)),
            "last_used_at": .string(Timestamp.iso(lastUsedAt)),
            "expires_at": state.isLive ? .string(Timestamp.iso(expiresAt)) : .null,
        ]
        if let endedAt { o["ended_at"] = .string(Timestamp.iso(endedAt)) }
        if let error { o["error"] = .string(error) }
        return .object(o)
    }
}

/// One exec of a session.
public struct ContainerExec: Sendable, Equatable {
    public enum State: String, Sendable, CaseIterable {
        case running, exited, killed
        public var isFinished: Bool { self != .running }
    }

    public var id: String
    public var agent: String
    public var session: String
    public var state: State
    public var argv: [String]
    public var limits: SandboxLimits
    public var reserved: Int64
    public var cost: Int64?
    public var startedAt: Int64
    public var finishedAt: Int64?
    /// `result`, once it has ended.
    public var result: JSON?
    public var outputBytes: Int64 = 0

    public init(id: String, agent: String, session: String, state: State = .running, argv: [String], limits: SandboxLimits, reserved: Int64,
                startedAt: Int64) {
        self.id = id
        self.agent = agent
        self.session = session
        self.state = state
        self.argv = argv
        self.limits = limits
        self.reserved = reserved
        self.startedAt = startedAt
    }

    /// `exec/<e>/status`.
    public var statusJSON: JSON {
        var o: [String: JSON] = [
            "id": .string(id), "session_id": .string(session), "state": .string(state.rawValue),
            "argv": .array(argv.map { .string($0) }), "limits": limits.json, "reserved": .int64(reserved),
            "cost": cost.map { .int64($0) } ?? .null, "started_at": .string(Timestamp.iso(startedAt)),
            "finished_at": finishedAt.map { .string(Timestamp.iso($0)) } ?? .null,
        ]
        if let code = result?["exit_code"] { o["exit_code"] = code }
        return .object(o)
    }

    /// The envelope that tells the agent its exec ended.
    public func notice(at: Int64) -> Envelope {
        Envelope(id: "\(id).done", from: "containers", kind: "exec",
                 body: .object(["session_id": .string(session), "exec_id": .string(id), "exit_code": result?["exit_code"] ?? .null]),
                 sentAt: at)
    }
}

extension SandboxExit {
    /// `exec/<e>/result`.
    public var json: JSON {
        var o: [String: JSON] = [
            "exit_code": exitCode.map { .int(Int($0)) } ?? .null, "duration_ms": .int64(durationMs), "cpu_ms": .int64(cpuMs),
            "max_rss_kb": .int64(maxRSSKB), "truncated": .bool(truncated),
        ]
        if let signal { o["signal"] = .int(Int(signal)) }
        if let killedBy { o["killed_by"] = .string(killedBy.rawValue) }
        if cancelled { o["cancelled"] = .bool(true) }
        return .object(o)
    }

    /// The state an exec that ended this way is in.
    public var execState: ContainerExec.State { killedBy != nil || cancelled || (exitCode == nil && signal != nil) ? .killed : .exited }
}

extension SandboxLimits {
    static var keys: [(String, WritableKeyPath<SandboxLimits, Int64>, ClosedRange<Int64>)] { [
        ("memory_bytes", \.memoryBytes, (1 << 20)...(1 << 40)),
        ("pids", \.pids, 1...65_536),
        ("cpu_ms", \.cpuMs, 1...86_400_000),
        ("timeout_ms", \.timeoutMs, 1...86_400_000),
        ("output_bytes", \.outputBytes, 0...(1 << 34)),
        ("disk_bytes", \.diskBytes, 0...(1 << 44)),
    ] }

    /// Defaults of a policy that names none: 256 MiB, 64 processes, 10 s of CPU, 30 s of wall
    /// time, 1 MiB of output, 64 MiB of work directory.
    public static let defaults = SandboxLimits(memoryBytes: 256 << 20, pids: 64, cpuMs: 10_000, timeoutMs: 30_000, outputBytes: 1 << 20,
                                               diskBytes: 64 << 20)
    /// The most a policy that names no maximum allows.
    public static let maximum = SandboxLimits(memoryBytes: 4 << 30, pids: 1024, cpuMs: 3_600_000, timeoutMs: 3_600_000, outputBytes: 64 << 20,
                                              diskBytes: 4 << 30)

    public var json: JSON {
        .object(Dictionary(uniqueKeysWithValues: Self.keys.map { ($0.0, JSON.int64(self[keyPath: $0.1])) }))
    }

    /// These limits with what `json` (an object of some of the keys) asks, each within
    /// `maximum`; `what` names the document for errors.
    public func applying(_ json: JSON?, maximum: SandboxLimits, what: String) throws(FSError) -> SandboxLimits {
        guard let json, json != .null else { return self.clamped(to: maximum) }
        guard let o = json.objectValue else { throw FSError.invalidInput("\(what) is a JSON object of limits (\(Self.keys.map(\.0).joined(separator: ", ")))") }
        var out = self
        for key in o.keys where !Self.keys.contains(where: { $0.0 == key }) {
            throw FSError.invalidInput("\(what): unknown limit '\(key)'; known: \(Self.keys.map(\.0).joined(separator: ", "))")
        }
        for (key, path, range) in Self.keys {
            guard let v = o[key], v != .null else { continue }
            guard case .integer(let i) = v, range.contains(i) else {
                throw FSError.invalidInput("\(what): '\(key)' is an integer in \(range.lowerBound)...\(range.upperBound)")
            }
            guard i <= maximum[keyPath: path] else {
                throw FSError.invalidInput("\(what): '\(key)' \(i) is above the policy's maximum of \(maximum[keyPath: path]) (containers/policy)")
            }
            out[keyPath: path] = i
        }
        return out.clamped(to: maximum)
    }

    func clamped(to maximum: SandboxLimits) -> SandboxLimits {
        var out = self
        for (_, path, _) in Self.keys { out[keyPath: path] = min(out[keyPath: path], maximum[keyPath: path]) }
        return out
    }
}

/// `containers/policy`: an agent's limits and defaults for sandboxes. Every key is optional.
///
/// ```
/// {"limit": 5000000, "per_day": 1000000, "per_tick": 100000, "per_job": 50000,
///  "price_per_cpu_second": 100, "max_sessions": 8, "max_running": 4, "idle_expiry_ms": 3600000,
///  "defaults": {"memory_bytes": 268435456, "timeout_ms": 30000}, "maximum": {"cpu_ms": 600000}}
/// ```
public struct ContainersPolicy: Sendable, Equatable {
    public var limits: BudgetLimits
    /// Micro-USD per CPU-second.
    public var pricePerCPUSecond: Int64
    public var maxSessions: Int
    /// Execs of the agent running at once, over all its sessions.
    public var maxRunning: Int
    public var idleExpiryMs: Int64
    public var defaults: SandboxLimits
    public var maximum: SandboxLimits

    public static let defaultPolicy = ContainersPolicy(limits: .none, pricePerCPUSecond: 100, maxSessions: 8, maxRunning: 4,
                                                       idleExpiryMs: 3_600_000, defaults: .defaults, maximum: .maximum)
    static let keys: Set<String> = ["limit", "per_day", "per_tick", "per_job", "price_per_cpu_second", "max_sessions", "max_running",
                                    "idle_expiry_ms", "defaults", "maximum"]

    public init(limits: BudgetLimits, pricePerCPUSecond: Int64, maxSessions: Int, maxRunning: Int, idleExpiryMs: Int64, defaults: SandboxLimits,
                maximum: SandboxLimits) {
        self.limits = limits
        self.pricePerCPUSecond = pricePerCPUSecond
        self.maxSessions = maxSessions
        self.maxRunning = maxRunning
        self.idleExpiryMs = idleExpiryMs
        self.defaults = defaults
        self.maximum = maximum
    }

    public init(json: JSON) throws(FSError) {
        guard let o = json.objectValue else { throw FSError.invalidInput("containers/policy is a JSON object") }
        for key in o.keys where !Self.keys.contains(key) {
            throw FSError.invalidInput("containers/policy: unknown key '\(key)'; known: \(Self.keys.sorted().joined(separator: ", "))")
        }
        func integer(_ key: String, _ range: ClosedRange<Int64>, _ what: String) throws(FSError) -> Int64? {
            guard let v = o[key], v != .null else { return nil }
            guard case .integer(let i) = v, range.contains(i) else {
                throw FSError.invalidInput("containers/policy: '\(key)' is \(what) in \(range.lowerBound)...\(range.upperBound)")
            }
            return i
        }
        let money: ClosedRange<Int64> = 0...Int64.max
        limits = BudgetLimits(life: try integer("limit", money, "micro-USD"), perDay: try integer("per_day", money, "micro-USD"),
                              perTick: try integer("per_tick", money, "micro-USD"), perJob: try integer("per_job", money, "micro-USD"))
        let d = Self.defaultPolicy
        pricePerCPUSecond = try integer("price_per_cpu_second", 0...1_000_000_000_000, "micro-USD") ?? d.pricePerCPUSecond
        maxSessions = Int(try integer("max_sessions", 1...1024, "a count") ?? Int64(d.maxSessions))
        maxRunning = Int(try integer("max_running", 1...1024, "a count") ?? Int64(d.maxRunning))
        idleExpiryMs = try integer("idle_expiry_ms", 1000...(365 * 86_400_000), "milliseconds") ?? d.idleExpiryMs
        maximum = try SandboxLimits.maximum.applying(o["maximum"], maximum: .maximum, what: "containers/policy 'maximum'")
        defaults = try SandboxLimits.defaults.clamped(to: maximum).applying(o["defaults"], maximum: maximum, what: "containers/policy 'defaults'")
    }

    /// The most an exec under `limits` may cost: its whole CPU limit at the policy's price.
    public func reservation(_ limits: SandboxLimits) -> Int64 { Self.cost(cpuMs: limits.cpuMs, pricePerSecond: pricePerCPUSecond) }

    /// CPU milliseconds at micro-USD per CPU-second, rounded up.
    public static func cost(cpuMs: Int64, pricePerSecond: Int64) -> Int64 {
        guard cpuMs > 0, pricePerSecond > 0 else { return 0 }
        let (high, low) = cpuMs.multipliedFullWidth(by: pricePerSecond)
        guard high == 0, low < UInt64(Int64.max) - 999 else { return .max }
        return Int64((low + 999) / 1000)
    }
}

/// A parsed `exec/new` request.
public struct ExecRequest: Sendable, Equatable {
    public var argv: [String]
    public var stdin: String
    public var env: [String: String]
    public var timeoutMs: Int64?
    public var limits: JSON?
    public var wait: Bool

    public static let maxArgs = 4096
    static let keys: Set<String> = ["argv", "stdin", "env", "timeout_ms", "limits", "wait"]

    public init(argv: [String], stdin: String = "", env: [String: String] = [:], timeoutMs: Int64? = nil, limits: JSON? = nil, wait: Bool = false) {
        self.argv = argv
        self.stdin = stdin
        self.env = env
        self.timeoutMs = timeoutMs
        self.limits = limits
        self.wait = wait
    }

    public init(json: JSON) throws(FSError) {
        guard let o = json.objectValue else {
            throw FSError.invalidInput(#"an exec request is a JSON object: {"argv": ["python3", "-c", "print(1)"], "wait": true}"#)
        }
        for key in o.keys where !Self.keys.contains(key) {
            throw FSError.invalidInput("exec/new: unknown key '\(key)'; known: \(Self.keys.sorted().joined(separator: ", "))")
        }
        guard let a = o["argv"]?.arrayValue, !a.isEmpty, a.count <= Self.maxArgs else {
            throw FSError.invalidInput("exec/new: 'argv' is a non-empty array of strings (the program and its arguments)")
        }
        var argv: [String] = []
        for v in a {
            guard let s = v.stringValue, !s.utf8.contains(0) else { throw FSError.invalidInput("exec/new: every 'argv' entry is a string without NUL") }
            argv.append(s)
        }
        guard !argv[0].isEmpty else { throw FSError.invalidInput("exec/new: argv[0] names the program") }
        self.argv = argv
        switch o["stdin"] {
        case nil, .null?: stdin = ""
        case .string(let s)?: stdin = s
        default: throw FSError.invalidInput("exec/new: 'stdin' is a string")
        }
        var env: [String: String] = [:]
        if let e = o["env"], e != .null {
            guard let eo = e.objectValue, eo.count <= 256 else { throw FSError.invalidInput("exec/new: 'env' is an object of strings") }
            for (k, v) in eo {
                guard Self.isEnvName(k) else { throw FSError.invalidInput("exec/new: '\(k)' is not an environment variable name ([A-Za-z_][A-Za-z0-9_]*)") }
                guard let s = v.stringValue, !s.utf8.contains(0) else { throw FSError.invalidInput("exec/new: env '\(k)' is a string without NUL") }
                env[k] = s
            }
        }
        self.env = env
        switch o["timeout_ms"] {
        case nil, .null?: timeoutMs = nil
        case .integer(let i)? where i >= 1 && i <= 86_400_000: timeoutMs = i
        default: throw FSError.invalidInput("exec/new: 'timeout_ms' is an integer in 1...86400000")
        }
        limits = o["limits"].flatMap { $0 == .null ? nil : $0 }
        switch o["wait"] {
        case nil, .null?: wait = false
        case .bool(let b)?: wait = b
        default: throw FSError.invalidInput("exec/new: 'wait' is true or false")
        }
    }

    static func isEnvName(_ s: String) -> Bool {
        guard let first = s.utf8.first, s.utf8.count <= 256, first == UInt8(ascii: "_") || (first | 0x20) >= 97 && (first | 0x20) <= 122 else { return false }
        return s.utf8.allSatisfy { c in c == UInt8(ascii: "_") || (c >= 48 && c <= 57) || ((c | 0x20) >= 97 && (c | 0x20) <= 122) }
    }
}
