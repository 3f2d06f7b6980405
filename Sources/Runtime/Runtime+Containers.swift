public import Foundation
public import Namespace
public import Services

/// `containers/` over the store and the sandbox provider: a session is a row and a work
/// directory; an exec is admitted (budget, limits) in one transaction, runs on a task of its
/// own with its output streamed into the store, and ends exactly once with its CPU time
/// settled against the same ledger compute uses (account "containers") and the agent told.
extension Runtime: ContainersHost {
    static let containersAccount = "containers"

    public func containersPolicyValue(of agent: String) async throws -> ContainersPolicy {
        guard let stored = try await store.policy(agent, Self.containersAccount) else { return .defaultPolicy }
        return try Self.parseContainersPolicy(stored, agent: agent)
    }

    /// Validated when written; one that no longer parses is refused, never read as "no limits".
    static func parseContainersPolicy(_ stored: JSON, agent: String) throws(FSError) -> ContainersPolicy {
        do { return try ContainersPolicy(json: stored) } catch {
            throw FSError(.unavailable, "the stored containers/policy is invalid (\(error)); the operator rewrites it",
                          path: "/agents/\(agent)/containers/policy")
        }
    }

    func sandbox(for agent: String) throws(FSError) -> any SandboxProvider {
        guard let sandbox = containers.sandbox else {
            throw FSError(.unavailable, "this agentd runs no sandbox provider (start it with bubblewrap installed: apt-get install bubblewrap)",
                          path: "/agents/\(agent)/containers/new")
        }
        return sandbox
    }

    public func sandboxProviders(of agent: String) async throws -> [(name: String, info: JSON)] {
        _ = try await requireAgent(agent)
        return containers.sandbox.map { [($0.name, $0.info)] } ?? []
    }

    // MARK: - Sessions

    static let sessionKeys: Set<String> = ["provider", "limits", "files"]

    public func createSession(of agent: String, _ body: Data) async throws -> JSON {
        let s = try await createSession(of: agent, request: try JSON(fileData: body))
        return .object(["session_id": .string(s.id), "state": .string(s.state.rawValue)])
    }

    /// Makes the work directory (with the request's `files`), then the session's row; a row
    /// that cannot be written takes the directory with it.
    public func createSession(of agent: String, request: JSON) async throws -> ContainerSession {
        let shown = "/agents/\(agent)/containers/new"
        _ = try await requireAgent(agent)
        guard let o = request.objectValue else {
            throw FSError(.invalidInput, #"a session request is a JSON object: {"limits": {"memory_bytes": 134217728}, "files": {"main.py": "print(1)"}}"#,
                          path: shown)
        }
        for key in o.keys where !Self.sessionKeys.contains(key) {
            throw FSError(.invalidInput, "containers/new: unknown key '\(key)'; known: \(Self.sessionKeys.sorted().joined(separator: ", "))", path: shown)
        }
        let sandbox = try sandbox(for: agent)
        if let name = o["provider"], name != .null, name.stringValue != sandbox.name {
            throw FSError(.invalidInput, "containers/new: no sandbox provider \(name); the providers are: \(sandbox.name)", path: shown)
        }
        let policy = try await containersPolicyValue(of: agent)
        let limits = try policy.defaults.applying(o["limits"], maximum: policy.maximum, what: "containers/new 'limits'")
        try Self.checkEnforceable(sandbox, shown: shown)
        var files: [([String], Data)] = []
        if let f = o["files"], f != .null {
            guard let fo = f.objectValue, fo.count <= 1000 else {
                throw FSError(.invalidInput, "containers/new: 'files' is an object of path → text (at most 1000)", path: shown)
            }
            for (name, content) in fo.sorted(by: { $0.key < $1.key }) {
                guard let text = content.stringValue else { throw FSError(.invalidInput, "containers/new: files['\(name)'] is a string", path: shown) }
                files.append((try Self.workPath(name, shown: shown), Data(text.utf8)))
            }
        }
        let now = clock.now()
        let session = ContainerSession(id: Tokens.generate(prefix: "s", bytes: 8), agent: agent, provider: sandbox.name, limits: limits,
                                       createdAt: now, idleMs: policy.idleExpiryMs)
        let ref = SandboxSession(agent: agent, id: session.id)
        try await sandbox.createSession(ref)
        do {
            for (path, data) in files { try await sandbox.write(ref, path, data, offset: nil, diskLimit: limits.diskBytes) }
            let trace = [Trace.record("containers_session", at: now, ["session": .string(session.id), "provider": .string(sandbox.name),
                                                                       "limits": limits.json])]
            try await store.createSession(session, account: Self.containersAccount, maxSessions: { stored in
                try (stored.map { try Self.parseContainersPolicy($0, agent: agent) } ?? .defaultPolicy).maxSessions
            }, trace: trace)
        } catch {
            try? await sandbox.removeSession(ref)
            throw error
        }
        return session
    }

