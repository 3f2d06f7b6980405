public import Foundation
public import Namespace
public import Runtime
public import Services

/// JobStore over SQLite: policies, providers, ledgers, jobs, their streams and the journal.
extension SQLiteStore {
    // MARK: - Policies

    public func policy(_ agent: String, _ service: String) async throws -> JSON? {
        try db.read { conn in
            guard try conn.agentExists(agent) else { throw Self.notFound(agent) }
            return try conn.scalar("SELECT body FROM policies WHERE agent = ? AND service = ?", .text(agent), .text(service))?.text
                .map { (try? JSON(parsing: $0)) ?? .object([:]) }
        }
    }

    public func updatePolicy(_ agent: String, _ service: String, _ change: @escaping @Sendable (JSON) throws -> JSON) async throws -> JSON {
        try await db.write { conn in
            guard try conn.agentExists(agent) else { throw Self.notFound(agent) }
            let old = try conn.scalar("SELECT body FROM policies WHERE agent = ? AND service = ?", .text(agent), .text(service))?.text
                .map { (try? JSON(parsing: $0)) ?? .object([:]) } ?? .object([:])
            let next: JSON
            do { next = try change(old) } catch let e as FSError { throw e } catch { throw FSError.invalidInput("\(error)") }
            try conn.query("INSERT INTO policies(agent, service, body) VALUES(?, ?, ?) ON CONFLICT DO UPDATE SET body = excluded.body",
                           .text(agent), .text(service), .text(next.description))
            return next
        }
    }

    // MARK: - Providers

    public func providers() async throws -> [ProviderConfig] {
        try db.read { conn in
            try conn.query("SELECT name, body FROM providers ORDER BY name").compactMap { row in
                try? ProviderConfig(name: row[0].text ?? "", json: (try? JSON(parsing: row[1].text ?? "")) ?? .null)
            }
        }
    }

    public func putProvider(_ name: String, _ change: @escaping @Sendable (ProviderConfig?) throws -> ProviderConfig) async throws -> Bool {
        try await db.write { conn in
            let old = try conn.scalar("SELECT body FROM providers WHERE name = ?", .text(name))?.text
                .flatMap { try? ProviderConfig(name: name, json: (try? JSON(parsing: $0)) ?? .null) }
            let next: ProviderConfig
            do { next = try change(old) } catch let e as FSError { throw e } catch { throw FSError.invalidInput("\(error)") }
            try conn.query("INSERT INTO providers(name, body) VALUES(?, ?) ON CONFLICT DO UPDATE SET body = excluded.body",
                           .text(name), .text(next.storedJSON.description))
            return old == nil
        }
    }

    public func removeProvider(_ name: String) async throws -> Bool {
        try await db.write { conn in
            try conn.query("DELETE FROM providers WHERE name = ?", .text(name))
            return conn.changes == 1
        }
    }

    // MARK: - Ledger

    public func ledger(_ agent: String, account: String) async throws -> (ledger: Ledger, tick: Int64) {
        try db.read { conn in
            try conn.exec("BEGIN")
            defer { try? conn.exec("COMMIT") }
            return (try conn.ledger(agent, account), try conn.tickWindow(agent))
        }
    }

    // MARK: - Jobs

    static let jobColumns = """
        id, agent, state, provider, model, request, reserved, cost, prompt_tokens, completion_tokens, created_at, started_at, finished_at,
        error, text, finish_reason, idem_key, stream_bytes
        """

    /// `jobColumns` without the request and the text (a listing decodes no prompts).
    static let listingColumns = jobColumns.replacingOccurrences(of: "model, request,", with: "model, '{}',")
        .replacingOccurrences(of: "error, text,", with: "error, NULL,")

