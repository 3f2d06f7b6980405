public import Foundation
public import Namespace
public import Runtime
public import Services

extension SQLiteStore {
    public func commitTick(_ c: TickCommit) async throws -> [LogRecord] {
        let retain = options.logRetain
        return try await db.write { conn in
            try conn.checkTick(c.agent, incarnation: c.incarnation, tickCount: c.expectedTickCount)
            if c.budgetSpend > 0 {
                let spent = try conn.scalar("SELECT budget_spent FROM agents WHERE id = ?", .text(c.agent))?.int ?? 0
                if let limit = c.budgetLimit, c.budgetSpend > limit - spent {  // no sum: a kind may spend up to Int64.max
                    throw FSError(.budgetExceeded, "tick would spend \(c.budgetSpend) units; \(max(0, limit - spent)) of \(limit) remain")
                }
            }
            var removed: Int64 = 0
            for seq in c.dequeued {
                try conn.query("DELETE FROM inbox WHERE seq = ? AND agent = ?", .int(seq), .text(c.agent))
                removed += Int64(conn.changes)
            }
            for (id, body) in c.goalsPut { try conn.putGoal(c.agent, id, body, at: c.at) }
            for id in c.goalsRemoved { _ = try conn.removeGoal(c.agent, id) }
            try conn.consume(c.agent, fired: c.alarmsFired, now: c.at)
            for a in c.alarmsSet { try conn.setAlarm(c.agent, a) }
            for id in c.alarmsCancelled { try conn.query("DELETE FROM alarms WHERE agent = ? AND alarm_id = ?", .text(c.agent), .text(id)) }
            try conn.query("""
                UPDATE agents SET state = ?, tick_count = tick_count + 1, last_tick_at = ?, last_tick_cause = ?,
                    queue_depth = queue_depth - ?, budget_spent = budget_spent + ?,
                    lifecycle = CASE WHEN ? AND lifecycle = 'hibernated' THEN 'active' ELSE lifecycle END, version = version + 1
                WHERE id = ?
                """, .text(c.state.description), .int(c.at), .text(c.cause.rawValue), .int(removed), .int(c.budgetSpend),
                           .int(c.wake ? 1 : 0), .text(c.agent))
            let entries: [(LogName, JSON)] = c.outbox.map { (.outbox, $0) } + c.trace.map { (.trace, $0) } + [(.trajectory, c.trajectory)]
            return try conn.appendLogs(c.agent, entries, retain: retain)
        }
    }

    public func recordFailure(_ f: TickFailure) async throws -> (records: [LogRecord], deadLettered: [String]) {
        let retain = options.logRetain
        return try await db.write { conn in
            try conn.checkTick(f.agent, incarnation: f.incarnation, tickCount: f.expectedTickCount)
            var dead: [String] = []
            var trace = f.trace
            var backingOff = false
            for seq in f.envelopes {
                guard let row = try conn.query("SELECT \(Self.envelopeColumns) FROM inbox WHERE seq = ? AND agent = ?", .int(seq), .text(f.agent)).first else {
                    continue
                }
                var e = Self.decodeEnvelope(row)
                e.attempts += 1
                if e.attempts >= f.maxAttempts {
                    try conn.query("DELETE FROM inbox WHERE seq = ?", .int(seq))
                    try conn.query("UPDATE agents SET queue_depth = queue_depth - 1 WHERE id = ?", .text(f.agent))
                    try conn.insertDeadLetter(f.agent, e, reason: "failed \(e.attempts) times: \(f.error)", at: f.at)
                    trace.append(Trace.record("dead_lettered", at: f.at, ["id": .string(e.id), "from": .string(e.from),
                                                                           "reason": .string("failed \(e.attempts) times")]))
                    dead.append(e.id)
                } else {
                    try conn.query("UPDATE inbox SET attempts = ?, not_before = ?, last_error = ? WHERE seq = ?",
                                   .int(Int64(e.attempts)), .int(f.retryAt), .text(f.error), .int(seq))
                    backingOff = true
                }
            }
            // Alarms that caused the failed tick count an attempt like envelopes: tried again after
            // the backoff, given up after the last attempt (a one-shot is dropped, a periodic one
            // moves to its next period), traced.
            for a in f.alarms where a.source != .retry {
                let attempts = a.attempts + 1
                guard attempts >= f.maxAttempts else {
                    try conn.query("UPDATE alarms SET due_at = ?, attempts = ? WHERE agent = ? AND alarm_id = ? AND due_at = ?",
                                   .int(f.retryAt), .int(Int64(attempts)), .text(f.agent), .text(a.id), .int(a.dueAt))
                    continue
                }
                var fields: [String: JSON] = ["id": .string(a.id), "attempts": .int(attempts), "reason": .string("failed \(attempts) times: \(f.error)")]
                if let every = a.everyMs, every > 0 {
                    guard let next = try conn.advancePeriodic(f.agent, a, now: f.at) else { continue }
                    fields["next"] = .string(Timestamp.iso(next))
                } else {
                    try conn.query("DELETE FROM alarms WHERE agent = ? AND alarm_id = ? AND due_at = ?", .text(f.agent), .text(a.id), .int(a.dueAt))
                    guard conn.changes == 1 else { continue }
                }
                trace.append(Trace.record("alarm_given_up", at: f.at, fields))
            }
            try conn.query("DELETE FROM alarms WHERE agent = ? AND source = 'retry'", .text(f.agent))
            if backingOff {
                try conn.setAlarm(f.agent, Alarm(id: "~retry", dueAt: f.retryAt, source: .retry))
            }
            try conn.query("""
                UPDATE agents SET tick_count = tick_count + 1, last_tick_at = ?, last_tick_cause = ?,
                    lifecycle = CASE WHEN ? AND lifecycle = 'hibernated' THEN 'active' ELSE lifecycle END, version = version + 1
                WHERE id = ?
                """, .int(f.at), .text(f.cause.rawValue), .int(f.wake ? 1 : 0), .text(f.agent))
            let records = try conn.appendLogs(f.agent, trace.map { (.trace, $0) } + [(.trajectory, f.trajectory)], retain: retain)
            return (records, dead)
        }
    }