    /// Every limit is enforced or the session is refused: none is silently ignored.
    static func checkEnforceable(_ sandbox: any SandboxProvider, shown: String) throws(FSError) {
        let missing = SandboxLimit.allCases.filter { !sandbox.enforceable.contains($0) }
        guard missing.isEmpty else {
            throw FSError(.unavailable, "the sandbox provider '\(sandbox.name)' cannot enforce the \(missing.map(\.rawValue).joined(separator: ", ")) "
                              + "limit on this machine (see containers/providers/\(sandbox.name)/info); sessions are refused rather than run unlimited",
                          path: shown)
        }
    }

    /// A work-directory path from text: relative, normalised, never leaving it.
    static func workPath(_ text: String, shown: String) throws(FSError) -> [String] {
        guard !text.hasPrefix("/") else { throw FSError(.invalidPath, "'\(text)' is absolute; paths in a session are relative to its work directory", path: shown) }
        let parts = text.split(separator: "/", omittingEmptySubsequences: true).map(String.init).filter { $0 != "." }
        guard !parts.isEmpty, parts.count <= 64 else { throw FSError(.invalidPath, "'\(text)' names no file", path: shown) }
        for p in parts {
            guard p != "..", !p.utf8.contains(0), p.utf8.count <= 255 else {
                throw FSError(.invalidPath, "'\(text)' leaves the work directory or has a bad component", path: shown)
            }
        }
        return parts
    }

    static func entry(_ s: ContainerSession) -> ContainerEntry {
        ContainerEntry(id: s.id, state: s.state.rawValue, mtime: s.endedAt ?? s.lastUsedAt, outputBytes: s.outputBytes, finished: !s.state.isLive)
    }

    static func entry(_ e: ContainerExec) -> ContainerEntry {
        ContainerEntry(id: e.id, state: e.state.rawValue, mtime: e.finishedAt ?? e.startedAt, outputBytes: e.outputBytes, finished: e.state.isFinished)
    }

    func requireSession(_ agent: String, _ id: String) async throws -> ContainerSession {
        guard let s = try await store.session(agent, id) else {
            _ = try await requireAgent(agent)
            throw FSError(.notFound, "no session '\(id)'", path: "/agents/\(agent)/containers/sessions/\(id)")
        }
        return s
    }

    /// A session whose files can be used: it is running and has a provider.
    func liveSession(_ agent: String, _ id: String) async throws -> (any SandboxProvider, SandboxSession, ContainerSession) {
        let s = try await requireSession(agent, id)
        guard s.state.isLive else {
            throw FSError(.notFound, "session '\(id)' is \(s.state.rawValue): its files were deleted", path: "/agents/\(agent)/containers/sessions/\(id)/files")
        }
        return (try sandbox(for: agent), SandboxSession(agent: agent, id: id), s)
    }

    public func sessions(of agent: String) async throws -> [ContainerEntry] { try await store.sessions(agent).map(Self.entry) }

    public func session(of agent: String, id: String) async throws -> ContainerEntry { Self.entry(try await requireSession(agent, id)) }

