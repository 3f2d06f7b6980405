public import Foundation
public import Namespace
public import Runtime
public import Services
import Synchronization

/// AgentStore over one SQLite database in WAL mode (see docs/storage.md).
public final class SQLiteStore: AgentStore {
    public struct Options: Sendable {
        /// `true`: fsync at every commit (synchronous=FULL). `false`: synchronous=NORMAL,
        /// which still survives kill -9 but not power loss.
        public var fsyncEveryCommit = true
        /// Records kept per log (trace, trajectory, outbox) per agent.
        public var logRetain = 10_000
        /// How long an accepted envelope id is remembered for deduplication.
        public var seenWindowMs: Int64 = 7 * 24 * 3600 * 1000
        public init() {}
    }

    let db: SQLiteDatabase
    public let path: String
    let options: Options
    /// Agent rows read since the last commit, by id: a status read of an idle agent costs no
    /// SQLite query. Any commit makes every entry stale (checked by generation), so the cache
    /// can never answer with a row older than an acknowledged write. Bounded.
    let rows = Mutex<[String: (generation: UInt64, record: AgentRecord)]>([:])
    static let maxCachedRows = 1024
    /// Where each commit's changes go (see `AgentStore.setChangeSink`).
    let sink = Mutex<(any ChangeSink)?>(nil)

    /// Opens (creating and migrating) the database at `path`.
    public init(path: String, options: Options = Options()) throws {
        self.path = path
        self.options = options
        db = try SQLiteDatabase(path: path, durability: options.fsyncEveryCommit ? .full : .normal)
        db.writer.setOnCommit { [weak self] conn in self?.deliver(conn) }
    }

    public func close() async { db.close() }

    /// Transactions committed and writes they carried (group commit at work).
    public var commitStats: (commits: Int, writes: Int) {
        let s = db.writer.stats
        return (s.commits, s.jobs)
    }

    static func notFound(_ agent: String) -> FSError { FSError(.notFound, "no agent '\(agent)'", path: "/agents/\(agent)") }

    static let agentColumns = """
        id, kind, config, state, lifecycle, tick_count, last_tick_at, last_tick_cause, created_at, dropped_count, budget_spent,
        trace_bytes, trajectory_bytes, outbox_bytes, version, queue_depth, deadletter_count, incarnation, program
        """

    static func decodeAgent(_ row: [SQLValue]) -> AgentRecord {
        func json(_ v: SQLValue) -> JSON { (try? JSON(parsing: v.text ?? "{}")) ?? .object([:]) }
        var record = AgentRecord(
            id: row[0].text ?? "", kind: row[1].text ?? "", config: json(row[2]), state: json(row[3]),
            lifecycle: Lifecycle(rawValue: row[4].text ?? "") ?? .active, tickCount: row[5].int ?? 0, lastTickAt: row[6].int,
            lastTickCause: row[7].text, createdAt: row[8].int ?? 0, droppedCount: row[9].int ?? 0, budgetSpent: row[10].int ?? 0,
            logBytes: [.trace: row[11].int ?? 0, .trajectory: row[12].int ?? 0, .outbox: row[13].int ?? 0], version: row[14].int ?? 0)
        record.queueDepth = row[15].int ?? 0
        record.deadletterCount = row[16].int ?? 0
        record.incarnation = row[17].int ?? 0
        record.program = row[18].text.flatMap { try? JSON(parsing: $0) }.flatMap(ProgramInfo.init(json:))
        return record
    }

    // MARK: - Agents

    public func createAgents(_ agents: [NewAgent]) async throws -> [LogRecord] {
        try await db.write { conn in
            var appended: [LogRecord] = []
            for a in agents {
                let record = a.record
                if try conn.agentExists(record.id) {
                    throw FSError(.alreadyExists, "agent '\(record.id)' already exists", path: "/agents/\(record.id)")
                }
                let incarnation = try conn.nextIncarnation()
                try conn.query("""
                    INSERT INTO agents(id, kind, config, state, lifecycle, created_at, incarnation, program, key_salt) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)
                    """, .text(record.id), .text(record.kind), .text(record.config.description), .text(record.state.description),
                           .text(record.lifecycle.rawValue), .int(record.createdAt), .int(incarnation),
                           record.program.map { .text($0.stored.description) } ?? .null, .blob(a.keySalt))
                if let program = a.program { try conn.query("INSERT INTO programs(agent, body) VALUES(?, ?)", .text(record.id), .blob(Array(program))) }
                for alarm in a.alarms { try conn.setAlarm(record.id, alarm) }
                for (id, body) in a.goals { try conn.putGoal(record.id, id, body, at: record.createdAt) }
                appended += try conn.appendLogs(record.id, a.trace.map { (.trace, $0) }, retain: self.options.logRetain)
            }
            return appended
        }
    }