    public func nextAlarmDue(after: Int64?) async throws -> Int64? {
        try db.read { conn in
            try conn.scalar("""
                SELECT min(a.due_at) FROM alarms a JOIN agents g ON g.id = a.agent WHERE a.due_at > ? AND g.lifecycle != 'paused'
                """, .int(after ?? .min))?.int
        }
    }

    public func agentsWithDueAlarms(now: Int64, after: Int64?, limit: Int) async throws -> [String] {
        try db.read { conn in
            try conn.query("""
                SELECT DISTINCT a.agent FROM alarms a JOIN agents g ON g.id = a.agent
                WHERE a.due_at <= ? AND a.due_at > ? AND g.lifecycle != 'paused' LIMIT ?
                """, .int(now), .int(after ?? .min), .int(Int64(limit))).compactMap { $0[0].text }
        }
    }

    public func agentsWithPending(limit: Int) async throws -> [String] {
        try db.read { conn in
            try conn.query("""
                SELECT id FROM agents WHERE queue_depth > 0 AND lifecycle != 'paused' LIMIT ?
                """, .int(Int64(limit))).compactMap { $0[0].text }
        }
    }
}

extension SQLiteConnection {
    /// A tick commits (or records its failure) only into the agent it ran for: the same
    /// incarnation (not a new agent of the same id) at the tick count it started from.
    func checkTick(_ agent: String, incarnation: Int64, tickCount expected: Int64) throws(FSError) {
        guard let row = try query("SELECT tick_count, incarnation FROM agents WHERE id = ?", .text(agent)).first, let count = row[0].int else {
            throw SQLiteStore.notFound(agent)
        }
        guard row[1].int == incarnation else {
            throw FSError(.notFound, "agent '\(agent)' was deleted while its tick ran (the agent of that id now is another one)",
                          path: "/agents/\(agent)")
        }
        guard count == expected else {
            throw FSError(.unavailable, "another tick of '\(agent)' committed first (tick \(count), expected \(expected))")
        }
    }

    /// One-shot alarms that fired are deleted; periodic ones move to their next time after
    /// `now` (missed periods are skipped, not replayed).
    func consume(_ agent: String, fired: [Alarm], now: Int64) throws(FSError) {
        for a in fired {
            if a.source == .retry || a.everyMs == nil {
                try query("DELETE FROM alarms WHERE agent = ? AND alarm_id = ? AND due_at = ?", .text(agent), .text(a.id), .int(a.dueAt))
            } else {
                _ = try advancePeriodic(agent, a, now: now)
            }
        }
    }
}