    public func sessionStatus(of agent: String, id: String) async throws -> JSON {
        let s = try await requireSession(agent, id)
        let running = try await store.execs(agent, id).filter { $0.state == .running }.count
        var disk: Int64?
        if s.state.isLive, let sandbox = containers.sandbox { disk = try? await sandbox.diskUsage(SandboxSession(agent: agent, id: id)) }
        return s.statusJSON(running: Int64(running), diskBytes: disk)
    }

    public func stopSession(of agent: String, id: String) async throws {
        let s = try await requireSession(agent, id)
        guard s.state.isLive else {
            throw FSError(.invalidInput, "session '\(id)' has already ended (\(s.state.rawValue))", path: "/agents/\(agent)/containers/sessions/\(id)/ctl")
        }
        // On a task of its own: a client that goes away mid-request cannot cut it short.
        try await Task { try await self.endSession(s, .stopped, error: nil) }.value
    }

    /// Ends a live session: no exec is admitted after the row says so, the running ones are
    /// killed (each ends `killed`, charged for what it used), then the work directory goes.
    func endSession(_ s: ContainerSession, _ state: ContainerSession.State, error: String?) async throws {
        let now = clock.now()
        let ended = try await store.endSession(s.agent, s.id, state, error: error, at: now,
                                               trace: [Trace.record("containers_session_end", at: now, ["session": .string(s.id), "state": .string(state.rawValue)])])
        guard ended != nil else { return }
        let execs = containers.running(in: s.id)
        for e in execs { _ = containers.tasks.cancel(e) }
        for e in execs { await containers.tasks.task(e)?.value }
        if let sandbox = containers.sandbox { try? await sandbox.removeSession(SandboxSession(agent: s.agent, id: s.id)) }
    }

    public func readSessionOutput(of agent: String, session: String, _ range: ByteRange) async throws -> FileSlice {
        try await store.readSessionOutput(agent, session, range)
    }

    // MARK: - Execs

    public func startExec(of agent: String, session: String, _ body: Data) async throws -> JSON {
        let request = try ExecRequest(json: try JSON(fileData: body))
        let exec = try await startExec(of: agent, session: session, request)
        guard request.wait else { return .object(["exec_id": .string(exec.id), "state": .string(exec.state.rawValue)]) }
        if let task = containers.tasks.task(exec.id) { await task.value }
        guard let ended = try await store.exec(agent, session, exec.id), let result = ended.result, case .object(var o) = result else {
            return .object(["exec_id": .string(exec.id), "state": .string(ContainerExec.State.running.rawValue)])
        }
        o["exec_id"] = .string(exec.id)
        o["state"] = .string(ended.state.rawValue)
        return .object(o)
    }

    /// Admits an exec (its reservation against every budget limit, the agent's running execs
    /// against `max_running`, in one transaction) and starts it.
    public func startExec(of agent: String, session sid: String, _ request: ExecRequest) async throws -> ContainerExec {
        let shown = "/agents/\(agent)/containers/sessions/\(sid)/exec/new"
        let s = try await requireSession(agent, sid)
        guard s.state.isLive else {
            throw FSError(.invalidInput, "session '\(sid)' is \(s.state.rawValue); create a new one with containers/new", path: shown)
        }
        let sandbox = try sandbox(for: agent)
        let policy = try await containersPolicyValue(of: agent)
        var limits = try s.limits.applying(request.limits, maximum: policy.maximum, what: "exec/new 'limits'")
        if let t = request.timeoutMs {
            guard t <= policy.maximum.timeoutMs else {
                throw FSError(.invalidInput, "exec/new: 'timeout_ms' \(t) is above the policy's maximum of \(policy.maximum.timeoutMs)", path: shown)
            }
            limits.timeoutMs = t
        }
        let now = clock.now()
        let exec = ContainerExec(id: Tokens.generate(prefix: "e", bytes: 8), agent: agent, session: sid, argv: request.argv, limits: limits,
                                 reserved: policy.reservation(limits), startedAt: now)
        let trace = [Trace.record("containers_exec", at: now, ["session": .string(sid), "exec": .string(exec.id),
                                                                "argv": .array(request.argv.prefix(16).map { .string(String($0.prefix(200))) }),
                                                                "reserved": .int64(exec.reserved)])]
        containers.claim(exec.id, agent: agent, session: sid)
        do {
            try await store.startExec(exec, account: Self.containersAccount, admission: { stored in
                let p = try stored.map { try Self.parseContainersPolicy($0, agent: agent) } ?? .defaultPolicy
                return JobAdmission(limits: p.limits, maxOpen: p.maxRunning)
            }, trace: trace)
        } catch {
            containers.finished(exec.id)
            throw error
        }
        let run = SandboxExec(argv: request.argv, stdin: Data(request.stdin.utf8), env: request.env, limits: limits)
        let price = policy.pricePerCPUSecond
        containers.tasks.start(exec.id) { [weak self] in
            await self?.runExec(exec, run, sandbox: sandbox, price: price)
        }
        return exec
    }

