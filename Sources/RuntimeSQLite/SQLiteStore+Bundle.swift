public import Foundation
public import Namespace
public import Runtime
public import Services
import Synchronization

extension SQLiteStore {
    /// Every table that holds rows of one agent (by its `agent` column), besides `agents`.
    static let agentTables = ["inbox", "seen", "logs", "deadletter", "goals", "alarms", "identity", "tokens",
                                    "policies", "ledgers", "jobs", "job_stream", "journal", "sessions", "execs", "exec_output", "session_output", "programs"]

    public func exportAgent(_ id: String) async throws -> AgentBundle {
        try db.read { conn in
            // One read transaction: every table from the same snapshot, whatever commits meanwhile.
            try conn.exec("BEGIN")
            defer { try? conn.exec("COMMIT") }
            guard let row = try conn.query("SELECT \(Self.agentColumns) FROM agents WHERE id = ?", .text(id)).first else { throw Self.notFound(id) }
            let record = Self.decodeAgent(row)
            // No row: the keys are derived, and the runtime fills them in from this snapshot's
            // incarnation and salt.
            let key = try conn.query("SELECT secret, pubkey FROM identity WHERE agent = ?", .text(id)).first
            let salt = try conn.query("SELECT key_salt FROM agents WHERE id = ?", .text(id)).first?[0].blob
            let alarms = try conn.query("SELECT alarm_id, due_at, every_ms, source, attempts FROM alarms WHERE agent = ? ORDER BY alarm_id", .text(id))
                .map(Self.decodeAlarm)
            let goals = try conn.query("SELECT goal_id, body, updated_at, version FROM goals WHERE agent = ? ORDER BY goal_id", .text(id))
                .map(Self.decodeGoal)
            let inbox = try conn.query("SELECT \(Self.envelopeColumns) FROM inbox WHERE agent = ? ORDER BY seq", .text(id)).map(Self.decodeEnvelope)
            let dead = try conn.query("SELECT \(Self.deadColumns) FROM deadletter WHERE agent = ? ORDER BY at, env_id", .text(id)).map(Self.decodeDead)
            let since = (try conn.scalar("SELECT max(at) FROM seen WHERE agent = ?", .text(id))?.int ?? 0) - self.options.seenWindowMs
            let seen = try conn.query("SELECT env_id, at FROM seen WHERE agent = ? AND at >= ? ORDER BY at", .text(id), .int(since))
                .map { (id: $0[0].text ?? "", at: $0[1].int ?? 0) }
            var logs: [LogName: [String]] = [:]
            for log in LogName.allCases {
                logs[log] = try conn.query("SELECT line FROM logs WHERE agent = ? AND log = ? ORDER BY offset", .text(id), .text(log.rawValue))
                    .map { $0[0].text ?? "" }
            }
            var bundle = AgentBundle(record: record, publicKey: key.map { SQLiteStore.publicKeyHex($0[1]) } ?? "", secret: key?[0].blob, alarms: alarms, goals: goals,
                                     inbox: inbox, deadLetters: dead, logs: logs)
            bundle.seen = seen
            if let secret = key?[0].blob {
                bundle.keys = .stored(AgentKeyPair(secret: secret, publicKey: bundle.publicKey))
            } else if let salt {
                bundle.keys = .derived(incarnation: record.incarnation, salt: salt)
            }
            bundle.program = try conn.query("SELECT body FROM programs WHERE agent = ?", .text(id)).first?[0].blob.map { Data($0) }
            return bundle
        }
    }

