public import Foundation
public import Namespace
public import Runtime
public import Services

/// SessionStore over SQLite: container sessions, execs and their output.
extension SQLiteStore {
    static let sessionColumns = "id, agent, provider, state, limits, created_at, last_used_at, idle_ms, ended_at, error, execs, cpu_ms, cost, output_bytes"
    static let execColumns = "id, agent, session, state, argv, limits, reserved, cost, started_at, finished_at, result, output_bytes"

    static func decodeLimits(_ text: String?) -> SandboxLimits {
        let json = (try? JSON(parsing: text ?? "{}")) ?? .object([:])
        return (try? SandboxLimits.defaults.applying(json, maximum: .maximum, what: "stored limits")) ?? .defaults
    }

    static func decodeSession(_ r: [SQLValue]) -> ContainerSession {
        var s = ContainerSession(id: r[0].text ?? "", agent: r[1].text ?? "", provider: r[2].text ?? "",
                                 state: ContainerSession.State(rawValue: r[3].text ?? "") ?? .failed, limits: decodeLimits(r[4].text),
                                 createdAt: r[5].int ?? 0, idleMs: r[7].int ?? 0)
        s.lastUsedAt = r[6].int ?? s.createdAt
        s.endedAt = r[8].int
        s.error = r[9].text
        s.execs = r[10].int ?? 0
        s.cpuMs = r[11].int ?? 0
        s.cost = r[12].int ?? 0
        s.outputBytes = r[13].int ?? 0
        return s
    }

    static func decodeExec(_ r: [SQLValue]) -> ContainerExec {
        let argv = ((try? JSON(parsing: r[4].text ?? "[]"))?.arrayValue ?? []).compactMap(\.stringValue)
        var e = ContainerExec(id: r[0].text ?? "", agent: r[1].text ?? "", session: r[2].text ?? "",
                              state: ContainerExec.State(rawValue: r[3].text ?? "") ?? .killed, argv: argv, limits: decodeLimits(r[5].text),
                              reserved: r[6].int ?? 0, startedAt: r[8].int ?? 0)
        e.cost = r[7].int
        e.finishedAt = r[9].int
        e.result = r[10].text.flatMap { try? JSON(parsing: $0) }
        e.outputBytes = r[11].int ?? 0
        return e
    }

    public func createSession(_ session: ContainerSession, account: String, maxSessions: @escaping @Sendable (JSON?) throws -> Int,
                              trace: [JSON]) async throws {
        let retain = options.logRetain
        try await db.write { conn in
            guard try conn.agentExists(session.agent) else { throw Self.notFound(session.agent) }
            let stored = try conn.scalar("SELECT body FROM policies WHERE agent = ? AND service = ?", .text(session.agent), .text(account))?.text
                .map { (try? JSON(parsing: $0)) ?? .null }
            let most: Int
            do { most = try maxSessions(stored) } catch let e as FSError { throw e } catch { throw FSError(.unavailable, "\(error)") }
            let live = try conn.scalar("SELECT count(*) FROM sessions WHERE agent = ? AND state = 'running'", .text(session.agent))?.int ?? 0
            guard live < Int64(most) else {
                throw FSError(.queueFull, "\(live) sessions of this agent are running (containers/policy max_sessions is \(most)); stop one "
                                  + "(write stop to sessions/<s>/ctl) or wait for one to expire", path: "/agents/\(session.agent)/containers/new")
            }
            try conn.query("""
                INSERT INTO sessions(id, agent, provider, state, limits, created_at, last_used_at, idle_ms) VALUES(?, ?, ?, ?, ?, ?, ?, ?)
                """, .text(session.id), .text(session.agent), .text(session.provider), .text(session.state.rawValue),
                           .text(session.limits.json.description), .int(session.createdAt), .int(session.lastUsedAt), .int(session.idleMs))
            _ = try conn.appendLogs(session.agent, trace.map { (.trace, $0) }, retain: retain)
        }
    }