    /// An output record, as the exec's `output` and the session's show it.
    struct OutputLine: Sendable {
        var line: String
        var sessionLine: String
    }

    /// One exec from start to its end. A shutdown (the task cancelled without a stop) leaves it
    /// running in the store: the next start reports it killed.
    func runExec(_ exec: ContainerExec, _ run: SandboxExec, sandbox: any SandboxProvider, price: Int64) async {
        let (agent, sid, id) = (exec.agent, exec.session, exec.id)
        defer { containers.finished(id) }
        let appender = BatchAppender<OutputLine> { [store] items in
            try await store.appendExecOutput(agent, sid, id, items.map(\.line), sessionLines: items.map(\.sessionLine))
        }
        var exit: SandboxExit
        var failure: String?
        let started = clock.now()
        do {
            exit = try await sandbox.run(SandboxSession(agent: agent, id: sid), run) { out in
                let line = JSON.object(["stream": .string(out.stream.rawValue), "data": .string(out.data)]).description
                let sessionLine = JSON.object(["exec": .string(id), "stream": .string(out.stream.rawValue), "data": .string(out.data)]).description
                // A failed write stops the output (the exec's result still commits).
                try? await appender.add(OutputLine(line: line, sessionLine: sessionLine))
            }
        } catch {
            failure = Self.describe(error)
            exit = SandboxExit(exitCode: nil, durationMs: clock.now() - started, cpuMs: 0, maxRSSKB: 0, cancelled: Task.isCancelled)
        }
        let tail = (try? await appender.close()) ?? []
        // A shutdown or the agent's deletion: nothing to end here (the next start reports it,
        // or its rows are gone).
        if Task.isCancelled, !containers.tasks.cancelledByUser(id) { return }
        var result = exit.json
        if let failure, case .object(var o) = result {
            o["error"] = .string(failure)
            result = .object(o)
        }
        let state: ContainerExec.State = failure != nil ? .killed : exit.execState
        await endExec(exec, state: state, result: result, cpuMs: exit.cpuMs, cost: ContainersPolicy.cost(cpuMs: exit.cpuMs, pricePerSecond: price),
                      tail: tail)
    }