    static func decodeJob(_ row: [SQLValue]) -> ComputeJob {
        let request = CompletionRequest(json: (try? JSON(parsing: row[5].text ?? "{}")) ?? .object([:]))
        var job = ComputeJob(id: row[0].text ?? "", agent: row[1].text ?? "", state: ComputeJob.State(rawValue: row[2].text ?? "") ?? .failed,
                             provider: row[3].text ?? "", model: row[4].text ?? "", request: request, reserved: row[6].int ?? 0,
                             createdAt: row[10].int ?? 0, idempotencyKey: row[16].text)
        job.cost = row[7].int
        if let p = row[8].int, let c = row[9].int { job.usage = TokenUsage(promptTokens: p, completionTokens: c) }
        job.startedAt = row[11].int
        job.finishedAt = row[12].int
        job.error = row[13].text
        job.text = row[14].text
        job.finishReason = row[15].text
        job.streamBytes = row[17].int ?? 0
        return job
    }

    public func submitJob(_ job: ComputeJob, account: String, admission: @escaping @Sendable (JSON?) throws -> JobAdmission, journalUntil: Int64,
                          trace: [JSON]) async throws -> (job: ComputeJob, created: Bool) {
        let retain = options.logRetain
        return try await db.write { conn in
            guard try conn.agentExists(job.agent) else { throw Self.notFound(job.agent) }
            if let key = job.idempotencyKey,
               let existing = try conn.scalar("SELECT job FROM journal WHERE agent = ? AND key = ? AND expires_at > ?",
                                              .text(job.agent), .text(key), .int(job.createdAt))?.text {
                if let found = try conn.job(job.agent, existing) { return (found, false) }
            }
            let stored = try conn.scalar("SELECT body FROM policies WHERE agent = ? AND service = ?", .text(job.agent), .text(account))?.text
                .map { (try? JSON(parsing: $0)) ?? .null }
            let allowed: JobAdmission
            do { allowed = try admission(stored) } catch let e as FSError { throw e } catch { throw FSError(.unavailable, "\(error)") }
            let (limits, maxOpen) = (allowed.limits, allowed.maxOpen)
            let open = try conn.scalar("SELECT count(*) FROM jobs WHERE agent = ? AND state IN ('queued', 'running')", .text(job.agent))?.int ?? 0
            guard open < Int64(maxOpen) else {
                throw FSError(.queueFull, "\(open) jobs of this agent are open (compute/policy max_running is \(maxOpen)); retry when one ends",
                              path: "/agents/\(job.agent)/compute/new", retryAfter: 1)
            }
            var ledger = try conn.ledger(job.agent, account)
            do {
                try ledger.reserve(job.reserved, limits: limits, now: job.createdAt, tick: try conn.tickWindow(job.agent))
            } catch {
                throw FSError(.budgetExceeded, "compute: \(error)", path: "/agents/\(job.agent)/compute/new")
            }
            try conn.saveLedger(job.agent, account, ledger)
            try conn.query("""
                INSERT INTO jobs(id, agent, account, state, provider, model, request, reserved, created_at, started_at, idem_key)
                VALUES(?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
                """, .text(job.id), .text(job.agent), .text(account), .text(job.state.rawValue), .text(job.provider), .text(job.model),
                           .text(job.request.json.description), .int(job.reserved), .int(job.createdAt), job.startedAt.map { .int($0) } ?? .null,
                           job.idempotencyKey.map { .text($0) } ?? .null)
            if let key = job.idempotencyKey {
                try conn.query("INSERT INTO journal(agent, key, job, expires_at) VALUES(?, ?, ?, ?) ON CONFLICT DO UPDATE SET job = excluded.job, "
                                   + "expires_at = excluded.expires_at", .text(job.agent), .text(key), .text(job.id), .int(journalUntil))
            }
            _ = try conn.appendLogs(job.agent, trace.map { (.trace, $0) }, retain: retain)
            return (job, true)
        }
    }

    public func journaled(_ agent: String, key: String, now: Int64) async throws -> ComputeJob? {
        try db.read { conn in
            guard let id = try conn.scalar("SELECT job FROM journal WHERE agent = ? AND key = ? AND expires_at > ?", .text(agent), .text(key), .int(now))?.text
            else { return nil }
            return try conn.job(agent, id)
        }
    }

    public func startJob(_ agent: String, _ id: String, at: Int64) async throws -> Bool {
        try await db.write { conn in
            try conn.query("UPDATE jobs SET state = 'running', started_at = ? WHERE agent = ? AND id = ? AND state = 'queued'",
                           .int(at), .text(agent), .text(id))
            return conn.changes == 1
        }
    }

