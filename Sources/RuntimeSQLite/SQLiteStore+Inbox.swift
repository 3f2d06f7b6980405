public import Foundation
public import Namespace
public import Runtime
public import Services

extension SQLiteStore {
    static let envelopeColumns = "seq, env_id, sender, kind, body, sent_at, attempts, last_error"

    static func decodeEnvelope(_ row: [SQLValue]) -> Envelope {
        Envelope(seq: row[0].int ?? 0, id: row[1].text ?? "", from: row[2].text ?? "", kind: row[3].text ?? "",
                 body: (try? JSON(parsing: row[4].text ?? "null")) ?? .null, sentAt: row[5].int ?? 0,
                 attempts: Int(row[6].int ?? 0), lastError: row[7].text)
    }

    public func enqueue(_ agent: String, _ envelope: Envelope, maxDepth: Int, policy: OverflowPolicy, at: Int64) async throws -> EnqueueResult {
        let retain = options.logRetain
        let window = options.seenWindowMs
        return try await db.write { conn in
            try conn.enqueue(agent, envelope, maxDepth: maxDepth, policy: policy, at: at, retain: retain, window: window)
        }
    }

    public func pending(_ agent: String, limit: Int) async throws -> [Envelope] {
        try db.read { conn in
            try conn.query("SELECT \(SQLiteStore.envelopeColumns) FROM inbox WHERE agent = ? ORDER BY seq LIMIT ?", .text(agent), .int(Int64(limit)))
                .map(SQLiteStore.decodeEnvelope)
        }
    }

    public func due(_ agent: String, now: Int64, limit: Int) async throws -> (envelopes: [Envelope], alarms: [Alarm]) {
        try db.read { conn in
            // Head of line: an envelope backing off holds back the ones behind it, so
            // per-sender order survives retries.
            var envelopes: [Envelope] = []
            for row in try conn.query("SELECT \(SQLiteStore.envelopeColumns), not_before FROM inbox WHERE agent = ? ORDER BY seq LIMIT ?",
                                      .text(agent), .int(Int64(limit))) {
                if (row[8].int ?? 0) > now { break }
                envelopes.append(SQLiteStore.decodeEnvelope(row))
            }
            let alarms = try conn.query("SELECT alarm_id, due_at, every_ms, source, attempts FROM alarms WHERE agent = ? AND due_at <= ? ORDER BY due_at",
                                        .text(agent), .int(now)).map(Self.decodeAlarm)
            return (envelopes, alarms)
        }
    }

    public func queueDepth(_ agent: String) async throws -> Int {
        try db.read { conn in Int(try conn.scalar("SELECT queue_depth FROM agents WHERE id = ?", .text(agent))?.int ?? 0) }
    }

    static func decodeAlarm(_ row: [SQLValue]) -> Alarm {
        Alarm(id: row[0].text ?? "", dueAt: row[1].int ?? 0, everyMs: row[2].int, source: Alarm.Source(rawValue: row[3].text ?? "") ?? .agent,
              attempts: Int(row[4].int ?? 0))
    }

    // MARK: - Dead letters

    static let deadColumns = "env_id, sender, kind, body, sent_at, attempts, reason, at"

    static func decodeDead(_ row: [SQLValue]) -> DeadLetter {
        DeadLetter(envelope: Envelope(id: row[0].text ?? "", from: row[1].text ?? "", kind: row[2].text ?? "",
                                      body: (try? JSON(parsing: row[3].text ?? "null")) ?? .null, sentAt: row[4].int ?? 0,
                                      attempts: Int(row[5].int ?? 0)),
                   reason: row[6].text ?? "", at: row[7].int ?? 0)
    }

    public func deadLetters(_ agent: String) async throws -> [DeadLetter] {
        try db.read { conn in
            try conn.query("SELECT \(Self.deadColumns) FROM deadletter WHERE agent = ? ORDER BY at, env_id", .text(agent)).map(Self.decodeDead)
        }
    }