    /// Writes the exec's end (retrying storage failures a few times; what is still running at
    /// the next start is reported killed) and wakes the agent for its notice.
    func endExec(_ exec: ContainerExec, state: ContainerExec.State, result: JSON, cpuMs: Int64, cost: Int64, tail: [OutputLine]) async {
        let record = try? await store.agent(exec.agent)
        let settings = record.flatMap { $0 }.map { self.settings($0) } ?? .defaults
        var delay: Int64 = 200
        for _ in 0..<8 {
            let now = clock.now()
            do {
                let ended = try await store.finishExec(exec.agent, exec.session, exec.id, state: state, result: result, cpuMs: cpuMs, cost: cost,
                                                       account: Self.containersAccount, at: now,
                                                       tail: (tail.map(\.line), tail.map(\.sessionLine)), inbox: (settings.maxDepth, settings.overflow)) { e in
                    var fields: [String: JSON] = ["session": .string(e.session), "exec": .string(e.id), "state": .string(e.state.rawValue),
                                                  "cost": .int64(e.cost ?? 0)]
                    for key in ["exit_code", "killed_by", "cpu_ms", "duration_ms", "error"] { if let v = result[key] { fields[key] = v } }
                    return [Trace.record("containers_exec_end", at: now, fields)]
                }
                if ended != nil { await engine.trigger(exec.agent, .message) }
                return
            } catch {
                if Self.isGone(error) { return }
                try? await clock.sleep(until: clock.now() + delay)
                delay = min(delay * 2, 10_000)
            }
        }
    }

    public func execs(of agent: String, session: String) async throws -> [ContainerEntry] {
        _ = try await requireSession(agent, session)
        return try await store.execs(agent, session).map(Self.entry)
    }

    func requireExec(_ agent: String, _ session: String, _ id: String) async throws -> ContainerExec {
        guard let e = try await store.exec(agent, session, id) else {
            _ = try await requireSession(agent, session)
            throw FSError(.notFound, "no exec '\(id)'", path: "/agents/\(agent)/containers/sessions/\(session)/exec/\(id)")
        }
        return e
    }

    public func exec(of agent: String, session: String, id: String) async throws -> ContainerEntry {
        Self.entry(try await requireExec(agent, session, id))
    }

    public func execStatus(of agent: String, session: String, id: String) async throws -> JSON {
        try await requireExec(agent, session, id).statusJSON
    }

    public func execResult(of agent: String, session: String, id: String) async throws -> JSON {
        let e = try await requireExec(agent, session, id)
        guard let result = e.result else {
            throw FSError(.notFound, "exec '\(id)' has no result yet (\(e.state.rawValue))",
                          path: "/agents/\(agent)/containers/sessions/\(session)/exec/\(id)/result")
        }
        return result
    }

    public func readExecOutput(of agent: String, session: String, exec: String, _ range: ByteRange) async throws -> FileSlice {
        try await store.readExecOutput(agent, session, exec, range)
    }

    // MARK: - Files

    static func fileEntry(_ f: SandboxFileInfo) -> SessionFileEntry {
        SessionFileEntry(name: f.name, isDirectory: f.kind == .directory, size: f.kind == .directory ? 0 : f.size, mtime: f.mtime)
    }

    public func sessionFile(of agent: String, session: String, _ path: [String]) async throws -> SessionFileEntry {
        let (sandbox, ref, _) = try await liveSession(agent, session)
        return Self.fileEntry(try await sandbox.stat(ref, path))
    }

    public func sessionFiles(of agent: String, session: String, _ path: [String]) async throws -> [SessionFileEntry] {
        let (sandbox, ref, _) = try await liveSession(agent, session)
        return try await sandbox.list(ref, path).map(Self.fileEntry)
    }

    public func readSessionFile(of agent: String, session: String, _ path: [String], _ range: ByteRange) async throws -> Data {
        let (sandbox, ref, _) = try await liveSession(agent, session)
        return try await sandbox.read(ref, path, offset: range.offset, count: range.count)
    }

    public func writeSessionFile(of agent: String, session: String, _ path: [String], _ data: Data, append: Bool) async throws {
        let (sandbox, ref, s) = try await liveSession(agent, session)
        var offset: Int64?
        if append { offset = (try? await sandbox.stat(ref, path).size) ?? 0 }
        try await sandbox.write(ref, path, data, offset: offset, diskLimit: s.limits.diskBytes)
    }

    public func removeSessionFile(of agent: String, session: String, _ path: [String]) async throws {
        let (sandbox, ref, _) = try await liveSession(agent, session)
        try await sandbox.remove(ref, path)
    }

    // MARK: - Usage and policy