    public func appendJobStream(_ agent: String, _ id: String, _ lines: [String], trace: [JSON]) async throws {
        guard !lines.isEmpty else { return }
        let retain = options.logRetain
        try await db.write(durable: false) { conn in
            // An ended job's stream is closed: nothing lands after its end.
            guard let offset = try conn.scalar("SELECT stream_bytes FROM jobs WHERE agent = ? AND id = ? AND state IN ('queued', 'running')",
                                               .text(agent), .text(id))?.int else {
                throw FSError(.notFound, "no open job '\(id)'", path: "/agents/\(agent)/compute/jobs/\(id)")
            }
            _ = try conn.appendJobStream(agent, id, lines, from: offset)
            _ = try conn.appendLogs(agent, trace.map { (.trace, $0) }, retain: retain)
        }
    }

    public func finishJob(_ agent: String, _ id: String, _ outcome: JobOutcome, account: String, at: Int64,
                          inbox: (maxDepth: Int, policy: OverflowPolicy), trace: @escaping @Sendable (ComputeJob) -> [JSON]) async throws
        -> ComputeJob? {
        let retain = options.logRetain
        let window = options.seenWindowMs
        return try await db.write(durable: false) { conn in
            guard var job = try conn.job(agent, id), !job.state.isFinished else { return nil }
            if !outcome.streamTail.isEmpty {
                job.streamBytes = try conn.appendJobStream(agent, id, outcome.streamTail, from: job.streamBytes)
                _ = try conn.appendLogs(agent, outcome.streamTailTrace.map { (.trace, $0) }, retain: retain)
            }
            let cost: Int64 = outcome.state == .succeeded ? (outcome.cost ?? job.reserved) : 0
            var ledger = try conn.ledger(agent, account)
            let charged = ledger.settle(reservation: job.reserved, cost: cost, now: at, tick: try conn.tickWindow(agent))
            try conn.saveLedger(agent, account, ledger)
            job.state = outcome.state
            job.cost = charged
            job.usage = outcome.usage
            job.finishedAt = at
            job.startedAt = job.startedAt ?? at
            job.error = outcome.error
            job.text = outcome.text
            job.finishReason = outcome.finishReason
            try conn.query("""
                UPDATE jobs SET state = ?, cost = ?, prompt_tokens = ?, completion_tokens = ?, started_at = ?, finished_at = ?, error = ?,
                text = ?, finish_reason = ? WHERE id = ?
                """, .text(job.state.rawValue), .int(charged), job.usage.map { .int($0.promptTokens) } ?? .null,
                           job.usage.map { .int($0.completionTokens) } ?? .null, .int(job.startedAt ?? at), .int(at),
                           job.error.map { .text($0) } ?? .null, job.text.map { .text($0) } ?? .null,
                           job.finishReason.map { .text($0) } ?? .null, .text(id))
            // The notice is the runtime's own message: a full inbox that would refuse it
            // dead-letters it instead, so the agent can still find out.
            let policy: OverflowPolicy = inbox.policy == .reject ? .deadLetter : inbox.policy
            _ = try conn.appendLogs(agent, trace(job).map { (.trace, $0) }, retain: retain)
            _ = try conn.enqueue(agent, job.notice(at: at), maxDepth: inbox.maxDepth, policy: policy, at: at, retain: retain, window: window)
            return job
        }
    }

    public func jobs(_ agent: String, limit: Int) async throws -> [ComputeJob] {
        try db.read { conn in
            guard try conn.agentExists(agent) else { throw Self.notFound(agent) }
            return try conn.query("SELECT \(Self.listingColumns) FROM jobs WHERE agent = ? ORDER BY created_at DESC, id LIMIT ?",
                                  .text(agent), .int(Int64(limit))).map(Self.decodeJob)
        }
    }

    public func job(_ agent: String, _ id: String) async throws -> ComputeJob? {
        try db.read { conn in try conn.job(agent, id) }
    }