    public func sessions(_ agent: String) async throws -> [ContainerSession] {
        try db.read { conn in
            guard try conn.agentExists(agent) else { throw Self.notFound(agent) }
            return try conn.query("SELECT \(Self.sessionColumns) FROM sessions WHERE agent = ? ORDER BY created_at DESC, id LIMIT 1000",
                                  .text(agent)).map(Self.decodeSession)
        }
    }

    public func session(_ agent: String, _ id: String) async throws -> ContainerSession? {
        try db.read { conn in try conn.session(agent, id) }
    }

    public func liveSessions() async throws -> [ContainerSession] {
        try db.read { conn in
            try conn.query("SELECT \(Self.sessionColumns) FROM sessions WHERE state = 'running' ORDER BY created_at").map(Self.decodeSession)
        }
    }

    public func endSession(_ agent: String, _ id: String, _ state: ContainerSession.State, error: String?, at: Int64, trace: [JSON]) async throws
        -> ContainerSession? {
        let retain = options.logRetain
        return try await db.write { conn in
            guard var s = try conn.session(agent, id), s.state.isLive else { return nil }
            s.state = state
            s.endedAt = at
            s.error = error
            try conn.query("UPDATE sessions SET state = ?, ended_at = ?, error = ? WHERE id = ?", .text(state.rawValue), .int(at),
                           error.map { .text($0) } ?? .null, .text(id))
            _ = try conn.appendLogs(agent, trace.map { (.trace, $0) }, retain: retain)
            return s
        }
    }

    public func startExec(_ exec: ContainerExec, account: String, admission: @escaping @Sendable (JSON?) throws -> JobAdmission, trace: [JSON])
        async throws {
        let retain = options.logRetain
        try await db.write { conn in
            guard try conn.agentExists(exec.agent) else { throw Self.notFound(exec.agent) }
            let shown = "/agents/\(exec.agent)/containers/sessions/\(exec.session)/exec/new"
            guard let s = try conn.session(exec.agent, exec.session) else {
                throw FSError(.notFound, "no session '\(exec.session)'", path: shown)
            }
            guard s.state.isLive else {
                throw FSError(.invalidInput, "session '\(exec.session)' is \(s.state.rawValue); create a new one with containers/new", path: shown)
            }
            let stored = try conn.scalar("SELECT body FROM policies WHERE agent = ? AND service = ?", .text(exec.agent), .text(account))?.text
                .map { (try? JSON(parsing: $0)) ?? .null }
            let allowed: JobAdmission
            do { allowed = try admission(stored) } catch let e as FSError { throw e } catch { throw FSError(.unavailable, "\(error)") }
            let running = try conn.scalar("SELECT count(*) FROM execs WHERE agent = ? AND state = 'running'", .text(exec.agent))?.int ?? 0
            guard running < Int64(allowed.maxOpen) else {
                throw FSError(.queueFull, "\(running) execs of this agent are running (containers/policy max_running is \(allowed.maxOpen)); "
                                  + "retry when one ends", path: shown, retryAfter: 1)
            }
            var ledger = try conn.ledger(exec.agent, account)
            do {
                try ledger.reserve(exec.reserved, limits: allowed.limits, now: exec.startedAt, tick: try conn.tickWindow(exec.agent))
            } catch {
                throw FSError(.budgetExceeded, "containers: \(error)", path: shown)
            }
            try conn.saveLedger(exec.agent, account, ledger)
            try conn.query("""
                INSERT INTO execs(id, agent, session, state, argv, limits, reserved, started_at) VALUES(?, ?, ?, ?, ?, ?, ?, ?)
                """, .text(exec.id), .text(exec.agent), .text(exec.session), .text(exec.state.rawValue),
                           .text(JSON.array(exec.argv.map { .string($0) }).description), .text(exec.limits.json.description), .int(exec.reserved),
                           .int(exec.startedAt))
            try conn.query("UPDATE sessions SET last_used_at = max(last_used_at, ?), execs = execs + 1 WHERE id = ?", .int(exec.startedAt),
                           .text(exec.session))
            _ = try conn.appendLogs(exec.agent, trace.map { (.trace, $0) }, retain: retain)
        }
    }