    public func deleteAgent(_ id: String) async throws {
        try await db.write { conn in
            guard try conn.deleteAgentRows(id) else { throw Self.notFound(id) }
            conn.record(.agentDeleted(id))
        }
        _ = rows.withLock { $0.removeValue(forKey: id) }
    }

    public func agent(_ id: String) async throws -> AgentRecord? {
        let generation = db.writer.generation.load(ordering: .acquiring)
        if let hit = rows.withLock({ $0[id] }), hit.generation == generation { return hit.record }
        let record = try db.read { conn in
            try conn.query("SELECT \(Self.agentColumns) FROM agents WHERE id = ?", .text(id)).first.map(Self.decodeAgent)
        }
        if let record {
            rows.withLock { cache in
                if cache.count >= Self.maxCachedRows { cache.removeAll(keepingCapacity: true) }
                cache[id] = (generation, record)
            }
        }
        return record
    }

    public func listAgents(after: String?, limit: Int) async throws -> [AgentRecord] {
        try db.read { conn in
            try conn.query("SELECT \(Self.agentColumns) FROM agents WHERE id > ? ORDER BY id LIMIT ?", .text(after ?? ""), .int(Int64(limit)))
                .map(Self.decodeAgent)
        }
    }

    public func agentCount() async throws -> Int {
        try db.read { conn in Int(try conn.scalar("SELECT count(*) FROM agents")?.int ?? 0) }
    }

    public func storeStats() async throws -> StoreStats {
        let c = commitStats
        // Each from its partial index (agents_pending, agents_deadletters): no scan of every row.
        let row = try db.read { conn in
            let queued = try conn.query("SELECT total(queue_depth), max(queue_depth) FROM agents WHERE queue_depth > 0").first ?? [.int(0), .int(0)]
            let dead = try conn.query("SELECT total(deadletter_count) FROM agents WHERE deadletter_count > 0").first ?? [.int(0)]
            return queued + dead
        }
        func int(_ i: Int) -> Int {
            guard i < row.count else { return 0 }
            switch row[i] {
            case .int(let v): return Int(v)
            case .double(let v): return Int(v)
            default: return 0
            }
        }
        return StoreStats(commits: c.commits, writes: c.writes, pending: int(0), deepest: int(1), deadLetters: int(2))
    }

    public func updateConfig(_ id: String, _ change: @escaping @Sendable (AgentRecord) throws -> ConfigChange) async throws
        -> (records: [LogRecord], config: JSON)
    {
        try await db.write { conn in
            guard let row = try conn.query("SELECT \(Self.agentColumns) FROM agents WHERE id = ?", .text(id)).first else { throw Self.notFound(id) }
            let c = try change(Self.decodeAgent(row))
            try conn.query("UPDATE agents SET config = ?, version = version + 1 WHERE id = ?", .text(c.config.description), .text(id))
            conn.touch(id)
            for a in c.alarmsRemoved {
                try conn.query("DELETE FROM alarms WHERE agent = ? AND alarm_id = ? AND source = 'config'", .text(id), .text(a))
            }
            for a in c.alarmsSet { try conn.setAlarm(id, a) }
            return (try conn.appendLogs(id, c.trace.map { (.trace, $0) }, retain: self.options.logRetain), c.config)
        }
    }

    public func program(_ agent: String) async throws -> Data? {
        try db.read { conn in
            guard try conn.agentExists(agent) else { throw Self.notFound(agent) }
            return try conn.query("SELECT body FROM programs WHERE agent = ?", .text(agent)).first?[0].blob.map { Data($0) }
        }
    }

    public func putProgram(_ agent: String, _ body: Data, sha256: String, at: Int64, trace: [JSON]) async throws -> ProgramInfo {
        try await db.write { conn in
            guard let row = try conn.query("SELECT \(Self.agentColumns) FROM agents WHERE id = ?", .text(agent)).first else { throw Self.notFound(agent) }
            let info = ProgramInfo(version: (Self.decodeAgent(row).program?.version ?? 0) + 1, bytes: Int64(body.count), sha256: sha256, updatedAt: at)
            try conn.query("INSERT INTO programs(agent, body) VALUES(?, ?) ON CONFLICT(agent) DO UPDATE SET body = excluded.body",
                           .text(agent), .blob(Array(body)))
            try conn.query("UPDATE agents SET program = ?, version = version + 1 WHERE id = ?", .text(info.stored.description), .text(agent))
            conn.touch(agent)
            _ = try conn.appendLogs(agent, trace.map { (.trace, $0) }, retain: self.options.logRetain)
            return info
        }
    }

