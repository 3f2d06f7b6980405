public import Foundation
public import Namespace
public import Services

/// Everything one agent is, as data: what `agentctl export` writes and `agentctl import`
/// reads (docs/decisions.md, "Export and import"). Its JSON form is versioned; times are
/// milliseconds since the epoch so a round trip is exact. Agent tokens are never part of it
/// (they are credentials of one agentd), and the private key only when asked for.
public struct AgentBundle: Sendable, Equatable {
    public static let format = "agentns.bundle"
    public static let version = 1

    public var record: AgentRecord
    public var publicKey: String
    /// The 32-byte BIP-340 secret, or nil when the export left it out.
    public var secret: [UInt8]?
    public var alarms: [Alarm]
    public var goals: [Goal]
    /// Pending envelopes in acceptance order, with their attempts.
    public var inbox: [Envelope]
    public var deadLetters: [DeadLetter]
    /// The retained lines of each log, oldest first.
    public var logs: [LogName: [String]]
    /// Envelope ids accepted within the dedup window, with when: a sender's retry of an
    /// envelope processed before the move is still a duplicate after it.
    public var seen: [(id: String, at: Int64)] = []
    /// An exec agent's program (its version starts again at 1 where it is imported).
    public var program: Data?
    /// How the exporting store holds the agent's keys, read in the export's snapshot (so the
    /// runtime derives them from this incarnation's inputs without a second read); never part
    /// of the bundle's JSON, and nil in a bundle read from JSON.
    public var keys: AgentKeys?

    public static func == (a: AgentBundle, b: AgentBundle) -> Bool {
        a.record == b.record && a.publicKey == b.publicKey && a.secret == b.secret && a.alarms == b.alarms && a.goals == b.goals
            && a.inbox == b.inbox && a.deadLetters == b.deadLetters && a.logs == b.logs
            && a.seen.map(\.id) == b.seen.map(\.id) && a.seen.map(\.at) == b.seen.map(\.at) && a.program == b.program
    }

    public init(record: AgentRecord, publicKey: String, secret: [UInt8]?, alarms: [Alarm], goals: [Goal], inbox: [Envelope],
                deadLetters: [DeadLetter], logs: [LogName: [String]]) {
        self.record = record
        self.publicKey = publicKey
        self.secret = secret
        self.alarms = alarms
        self.goals = goals
        self.inbox = inbox
        self.deadLetters = deadLetters
        self.logs = logs
    }

    // MARK: - JSON

    public func json(exportedAt: Int64) -> JSON {
        let r = record
        var identity: [String: JSON] = ["pubkey": .string(publicKey)]
        if let secret { identity["secret"] = .string(Hex.encode(secret)) }
        return .object([
            "format": .string(Self.format), "version": .int(Self.version), "exported_at": .int64(exportedAt),
            "agent": .object([
                "id": .string(r.id), "kind": .string(r.kind), "config": r.config, "state": r.state, "lifecycle": .string(r.lifecycle.rawValue),
                "created_at": .int64(r.createdAt), "tick_count": .int64(r.tickCount), "last_tick_at": r.lastTickAt.map { .int64($0) } ?? .null,
                "last_tick_cause": r.lastTickCause.map { .string($0) } ?? .null, "dropped_count": .int64(r.droppedCount),
                "budget_spent": .int64(r.budgetSpent),
            ]),
            "identity": .object(identity),
            "alarms": .array(alarms.map { a in
                .object(["id": .string(a.id), "due_at": .int64(a.dueAt), "every_ms": a.everyMs.map { .int64($0) } ?? .null,
                         "source": .string(a.source.rawValue), "attempts": .int(a.attempts)])
            }),
            "goals": .array(goals.map { .object(["id": .string($0.id), "body": $0.body, "updated_at": .int64($0.updatedAt)]) }),
            "inbox": .array(inbox.map(Self.envelopeJSON)),
            "deadletter": .array(deadLetters.map { d in
                .object(["envelope": Self.envelopeJSON(d.envelope), "reason": .string(d.reason), "at": .int64(d.at)])
            }),
            "logs": .object(Dictionary(uniqueKeysWithValues: LogName.allCases.map { ($0.rawValue, .array((logs[$0] ?? []).map { .string($0) })) })),
            "seen": .array(seen.map { .object(["id": .string($0.id), "at": .int64($0.at)]) }),
            "program": program.map { .string($0.base64EncodedString()) } ?? .null,
        ])
    }