    public func readJobStream(_ agent: String, _ id: String, _ range: ByteRange) async throws -> FileSlice {
        try db.read { conn in
            guard try conn.job(agent, id) != nil else { throw FSError(.notFound, "no job '\(id)'", path: "/agents/\(agent)/compute/jobs/\(id)") }
            return try conn.readLines(in: "job_stream", where: "job = ?", [.text(id)], range)
        }
    }

    public func openJobs() async throws -> [ComputeJob] {
        try db.read { conn in
            try conn.query("SELECT \(Self.jobColumns) FROM jobs WHERE state IN ('queued', 'running') ORDER BY created_at").map(Self.decodeJob)
        }
    }

    /// In batches of 1,000 (one transaction each, so writers wait for none of them long) until
    /// a batch comes back short.
    public func pruneJobs(now: Int64, finishedBefore: Int64) async throws -> Int {
        var total = 0
        while true {
            let n = try await pruneJobBatch(now: now, finishedBefore: finishedBefore)
            total += n
            if n < 1000 { return total }
        }
    }

    func pruneJobBatch(now: Int64, finishedBefore: Int64) async throws -> Int {
        try await db.write(durable: false) { conn in
            try conn.query("DELETE FROM journal WHERE expires_at <= ?", .int(now))
            let gone = try conn.query("SELECT id FROM jobs WHERE finished_at IS NOT NULL AND finished_at < ? AND state IN ('succeeded', 'failed', 'cancelled')"
                                          + " AND id NOT IN (SELECT job FROM journal) LIMIT 1000", .int(finishedBefore)).compactMap { $0[0].text }
            for id in gone {
                try conn.query("DELETE FROM job_stream WHERE job = ?", .text(id))
                try conn.query("DELETE FROM jobs WHERE id = ?", .text(id))
            }
            return gone.count
        }
    }
}

extension SQLiteConnection {
    func job(_ agent: String, _ id: String) throws(FSError) -> ComputeJob? {
        try query("SELECT \(SQLiteStore.jobColumns) FROM jobs WHERE agent = ? AND id = ?", .text(agent), .text(id)).first.map(SQLiteStore.decodeJob)
    }

    /// Appends stream lines after `offset` (the job's stream size); returns the new size.
    func appendJobStream(_ agent: String, _ id: String, _ lines: [String], from offset: Int64) throws(FSError) -> Int64 {
        var offset = offset
        for line in lines {
            try query("INSERT INTO job_stream(agent, job, offset, line) VALUES(?, ?, ?, ?)", .text(agent), .text(id), .int(offset), .text(line))
            record(.jobStreamed(agent: agent, job: id, seq: lastInsertRowID, line: line))
            offset += Int64(line.utf8.count + 1)
        }
        try query("UPDATE jobs SET stream_bytes = ? WHERE id = ?", .int(offset), .text(id))
        return offset
    }

    func ledger(_ agent: String, _ account: String) throws(FSError) -> Ledger {
        guard let r = try query("SELECT spent, reserved, day, day_spent, tick, tick_spent FROM ledgers WHERE agent = ? AND account = ?",
                                .text(agent), .text(account)).first else { return Ledger() }
        return Ledger(spent: r[0].int ?? 0, reserved: r[1].int ?? 0, day: r[2].int ?? 0, daySpent: r[3].int ?? 0, tick: r[4].int ?? 0,
                      tickSpent: r[5].int ?? 0)
    }

    func saveLedger(_ agent: String, _ account: String, _ l: Ledger) throws(FSError) {
        try query("""
            INSERT INTO ledgers(agent, account, spent, reserved, day, day_spent, tick, tick_spent) VALUES(?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT DO UPDATE SET spent = excluded.spent, reserved = excluded.reserved, day = excluded.day, day_spent = excluded.day_spent,
            tick = excluded.tick, tick_spent = excluded.tick_spent
            """, .text(agent), .text(account), .int(l.spent), .int(l.reserved), .int(l.day), .int(l.daySpent), .int(l.tick), .int(l.tickSpent))
    }

    /// The agent's tick window: the number of the tick that is running or runs next.
    func tickWindow(_ agent: String) throws(FSError) -> Int64 {
        (try scalar("SELECT tick_count FROM agents WHERE id = ?", .text(agent))?.int ?? 0) + 1
    }
}