    public func importAgent(_ b: AgentBundle, replace: Bool, trace: [JSON]) async throws -> [LogRecord] {
        let retain = options.logRetain
        let window = options.seenWindowMs
        let id = b.record.id
        let records = try await db.write { conn in
            guard let secret = b.secret else { throw FSError.invalidInput("an imported agent needs its secret key", path: "/agents/\(id)") }
            if try conn.agentExists(id) {
                guard replace else {
                    throw FSError(.alreadyExists, "agent '\(id)' already exists; import with replace to overwrite it, or under another id",
                                  path: "/agents/\(id)")
                }
                try conn.deleteAgentRows(id)
                conn.record(.agentDeleted(id))  // its watchers' streams end: the agent they watched is gone
            }
            let r = b.record
            try conn.query("""
                INSERT INTO agents(id, kind, config, state, lifecycle, created_at, tick_count, last_tick_at, last_tick_cause, dropped_count,
                                   budget_spent, queue_depth, deadletter_count, incarnation)
                VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, .text(id), .text(r.kind), .text(r.config.description), .text(r.state.description), .text(r.lifecycle.rawValue),
                           .int(r.createdAt), .int(r.tickCount), r.lastTickAt.map { .int($0) } ?? .null, r.lastTickCause.map { .text($0) } ?? .null,
                           .int(r.droppedCount), .int(r.budgetSpent), .int(Int64(b.inbox.count)), .int(0), .int(try conn.nextIncarnation()))
            try conn.query("INSERT INTO identity(agent, secret, pubkey) VALUES(?, ?, ?)", .text(id), .blob(secret), SQLiteStore.storedPublicKey(b.publicKey))
            if let program = b.program {
                let info = ProgramInfo(version: 1, bytes: Int64(program.count), sha256: ProgramLimits.sha256(program), updatedAt: r.createdAt)
                try conn.query("INSERT INTO programs(agent, body) VALUES(?, ?)", .text(id), .blob(Array(program)))
                try conn.query("UPDATE agents SET program = ? WHERE id = ?", .text(info.stored.description), .text(id))
            }
            for a in b.alarms {
                try conn.setAlarm(id, a)
                if a.attempts > 0 { try conn.query("UPDATE alarms SET attempts = ? WHERE agent = ? AND alarm_id = ?", .int(Int64(a.attempts)), .text(id), .text(a.id)) }
            }
            for g in b.goals { try conn.putGoal(id, g.id, g.body, at: g.updatedAt) }
            for e in b.inbox {
                guard try conn.remember(id, e.id, at: e.sentAt, window: window) else {
                    throw FSError.invalidInput("bundle: envelope id '\(e.id)' appears twice in the inbox", path: "/agents/\(id)")
                }
                try conn.query("""
                    INSERT INTO inbox(agent, env_id, sender, kind, body, sent_at, attempts, last_error) VALUES(?, ?, ?, ?, ?, ?, ?, ?)
                    """, .text(id), .text(e.id), .text(e.from), .text(e.kind), .text(e.body.description), .int(e.sentAt),
                               .int(Int64(e.attempts)), e.lastError.map { .text($0) } ?? .null)
                var accepted = e
                accepted.seq = conn.lastInsertRowID
                conn.record(.enqueued(agent: id, accepted))  // an inbox watcher sees the imported envelopes
            }
            for d in b.deadLetters { try conn.insertDeadLetter(id, d.envelope, reason: d.reason, at: d.at) }
            // Ids already processed stay known (the pending ones were remembered above).
            for s in b.seen { try conn.remember(id, s.id, at: s.at, window: window) }
            var entries: [(LogName, JSON)] = []
            for log in LogName.allCases {
                // Only what this store retains: a bundle's older lines would be pruned at once.
                for line in (b.logs[log] ?? []).suffix(retain) { entries.append((log, (try? JSON(parsing: line)) ?? .string(line))) }
            }
            return try conn.appendLogs(id, entries + trace.map { (.trace, $0) }, retain: retain)
        }
        _ = rows.withLock { $0.removeValue(forKey: id) }
        return records
    }
}

extension SQLiteConnection {
    /// Deletes an agent and every row it owns; false when there was no such agent.
    @discardableResult
    func deleteAgentRows(_ id: String) throws(FSError) -> Bool {
        try query("DELETE FROM agents WHERE id = ?", .text(id))
        guard changes == 1 else { return false }
        for table in SQLiteStore.agentTables {
            try query("DELETE FROM \(table) WHERE agent = ?", .text(id))
        }
        return true
    }
}