    public func deadLetter(_ agent: String, id: String) async throws -> DeadLetter? {
        try db.read { conn in
            try conn.query("SELECT \(Self.deadColumns) FROM deadletter WHERE agent = ? AND env_id = ?", .text(agent), .text(id)).first.map(Self.decodeDead)
        }
    }

    public func deadLetterCount(_ agent: String) async throws -> Int {
        try db.read { conn in Int(try conn.scalar("SELECT deadletter_count FROM agents WHERE id = ?", .text(agent))?.int ?? 0) }
    }

    public func replayDeadLetter(_ agent: String, id: String, at: Int64) async throws -> [LogRecord] {
        let retain = options.logRetain
        return try await db.write { conn in
            guard let row = try conn.query("SELECT \(Self.deadColumns) FROM deadletter WHERE agent = ? AND env_id = ?", .text(agent), .text(id)).first else {
                throw FSError(.notFound, "no dead letter '\(id)'", path: "/agents/\(agent)/deadletter/\(id)")
            }
            let dead = Self.decodeDead(row)
            try conn.query("DELETE FROM deadletter WHERE agent = ? AND env_id = ?", .text(agent), .text(id))
            try conn.query("INSERT INTO inbox(agent, env_id, sender, kind, body, sent_at) VALUES(?, ?, ?, ?, ?, ?)",
                           .text(agent), .text(id), .text(dead.envelope.from), .text(dead.envelope.kind), .text(dead.envelope.body.description),
                           .int(dead.envelope.sentAt))
            var replayed = dead.envelope
            replayed.seq = conn.lastInsertRowID
            replayed.attempts = 0
            try conn.query("UPDATE agents SET queue_depth = queue_depth + 1, deadletter_count = deadletter_count - 1 WHERE id = ?", .text(agent))
            conn.record(.deadLetterRemoved(agent: agent, id: id))
            conn.record(.enqueued(agent: agent, replayed))
            conn.touch(agent)
            return try conn.appendLogs(agent, [(.trace, Trace.record("replayed", at: at, ["id": .string(id)]))], retain: retain)
        }
    }

    public func discardDeadLetter(_ agent: String, id: String, at: Int64) async throws -> [LogRecord] {
        let retain = options.logRetain
        return try await db.write { conn in
            try conn.query("DELETE FROM deadletter WHERE agent = ? AND env_id = ?", .text(agent), .text(id))
            guard conn.changes == 1 else { throw FSError(.notFound, "no dead letter '\(id)'", path: "/agents/\(agent)/deadletter/\(id)") }
            try conn.query("UPDATE agents SET deadletter_count = deadletter_count - 1 WHERE id = ?", .text(agent))
            conn.record(.deadLetterRemoved(agent: agent, id: id))
            conn.touch(agent)
            return try conn.appendLogs(agent, [(.trace, Trace.record("discarded", at: at, ["id": .string(id)]))], retain: retain)
        }
    }
}

extension SQLiteConnection {
    /// Records an envelope id as seen, false if it already was; now and then forgets ids older
    /// than the window.
    @discardableResult
    func remember(_ agent: String, _ id: String, at: Int64, window: Int64) throws(FSError) -> Bool {
        try query("INSERT INTO seen(agent, env_id, at) VALUES(?, ?, ?) ON CONFLICT DO NOTHING", .text(agent), .text(id), .int(at))
        guard changes == 1 else { return false }
        if lastInsertRowID % 512 == 0 {
            // Ids still pending or dead-lettered are kept past the window: forgetting them would
            // let a retry put the same id in the inbox twice, or over its dead letter.
            try query("""
                DELETE FROM seen WHERE agent = ?1 AND at < ?2
                    AND env_id NOT IN (SELECT env_id FROM inbox WHERE agent = ?1)
                    AND env_id NOT IN (SELECT env_id FROM deadletter WHERE agent = ?1)
                """, .text(agent), .int(at - window))
        }
        return true
    }