    public func appendExecOutput(_ agent: String, _ session: String, _ exec: String, _ lines: [String], sessionLines: [String]) async throws {
        guard !lines.isEmpty || !sessionLines.isEmpty else { return }
        try await db.write(durable: false) { conn in
            // An ended exec's output is closed: nothing lands after its end.
            guard try conn.scalar("SELECT 1 FROM execs WHERE agent = ? AND id = ? AND state = 'running'", .text(agent), .text(exec)) != nil else {
                throw FSError(.notFound, "no running exec '\(exec)'", path: "/agents/\(agent)/containers/sessions/\(session)/exec/\(exec)")
            }
            try conn.appendExecOutput(agent, session, exec, lines, sessionLines)
        }
    }

    public func finishExec(_ agent: String, _ session: String, _ id: String, state: ContainerExec.State, result: JSON, cpuMs: Int64, cost: Int64,
                           account: String, at: Int64, tail: (lines: [String], sessionLines: [String]),
                           inbox: (maxDepth: Int, policy: OverflowPolicy), trace: @escaping @Sendable (ContainerExec) -> [JSON]) async throws
        -> ContainerExec? {
        let retain = options.logRetain
        let window = options.seenWindowMs
        return try await db.write(durable: false) { conn in
            guard var exec = try conn.exec(agent, id), exec.session == session, !exec.state.isFinished else { return nil }
            try conn.appendExecOutput(agent, session, id, tail.lines, tail.sessionLines)
            var ledger = try conn.ledger(agent, account)
            let charged = ledger.settle(reservation: exec.reserved, cost: cost, now: at, tick: try conn.tickWindow(agent))
            try conn.saveLedger(agent, account, ledger)
            exec.state = state
            exec.cost = charged
            exec.finishedAt = at
            exec.result = result
            exec.outputBytes = try conn.scalar("SELECT output_bytes FROM execs WHERE id = ?", .text(id))?.int ?? 0
            try conn.query("UPDATE execs SET state = ?, cost = ?, finished_at = ?, result = ? WHERE id = ?", .text(state.rawValue), .int(charged),
                           .int(at), .text(result.description), .text(id))
            try conn.query("UPDATE sessions SET last_used_at = max(last_used_at, ?), cpu_ms = cpu_ms + ?, cost = cost + ? WHERE id = ?",
                           .int(at), .int(max(0, cpuMs)), .int(charged), .text(session))
            // The notice is the runtime's own message: a full inbox that would refuse it
            // dead-letters it instead, so the agent can still find out.
            let policy: OverflowPolicy = inbox.policy == .reject ? .deadLetter : inbox.policy
            _ = try conn.appendLogs(agent, trace(exec).map { (.trace, $0) }, retain: retain)
            _ = try conn.enqueue(agent, exec.notice(at: at), maxDepth: inbox.maxDepth, policy: policy, at: at, retain: retain, window: window)
            return exec
        }
    }

    public func execs(_ agent: String, _ session: String) async throws -> [ContainerExec] {
        try db.read { conn in
            guard try conn.session(agent, session) != nil else {
                throw FSError(.notFound, "no session '\(session)'", path: "/agents/\(agent)/containers/sessions/\(session)")
            }
            return try conn.query("SELECT \(Self.execColumns) FROM execs WHERE session = ? AND agent = ? ORDER BY started_at DESC, id LIMIT 1000",
                                  .text(session), .text(agent)).map(Self.decodeExec)
        }
    }

    public func exec(_ agent: String, _ session: String, _ id: String) async throws -> ContainerExec? {
        try db.read { conn in try conn.exec(agent, id).flatMap { $0.session == session ? $0 : nil } }
    }

