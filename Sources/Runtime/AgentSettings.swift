public import Namespace

/// The parts of an agent's config that the runtime itself reads, validated as a whole.
/// Other top-level keys belong to the agent's kind and are kept as they are.
public struct AgentSettings: Sendable, Equatable {
    public struct ConfigAlarm: Sendable, Equatable {
        public var id: String
        public var at: Int64?
        public var everyMs: Int64?
    }

    public var name: String?
    public var maxDepth = 1000
    public var overflow = OverflowPolicy.deadLetter
    public var maxAttempts = 3
    public var backoffMs: Int64 = 1000
    public var maxBatch = 1
    public var alarms: [ConfigAlarm] = []
    public var access: [Path: AccessLevel] = [:]
    public var budgetLimit: Int64?

    public static let defaults = AgentSettings()

    init() {}

    public init(config: JSON) throws(FSError) {
        guard case .object(let top) = config else { throw FSError.invalidInput("config must be a JSON object") }
        func fail(_ key: String, _ why: String) -> FSError { FSError.invalidInput("config.\(key): \(why)") }
        func object(_ key: String, allowed: Set<String>) throws(FSError) -> [String: JSON] {
            guard let v = top[key] else { return [:] }
            guard case .object(let o) = v else { throw fail(key, "must be an object") }
            for k in o.keys where !allowed.contains(k) {
                throw fail("\(key).\(k)", "unknown setting; expected one of: \(allowed.sorted().joined(separator: ", "))")
            }
            return o
        }
        func int(_ v: JSON?, _ key: String, _ range: ClosedRange<Int64>) throws(FSError) -> Int64? {
            guard let v else { return nil }
            guard let i = v.intValue, range.contains(Int64(i)) else { throw fail(key, "must be a whole number in \(range.lowerBound)...\(range.upperBound)") }
            return Int64(i)
        }

        if let n = top["name"] {
            guard let s = n.stringValue, s.count <= 200 else { throw fail("name", "must be a string of at most 200 characters") }
            name = s
        }
        let inbox = try object("inbox", allowed: ["max_depth", "overflow"])
        if let d = try int(inbox["max_depth"], "inbox.max_depth", 1...1_000_000) { maxDepth = Int(d) }
        if let p = inbox["overflow"] {
            guard let s = p.stringValue, let policy = OverflowPolicy(rawValue: s) else {
                throw fail("inbox.overflow", "must be one of: reject, drop_oldest, dead_letter")
            }
            overflow = policy
        }
        let retry = try object("retry", allowed: ["max_attempts", "backoff_ms"])
        if let a = try int(retry["max_attempts"], "retry.max_attempts", 1...100) { maxAttempts = Int(a) }
        if let b = try int(retry["backoff_ms"], "retry.backoff_ms", 0...3_600_000) { backoffMs = b }
        let tick = try object("tick", allowed: ["max_batch"])
        if let m = try int(tick["max_batch"], "tick.max_batch", 1...1000) { maxBatch = Int(m) }
        let budget = try object("budget", allowed: ["limit"])
        budgetLimit = try int(budget["limit"], "budget.limit", 0...Int64(1) << 50)

        if let a = top["alarms"] {
            guard case .array(let list) = a, list.count <= 100 else { throw fail("alarms", "must be an array of at most 100 alarms") }
            var ids = Set<String>()
            for (i, item) in list.enumerated() {
                let key = "alarms[\(i)]"
                guard case .object(let o) = item else { throw fail(key, "must be an object {\"id\", \"at\" and/or \"every_ms\"}") }
                for k in o.keys where !["id", "at", "every_ms"].contains(k) { throw fail("\(key).\(k)", "unknown setting; expected id, at, every_ms") }
                guard let id = o["id"]?.stringValue, AgentID.isValid(id) else {
                    throw fail("\(key).id", "must be a string matching [a-z0-9][a-z0-9._-]{0,62}")
                }
                guard ids.insert(id).inserted else { throw fail("\(key).id", "duplicate alarm id '\(id)'") }
                var at: Int64?
                if let t = o["at"] {
                    if let s = t.stringValue, let ms = Timestamp.parse(s) {
                        at = ms
                    } else if let ms = t.intValue, ms >= 0, Int64(ms) <= Alarm.maxTime {
                        at = Int64(ms)
                    } else {
                        throw fail("\(key).at", "must be an RFC 3339 UTC time (2026-01-02T03:04:05Z) or milliseconds since the epoch")
                    }
                }
                let every = try int(o["every_ms"], "\(key).every_ms", 10...Int64(1) << 40)
                guard at != nil || every != nil else { throw fail(key, "needs \"at\", \"every_ms\" or both") }
                alarms.append(ConfigAlarm(id: id, at: at, everyMs: every))
            }
        }
        if let a = top["access"] {
            guard case .object(let o) = a else { throw fail("access", "must be an object of mount path to access level") }
            for (path, level) in o {
                guard let parsed = try? Path(path), !parsed.isRoot else { throw fail("access", "'\(path)' is not a mount path") }
                guard let s = level.stringValue, let l = AccessLevel(rawValue: s) else {
                    throw fail("access.\(path)", "must be one of: \(AccessLevel.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                access[parsed] = l
            }
        }
    }

    /// The alarms the config asks for, as of `now`.
    public func configAlarms(now: Int64) -> [Alarm] { alarms.map { Self.alarm($0, now: now) } }

    /// What a config change does to the config's alarms: the new or changed ones are set afresh,
    /// the ones no longer listed go. An alarm listed as before is left alone, so a one-shot that
    /// already fired does not fire again and a periodic one keeps its phase.
    public func configAlarmChanges(from before: [ConfigAlarm], now: Int64) -> (set: [Alarm], removed: [String]) {
        let old = Dictionary(before.map { ($0.id, $0) }, uniquingKeysWith: { a, _ in a })
        let set = alarms.filter { old[$0.id] != $0 }.map { Self.alarm($0, now: now) }
        let ids = Set(alarms.map(\.id))
        return (set, before.map(\.id).filter { !ids.contains($0) })
    }

    static func alarm(_ a: ConfigAlarm, now: Int64) -> Alarm {
        Alarm(id: a.id, dueAt: a.at ?? (now + (a.everyMs ?? 0)), everyMs: a.everyMs, source: .config)
    }

    /// The retry delay after `attempts` failures: exponential, capped at one minute.
    public func backoff(afterAttempts attempts: Int) -> Int64 {
        guard backoffMs > 0 else { return 0 }
        let shift = min(max(attempts - 1, 0), 16)
        return min(backoffMs << shift, max(backoffMs, 60_000))
    }
}