    public func setLifecycle(_ id: String, _ lifecycle: Lifecycle, trace: [JSON]) async throws -> [LogRecord] {
        try await db.write { conn in
            try conn.query("UPDATE agents SET lifecycle = ?, version = version + 1 WHERE id = ?", .text(lifecycle.rawValue), .text(id))
            guard conn.changes == 1 else { throw Self.notFound(id) }
            conn.touch(id)
            return try conn.appendLogs(id, trace.map { (.trace, $0) }, retain: self.options.logRetain)
        }
    }

    public func keys(_ agent: String) async throws -> AgentKeys? {
        try db.read { conn in
            // One statement, one snapshot: the row and the derivation inputs of the same agent.
            guard let row = try conn.query("""
                SELECT a.incarnation, a.key_salt, i.secret, i.pubkey FROM agents a LEFT JOIN identity i ON i.agent = a.id WHERE a.id = ?
                """, .text(agent)).first else { return nil }
            if let secret = row[2].blob { return .stored(AgentKeyPair(secret: secret, publicKey: Self.publicKeyHex(row[3]))) }
            guard let salt = row[1].blob, let incarnation = row[0].int else {
                throw FSError(.unavailable, "agent '\(agent)' has neither a stored key nor a key salt: the database is damaged", path: "/agents/\(agent)")
            }
            return .derived(incarnation: incarnation, salt: salt)
        }
    }

    public func nodeSecret(_ name: String) async throws -> [UInt8] {
        guard let value = try db.read({ conn in try conn.query("SELECT value FROM secrets WHERE name = ?", .text(name)).first?[0].blob }) else {
            throw FSError(.unavailable, "the node's secret '\(name)' is missing from the database (table secrets): the keys derived from it "
                          + "cannot be made; restore the database from a backup")
        }
        return value
    }

    /// A public key as stored: its 32 bytes (a row made before 2026-12-04 holds the 64 hex
    /// characters as text, which reads the same). Half the bytes, for every agent.
    static func storedPublicKey(_ hex: String) -> SQLValue {
        Hex.decode(hex).map { .blob($0) } ?? .text(hex)
    }

    /// A stored public key as lowercase hex, from either form.
    static func publicKeyHex(_ value: SQLValue) -> String {
        switch value {
        case .blob(let bytes): Hex.encode(bytes)
        case .text(let hex): hex
        default: ""
        }
    }

    public func refundBudget(_ agent: String, units: Int64) async throws {
        try await db.write { conn in
            try conn.query("UPDATE agents SET budget_spent = max(0, budget_spent - ?1), version = version + 1 WHERE id = ?2",
                           .int(units), .text(agent))
            guard conn.changes == 1 else { throw Self.notFound(agent) }
            conn.touch(agent)
        }
    }

    public func spendBudget(_ agent: String, units: Int64, limit: Int64) async throws -> Bool {
        try await db.write { conn in
            try conn.query("UPDATE agents SET budget_spent = budget_spent + ?1, version = version + 1 WHERE id = ?2 AND budget_spent + ?1 <= ?3",
                           .int(units), .text(agent), .int(limit))
            if conn.changes == 1 {
                conn.touch(agent)
                return true
            }
            if try !conn.agentExists(agent) { throw Self.notFound(agent) }
            return false
        }
    }

    // MARK: - Tokens

    public func saveToken(hash: String, agent: String, at: Int64) async throws {
        try await db.write { conn in
            guard try conn.agentExists(agent) else { throw Self.notFound(agent) }
            try conn.query("INSERT INTO tokens(hash, agent, created_at) VALUES(?, ?, ?)", .text(hash), .text(agent), .int(at))
        }
    }

    public func tokenAgent(hash: String) async throws -> String? {
        try db.read { conn in try conn.scalar("SELECT agent FROM tokens WHERE hash = ?", .text(hash))?.text }
    }

    // MARK: - Goals

    public func goals(_ agent: String) async throws -> [Goal] {
        try db.read { conn in
            try conn.query("SELECT goal_id, body, updated_at, version FROM goals WHERE agent = ? ORDER BY goal_id", .text(agent)).map(Self.decodeGoal)
        }
    }

    public func goal(_ agent: String, id: String) async throws -> Goal? {
        try db.read { conn in
            try conn.query("SELECT goal_id, body, updated_at, version FROM goals WHERE agent = ? AND goal_id = ?", .text(agent), .text(id))
                .first.map(Self.decodeGoal)
        }
    }