    func insertDeadLetter(_ agent: String, _ e: Envelope, reason: String, at: Int64) throws(FSError) {
        // An upsert reports one change whether it inserted or updated: ask first, so the count
        // moves only for a new dead letter.
        let existed = try scalar("SELECT 1 FROM deadletter WHERE agent = ? AND env_id = ?", .text(agent), .text(e.id)) != nil
        try query("""
            INSERT INTO deadletter(agent, env_id, sender, kind, body, sent_at, attempts, reason, at) VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT(agent, env_id) DO UPDATE SET reason = excluded.reason, at = excluded.at, attempts = excluded.attempts
            """, .text(agent), .text(e.id), .text(e.from), .text(e.kind), .text(e.body.description), .int(e.sentAt), .int(Int64(e.attempts)),
                  .text(reason), .int(at))
        if !existed {
            try query("UPDATE agents SET deadletter_count = deadletter_count + 1 WHERE id = ?", .text(agent))
        }
        record(.deadLettered(agent: agent, id: e.id))
        touch(agent)
    }
}

extension SQLiteConnection {
    /// `SQLiteStore.enqueue` inside the caller's transaction.
    func enqueue(_ agent: String, _ envelope: Envelope, maxDepth: Int, policy: OverflowPolicy, at: Int64, retain: Int, window: Int64)
        throws(FSError) -> EnqueueResult {
        let conn = self
        guard let row = try conn.query("SELECT queue_depth, lifecycle FROM agents WHERE id = ?", .text(agent)).first,
              let depth = row[0].int else { throw SQLiteStore.notFound(agent) }
        let paused = row[1].text == Lifecycle.paused.rawValue
        // Remembering the id is also the duplicate check (one statement, not two); a refusal
        // below throws, and the job's savepoint forgets it again.
        guard try conn.remember(agent, envelope.id, at: at, window: window) else {
            return EnqueueResult(receipt: SendReceipt(id: envelope.id, outcome: .duplicate), envelope: nil)
        }
        var appended: [LogRecord] = []
        var dropped: Envelope?
        if depth >= Int64(maxDepth) {
            switch policy {
            case .reject:
                throw FSError(.queueFull, "inbox is full (\(maxDepth) pending); retry later", retryAfter: 1)
            case .deadLetter:
                try conn.insertDeadLetter(agent, envelope, reason: "inbox_full", at: at)
                appended += try conn.appendLogs(agent, [(.trace, Trace.record("dead_lettered", at: at, [
                    "id": .string(envelope.id), "from": .string(envelope.from), "reason": "inbox_full",
                ]))], retain: retain)
                return EnqueueResult(receipt: SendReceipt(id: envelope.id, outcome: .deadLettered), envelope: envelope, appended: appended)
            case .dropOldest:
                if let row = try conn.query("SELECT \(SQLiteStore.envelopeColumns) FROM inbox WHERE agent = ? ORDER BY seq LIMIT 1", .text(agent)).first {
                    let old = SQLiteStore.decodeEnvelope(row)
                    try conn.query("DELETE FROM inbox WHERE seq = ?", .int(old.seq))
                    try conn.query("UPDATE agents SET queue_depth = queue_depth - 1, dropped_count = dropped_count + 1 WHERE id = ?", .text(agent))
                    appended += try conn.appendLogs(agent, [(.trace, Trace.record("dropped", at: at, [
                        "id": .string(old.id), "from": .string(old.from), "reason": "inbox_full",
                    ]))], retain: retain)
                    dropped = old
                }
            }
        }
        try conn.query("INSERT INTO inbox(agent, env_id, sender, kind, body, sent_at) VALUES(?, ?, ?, ?, ?, ?)",
                       .text(agent), .text(envelope.id), .text(envelope.from), .text(envelope.kind), .text(envelope.body.description),
                       .int(envelope.sentAt))
        var accepted = envelope
        accepted.seq = conn.lastInsertRowID
        try conn.query("UPDATE agents SET queue_depth = queue_depth + 1, version = version + 1 WHERE id = ?", .text(agent))
        conn.record(.enqueued(agent: agent, accepted))
        conn.touch(agent)
        return EnqueueResult(receipt: SendReceipt(id: envelope.id, outcome: .queued), envelope: accepted, dropped: dropped, appended: appended,
                             paused: paused)
    }
}