    public func runningExecs() async throws -> [ContainerExec] {
        try db.read { conn in
            try conn.query("SELECT \(Self.execColumns) FROM execs WHERE state = 'running' ORDER BY started_at").map(Self.decodeExec)
        }
    }

    public func readExecOutput(_ agent: String, _ session: String, _ exec: String, _ range: ByteRange) async throws -> FileSlice {
        try db.read { conn in
            guard let e = try conn.exec(agent, exec), e.session == session else {
                throw FSError(.notFound, "no exec '\(exec)'", path: "/agents/\(agent)/containers/sessions/\(session)/exec/\(exec)")
            }
            return try conn.readLines(in: "exec_output", where: "exec = ?", [.text(exec)], range)
        }
    }

    public func readSessionOutput(_ agent: String, _ session: String, _ range: ByteRange) async throws -> FileSlice {
        try db.read { conn in
            guard try conn.session(agent, session) != nil else {
                throw FSError(.notFound, "no session '\(session)'", path: "/agents/\(agent)/containers/sessions/\(session)")
            }
            return try conn.readLines(in: "session_output", where: "session = ?", [.text(session)], range)
        }
    }

    public func pruneSessions(endedBefore: Int64) async throws -> Int {
        try await db.write(durable: false) { conn in
            let gone = try conn.query("SELECT id FROM sessions WHERE state != 'running' AND ended_at < ? LIMIT 1000", .int(endedBefore))
                .compactMap { $0[0].text }
            for id in gone {
                try conn.query("DELETE FROM exec_output WHERE session = ?", .text(id))
                try conn.query("DELETE FROM session_output WHERE session = ?", .text(id))
                try conn.query("DELETE FROM execs WHERE session = ?", .text(id))
                try conn.query("DELETE FROM sessions WHERE id = ?", .text(id))
            }
            return gone.count
        }
    }
}

extension SQLiteConnection {
    func session(_ agent: String, _ id: String) throws(FSError) -> ContainerSession? {
        try query("SELECT \(SQLiteStore.sessionColumns) FROM sessions WHERE agent = ? AND id = ?", .text(agent), .text(id)).first
            .map(SQLiteStore.decodeSession)
    }

    func exec(_ agent: String, _ id: String) throws(FSError) -> ContainerExec? {
        try query("SELECT \(SQLiteStore.execColumns) FROM execs WHERE agent = ? AND id = ?", .text(agent), .text(id)).first.map(SQLiteStore.decodeExec)
    }

    /// Appends to an exec's output and its session's, moving both sizes.
    func appendExecOutput(_ agent: String, _ session: String, _ exec: String, _ lines: [String], _ sessionLines: [String]) throws(FSError) {
        if !lines.isEmpty {
            var offset = try scalar("SELECT output_bytes FROM execs WHERE id = ?", .text(exec))?.int ?? 0
            for line in lines {
                try query("INSERT INTO exec_output(agent, session, exec, offset, line) VALUES(?, ?, ?, ?, ?)", .text(agent), .text(session),
                          .text(exec), .int(offset), .text(line))
                record(.execOutput(agent: agent, session: session, exec: exec, seq: lastInsertRowID, line: line))
                offset += Int64(line.utf8.count + 1)
            }
            try query("UPDATE execs SET output_bytes = ? WHERE id = ?", .int(offset), .text(exec))
        }
        if !sessionLines.isEmpty {
            var offset = try scalar("SELECT output_bytes FROM sessions WHERE id = ?", .text(session))?.int ?? 0
            for line in sessionLines {
                try query("INSERT INTO session_output(agent, session, offset, line) VALUES(?, ?, ?, ?)", .text(agent), .text(session),
                          .int(offset), .text(line))
                record(.sessionOutput(agent: agent, session: session, seq: lastInsertRowID, line: line))
                offset += Int64(line.utf8.count + 1)
            }
            try query("UPDATE sessions SET output_bytes = ? WHERE id = ?", .int(offset), .text(session))
        }
    }
}