    public func containersUsage(of agent: String) async throws -> JSON {
        _ = try await requireAgent(agent)
        let (ledger, tick) = try await store.ledger(agent, account: Self.containersAccount)
        let sessions = try await store.sessions(agent)
        guard case .object(var o) = ledger.usage(now: clock.now(), tick: tick) else { return .object([:]) }
        o["sessions"] = .int(sessions.filter { $0.state.isLive }.count)
        o["cpu_ms"] = .int64(sessions.reduce(0) { Money.add($0, $1.cpuMs) })
        return .object(o)
    }

    public func containersPolicy(of agent: String) async throws -> JSON {
        try await store.policy(agent, Self.containersAccount) ?? .object([:])
    }

    public func patchContainersPolicy(of agent: String, _ patch: JSON) async throws -> JSON {
        try await store.updatePolicy(agent, Self.containersAccount) { old in
            let next = old.merging(patch: patch)
            _ = try ContainersPolicy(json: next)
            return next
        }
    }

    // MARK: - Recovery and expiry

    /// Reports execs a previous process left running `killed` (nothing of theirs survived it:
    /// the sandbox dies with its parent), and fails live sessions whose work directory is gone.
    func recoverContainers() async {
        var running: [ContainerExec] = []
        var live: [ContainerSession] = []
        for attempt in 0..<10 {
            do {
                running = try await store.runningExecs()
                live = try await store.liveSessions()
                break
            } catch {
                if attempt == 9 { return }
                try? await clock.sleep(until: clock.now() + 1000)
            }
        }
        for e in running where !containers.tasks.owns(e.id) {
            let result = JSON.object(["exit_code": .null, "duration_ms": .int64(max(0, clock.now() - e.startedAt)), "cpu_ms": .int64(0),
                                      "max_rss_kb": .int64(0), "truncated": .bool(false),
                                      "error": .string("killed: agentd stopped while it ran; it was not run again")])
            await endExec(e, state: .killed, result: result, cpuMs: 0, cost: 0, tail: [])
        }
        for s in live {
            let ref = SandboxSession(agent: s.agent, id: s.id)
            if let sandbox = containers.sandbox, await sandbox.sessionExists(ref) { continue }
            try? await endSession(s, .failed, error: "its work directory is gone")
        }
    }

    /// Ends sessions idle past their policy's expiry (their files go). A read unless something
    /// expired: the check runs every few seconds and must not queue writes behind a busy database.
    func expireSessions() async {
        let now = clock.now()
        guard let live = try? await store.liveSessions() else { return }
        for s in live where s.expiresAt <= now && containers.running(in: s.id).isEmpty {
            try? await endSession(s, .expired, error: nil)
        }
    }

    /// Recovery, then expiry every few seconds and the pruning of sessions ended a day ago every
    /// hour, until cancelled; then the exec tasks stop (their execs stay running in the store for
    /// the next start to report).
    func runContainers() async {
        await recoverContainers()
        var pruned: Int64?
        while !Task.isCancelled {
            await expireSessions()
            let now = clock.now()
            if pruned.map({ now - $0 >= 3_600_000 }) ?? true {
                _ = try? await store.pruneSessions(endedBefore: now - ContainerRunner.keepEndedMs)
                pruned = now
            }
            do { try await clock.sleep(until: clock.now() + ContainerRunner.expiryCheckMs) } catch { break }
        }
        selfCalls.abortAll()  // a program waiting in /n/self cannot die until it is answered
        await programRuns.stop()
        await containers.tasks.stop()
    }

    /// Deletes the work directories of an agent's sessions and stops its execs (its rows are
    /// gone or going with it).
    func dropContainers(of agent: String, sessions: [ContainerSession]) async {
        // Their processes are gone before their directories go.
        for t in containers.tasks.stop(agent: agent) { await t.value }
        guard let sandbox = containers.sandbox else { return }
        for s in sessions { try? await sandbox.removeSession(SandboxSession(agent: agent, id: s.id)) }
    }
}