    static func envelopeJSON(_ e: Envelope) -> JSON {
        .object(["id": .string(e.id), "from": .string(e.from), "kind": .string(e.kind), "body": e.body, "sent_at": .int64(e.sentAt),
                 "attempts": .int(e.attempts), "last_error": e.lastError.map { .string($0) } ?? .null])
    }

    /// Reads a bundle, checking every field; `id` renames the agent.
    public init(json: JSON, id newID: String? = nil) throws(FSError) {
        func fail(_ what: String) -> FSError { FSError.invalidInput("bundle: \(what)") }
        guard json["format"]?.stringValue == Self.format else { throw fail("not an agentns bundle (\"format\" must be \"\(Self.format)\")") }
        guard json["version"]?.intValue == Self.version else {
            throw fail("version \(json["version"]?.description ?? "missing") is not supported; this agentd reads version \(Self.version)")
        }
        guard let agent = json["agent"], case .object = agent else { throw fail("\"agent\" must be an object") }
        func string(_ v: JSON?, _ key: String) throws(FSError) -> String {
            guard let s = v?.stringValue else { throw fail("\(key) must be a string") }
            return s
        }
        // Every number has a range, so nothing imported can overflow later arithmetic (a tick
        // count + 1, a time shown as a date, a retry's back-off): times and counters within 2^53,
        // attempts within 1,000.
        let times: ClosedRange<Int64> = 0...Alarm.maxTime
        let counters: ClosedRange<Int64> = 0...(1 << 53)
        let attemptsRange: ClosedRange<Int64> = 0...1000
        func int(_ v: JSON?, _ key: String, _ range: ClosedRange<Int64>, optional: Bool = false) throws(FSError) -> Int64? {
            guard let v, v != .null else {
                if optional { return nil }
                throw fail("\(key) must be a whole number")
            }
            guard let i = v.intValue, range.contains(Int64(i)) else {
                throw fail("\(key) must be a whole number in \(range.lowerBound)...\(range.upperBound)")
            }
            return Int64(i)
        }
        func array(_ key: String) throws(FSError) -> [JSON] {
            guard let v = json[key] else { return [] }
            guard let a = v.arrayValue else { throw fail("\(key) must be an array") }
            return a
        }
        func envelope(_ v: JSON, _ key: String) throws(FSError) -> Envelope {
            let envelopeID = try string(v["id"], "\(key).id")
            guard AgentID.isValid(envelopeID) else { throw fail("\(key).id is not a valid envelope id") }
            return Envelope(id: envelopeID, from: try string(v["from"], "\(key).from"), kind: try string(v["kind"], "\(key).kind"),
                     body: v["body"] ?? .null, sentAt: try int(v["sent_at"], "\(key).sent_at", times) ?? 0,
                     attempts: Int(try int(v["attempts"], "\(key).attempts", attemptsRange, optional: true) ?? 0),
                     lastError: v["last_error"]?.stringValue)
        }

        let rawID: String
        if let newID { rawID = newID } else { rawID = try string(agent["id"], "agent.id") }
        let id: String
        do { id = try AgentID.validate(rawID) } catch let e as FSError { throw e } catch { throw fail("agent.id: \(error)") }
        guard let lifecycle = Lifecycle(rawValue: try string(agent["lifecycle"], "agent.lifecycle")) else {
            throw fail("agent.lifecycle must be one of: \(Lifecycle.allCases.map(\.rawValue).joined(separator: ", "))")
        }
        guard let config = agent["config"], case .object = config else { throw fail("agent.config must be an object") }
        record = AgentRecord(
            id: id, kind: try string(agent["kind"], "agent.kind"), config: config, state: agent["state"] ?? .object([:]), lifecycle: lifecycle,
            tickCount: try int(agent["tick_count"], "agent.tick_count", counters) ?? 0,
            lastTickAt: try int(agent["last_tick_at"], "agent.last_tick_at", times, optional: true),
            lastTickCause: agent["last_tick_cause"]?.stringValue, createdAt: try int(agent["created_at"], "agent.created_at", times) ?? 0,
            droppedCount: try int(agent["dropped_count"], "agent.dropped_count", counters, optional: true) ?? 0,
            budgetSpent: try int(agent["budget_spent"], "agent.budget_spent", counters, optional: true) ?? 0)

        publicKey = try string(json["identity"]?["pubkey"], "identity.pubkey")
        if let hex = json["identity"]?["secret"]?.stringValue {
            guard let bytes = Hex.decode(hex), bytes.count == 32 else { throw fail("identity.secret must be 64 hex digits") }
            secret = bytes
        } else {
            secret = nil
        }
        alarms = try array("alarms").enumerated().map { (i, a) throws(FSError) in
            let key = "alarms[\(i)]"
            let alarmID = try string(a["id"], "\(key).id")
            guard AgentID.isValid(alarmID) || alarmID == "~retry" else { throw fail("\(key).id is not a valid alarm id") }
            guard let source = Alarm.Source(rawValue: try string(a["source"], "\(key).source")) else { throw fail("\(key).source is unknown") }
            let every = try int(a["every_ms"], "\(key).every_ms", Alarm.periods, optional: true)
            let attempts = try int(a["attempts"], "\(key).attempts", attemptsRange, optional: true) ?? 0
            return Alarm(id: alarmID, dueAt: try int(a["due_at"], "\(key).due_at", times) ?? 0, everyMs: every, source: source, attempts: Int(attempts))
        }
        goals = try array("goals").enumerated().map { (i, g) throws(FSError) in
            let goalID = try string(g["id"], "goals[\(i)].id")
            guard AgentID.isValid(goalID) else { throw fail("goals[\(i)].id is not a valid goal id") }
            return Goal(id: goalID, body: g["body"] ?? .null, updatedAt: try int(g["updated_at"], "goals[\(i)].updated_at", times) ?? 0, version: 1)
        }
        inbox = try array("inbox").enumerated().map { (i, e) throws(FSError) in try envelope(e, "inbox[\(i)]") }
        deadLetters = try array("deadletter").enumerated().map { (i, d) throws(FSError) in
            let key = "deadletter[\(i)]"
            guard let e = d["envelope"] else { throw fail("\(key).envelope is missing") }
            return DeadLetter(envelope: try envelope(e, "\(key).envelope"), reason: try string(d["reason"], "\(key).reason"),
                              at: try int(d["at"], "\(key).at", times) ?? 0)
        }
        var logs: [LogName: [String]] = [:]
        if let l = json["logs"] {
            guard case .object(let o) = l else { throw fail("logs must be an object of log name to lines") }
            for (name, lines) in o {
                guard let log = LogName(rawValue: name) else { throw fail("logs.\(name) is not a log (trace, trajectory, outbox)") }
                guard let a = lines.arrayValue else { throw fail("logs.\(name) must be an array of lines") }
                logs[log] = try a.enumerated().map { (i, line) throws(FSError) in
                    guard let s = line.stringValue, !s.contains("\n") else { throw fail("logs.\(name)[\(i)] must be a one-line string") }
                    return s
                }
            }
        }
        self.logs = logs
        seen = try array("seen").enumerated().map { (i, e) throws(FSError) in
            let envelopeID = try string(e["id"], "seen[\(i)].id")
            guard AgentID.isValid(envelopeID) else { throw fail("seen[\(i)].id is not a valid envelope id") }
            return (id: envelopeID, at: try int(e["at"], "seen[\(i)].at", times) ?? 0)
        }
        if let p = json["program"], p != .null {
            guard let text = p.stringValue, let bytes = Data(base64Encoded: text), bytes.count <= ProgramLimits.maxBytes else {
                throw fail("program must be the program's bytes in base64, at most \(ProgramLimits.maxBytes) bytes")
            }
            program = bytes
        }
        // Ids are unique where the store keys by them: a repeated one would be counted twice
        // (dead letters) or overwrite silently (goals, alarms).
        func unique(_ ids: [String], _ what: String) throws(FSError) {
            var seen = Set<String>()
            for id in ids where !seen.insert(id).inserted { throw fail("\(what) '\(id)' appears twice") }
        }
        try unique(alarms.map(\.id), "alarm")
        try unique(goals.map(\.id), "goal")
        try unique(inbox.map(\.id) + deadLetters.map(\.envelope.id), "envelope id (inbox and dead letters)")
        // Config alarms come from the config: one the config does not name would never be removed.
        let configured = Set(((try? AgentSettings(config: record.config))?.alarms ?? []).map(\.id))
        for a in alarms where a.source == .config && !configured.contains(a.id) {
            throw fail("alarm '\(a.id)' has source config but agent.config.alarms does not name it")
        }
    }
}