    public func putGoal(_ agent: String, id: String, body: JSON, at: Int64) async throws -> Goal {
        try await db.write { conn in
            guard try conn.agentExists(agent) else { throw Self.notFound(agent) }
            try conn.putGoal(agent, id, body, at: at)
            let row = try conn.query("SELECT goal_id, body, updated_at, version FROM goals WHERE agent = ? AND goal_id = ?", .text(agent), .text(id))
            return Self.decodeGoal(row[0])
        }
    }

    public func removeGoal(_ agent: String, id: String) async throws -> Bool {
        try await db.write { conn in try conn.removeGoal(agent, id) }
    }

    static func decodeGoal(_ row: [SQLValue]) -> Goal {
        Goal(id: row[0].text ?? "", body: (try? JSON(parsing: row[1].text ?? "{}")) ?? .object([:]), updatedAt: row[2].int ?? 0,
             version: UInt64(max(0, row[3].int ?? 0)))
    }
}

extension SQLiteConnection {
    func agentExists(_ id: String) throws(FSError) -> Bool {
        try scalar("SELECT 1 FROM agents WHERE id = ?", .text(id)) != nil
    }

    func putGoal(_ agent: String, _ id: String, _ body: JSON, at: Int64) throws(FSError) {
        let version = try query("""
            INSERT INTO goals(agent, goal_id, body, updated_at, version) VALUES(?1, ?2, ?3, ?4, 1)
            ON CONFLICT(agent, goal_id) DO UPDATE SET body = excluded.body, updated_at = excluded.updated_at, version = goals.version + 1
            RETURNING version
            """, .text(agent), .text(id), .text(body.description), .int(at)).first?.first?.int
        record(.goalPut(agent: agent, id: id, created: version == 1))
    }

    /// False when there was no such goal.
    func removeGoal(_ agent: String, _ id: String) throws(FSError) -> Bool {
        try query("DELETE FROM goals WHERE agent = ? AND goal_id = ?", .text(agent), .text(id))
        guard changes == 1 else { return false }
        record(.goalRemoved(agent: agent, id: id))
        return true
    }

    /// A new agent row's incarnation: never one used before in this database (a tick commits
    /// only into the incarnation it ran for, and derived keys depend on it).
    func nextIncarnation() throws(FSError) -> Int64 {
        guard let value = try query("UPDATE counters SET value = value + 1 WHERE name = 'incarnation' RETURNING value").first?[0].int else {
            throw FSError(.unavailable, "the incarnation counter is missing from the database (table counters); restore it from a backup")
        }
        return value
    }

    /// Sets an alarm afresh: its due time, period and source, no attempts yet.
    func setAlarm(_ agent: String, _ a: Alarm) throws(FSError) {
        let every: SQLValue = a.everyMs.map { .int($0) } ?? .null
        try query("""
            INSERT INTO alarms(agent, alarm_id, due_at, every_ms, source, attempts, scheduled_at) VALUES(?1, ?2, ?3, ?4, ?5, 0, ?3)
            ON CONFLICT(agent, alarm_id) DO UPDATE SET due_at = excluded.due_at, every_ms = excluded.every_ms, source = excluded.source,
                attempts = 0, scheduled_at = excluded.due_at
            """, .text(agent), .text(a.id), .int(a.dueAt), every, .text(a.source.rawValue))
    }

    /// Moves a periodic alarm that fired (or was given up) at `dueAt` to its first period after
    /// `now`, counted from the time it was scheduled for (retries do not shift its phase; missed
    /// periods are skipped). Returns the new due time, nil if the alarm changed meanwhile.
    func advancePeriodic(_ agent: String, _ a: Alarm, now: Int64) throws(FSError) -> Int64? {
        try query("""
            UPDATE alarms SET
                due_at = scheduled_at + (max(0, ?1 - scheduled_at) / every_ms + 1) * every_ms,
                scheduled_at = scheduled_at + (max(0, ?1 - scheduled_at) / every_ms + 1) * every_ms,
                attempts = 0
            WHERE agent = ?2 AND alarm_id = ?3 AND due_at = ?4 AND every_ms > 0
            """, .int(now), .text(agent), .text(a.id), .int(a.dueAt))
        guard changes == 1 else { return nil }
        return try scalar("SELECT due_at FROM alarms WHERE agent = ? AND alarm_id = ?", .text(agent), .text(a.id))?.int
    }
}

extension SQLiteStore {
    /// `PRAGMA integrity_check`: "ok" when the file is sound.
    public func integrityCheck() throws -> String {
        try db.read { conn in
            try conn.query("PRAGMA integrity_check").compactMap { $0.first?.text }.joined(separator: "\n")
        }
    }
}
