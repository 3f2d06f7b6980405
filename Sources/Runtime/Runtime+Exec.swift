public import Foundation
public import Namespace
public import Services
import Synchronization

/// Exec agents (SPEC "Exec agents"): the `program` file and one sandboxed run per tick. The
/// run is a containers-style exec in a private work directory made fresh for each tick
/// (`<agent>/.tick`: no session id can be spelled so), with the agent's own namespace bound at
/// `/n/self` from the self mount, limits from the agent's config under its containers/policy.
extension Runtime {
    /// The work directory of an agent's tick runs (its name is no valid session id).
    static let tickSession = ".tick"

    static func checkProgram(_ data: Data, kind: String, version: Int64, at: Int64) throws(FSError) -> ProgramInfo {
        guard kind == "exec" else { throw FSError.invalidInput("only exec agents have a program (this agent is kind '\(kind)')") }
        guard data.count <= ProgramLimits.maxBytes else {
            throw FSError(.payloadTooLarge, "a program is at most \(ProgramLimits.maxBytes) bytes (this one is \(data.count))")
        }
        guard !data.isEmpty else { throw FSError.invalidInput("a program cannot be empty: write a script with a #! line, or an executable") }
        return ProgramInfo(version: version, bytes: Int64(data.count), sha256: ProgramLimits.sha256(data), updatedAt: at)
    }

    public func programInfo(of agent: String) async throws -> ProgramFileInfo? {
        let r = try await requireAgent(agent)
        guard r.kind == "exec" else { return nil }
        return ProgramFileInfo(version: r.program?.version ?? 0, bytes: r.program?.bytes ?? 0, updatedAt: r.program?.updatedAt ?? r.createdAt)
    }

    public func program(of agent: String) async throws -> Data {
        let r = try await requireAgent(agent)
        guard r.kind == "exec" else { throw FSError.notFound("/agents/\(agent)/program") }
        return try await store.program(agent) ?? Data()
    }

    public func putProgram(of agent: String, _ data: Data) async throws {
        let r = try await requireAgent(agent)
        let now = clock.now()
        let info = try Self.checkProgram(data, kind: r.kind, version: 0, at: now)
        _ = try await store.putProgram(agent, data, sha256: info.sha256, at: now,
                                       trace: [Trace.record("program_change", at: now, ["bytes": .int64(info.bytes), "sha256": .string(info.sha256)])])
    }

    /// One run of the agent's program for its tick (the engine runs one tick per agent at a
    /// time, so the tick directory has one user).
    func runProgram(of agent: String, stdin: Data, config: ExecConfig) async throws -> ProgramRun {
        guard let sandbox = containers.sandbox else { throw FSError(.unavailable, "this runtime has no sandbox to run programs in") }
        if let selfMount, !selfMountUp.load(ordering: .relaxed) {
            throw FSError(.unavailable, "the self mount (\(selfMount)) is not mounted, so programs would run without /n/self: see agentd's log")
        }
        // Claimed first: a delete from here on cancels the run, even one not started yet.
        let key = "tick:" + agent
        programRuns.claim(key, agent: agent)
        defer { programRuns.finished(key) }
        var record = try await requireAgent(agent)
        var body = try await store.program(agent)
        if let b = body, record.program?.sha256 != ProgramLimits.sha256(b) {
            // Written between the two reads: the row that goes with these bytes.
            record = try await requireAgent(agent)
            body = try await store.program(agent)
        }
        guard let info = record.program, let body, !body.isEmpty else {
            throw FSError(.notFound, "the agent has no program yet: write one to its program file (agentctl write \(agent)/program - < FILE)",
                          path: "/agents/\(agent)/program")
        }
        let policy = try await containersPolicyValue(of: agent)
        let limits = try config.limits(under: policy)
        let missing = SandboxLimit.allCases.filter { !sandbox.enforceable.contains($0) }
        guard missing.isEmpty else {
            throw FSError(.unavailable, "this machine cannot enforce the sandbox's \(missing.map(\.rawValue).joined(separator: ", ")) limits (containers/providers/\(sandbox.name)/info says why)")
        }
        let session = SandboxSession(agent: agent, id: Self.tickSession)
        try? await sandbox.removeSession(session)  // what a tick cut short by a crash left
        try await sandbox.createSession(session)
        try await sandbox.writeExecutable(session, ["program"], body)
        let exec = SandboxExec(argv: ["/work/program"], stdin: stdin, env: ["AGENT_ID": agent, "AGENTNS_SELF": "/n/self"], limits: limits,
                               binds: selfMount.map { [(host: "\($0)/\(agent)", inside: "/n/self")] } ?? [], label: Self.programLabel(agent))
        let output = ProgramOutput()
        selfCalls.open(agent)
        // A program blocked in a /n/self request cannot die (not even of SIGKILL) until it is
        // answered: once its wall time is up, its requests are answered with an error, and what
        // it still holds open is not committed when it is killed (the kernel flushes a dying
        // process's files). Started before the program, this fires before the sandbox kills it.
        let calls = selfCalls
        let deadline = Task {
            try? await Task.sleep(for: .milliseconds(limits.timeoutMs))
            if !Task.isCancelled { calls.abort(agent) }
        }
        programRuns.start(key) {
            do {
                let exit = try await sandbox.run(session, exec) { output.add($0) }
                output.finish(.success(exit))
            } catch {
                output.finish(.failure(error))
            }
        }
        await programRuns.task(key)?.value
        deadline.cancel()
        selfCalls.abort(agent)  // nothing of the run is left to serve
        let abandoned = !programRuns.cancelledByUser(key) && output.wasCancelled
        try? await sandbox.removeSession(session)
        let (stdout, stderr, result) = output.taken()
        guard let result else { throw FSError(.unavailable, "the program could not be started (agentd is stopping)") }
        var run = ProgramRun(stdout: stdout, stderr: stderr, exit: try result.get(), programVersion: info.version)
        run.abandoned = abandoned
        return run
    }

    /// The sandbox label of an agent's tick runs: the self mount admits to `/<agent>` only
    /// processes of a run so labelled.
    public static func programLabel(_ agent: String) -> String { "tick." + agent }

    /// Programs of exec agents running now.
    public var programRunsCount: Int { programRuns.count }

    /// The tick directory of an agent that is gone, and the agent's own (its sessions' are gone).
    func dropTickDirectory(of agent: String) async {
        try? await containers.sandbox?.removeSession(SandboxSession(agent: agent, id: Self.tickSession))
        await containers.sandbox?.removeAgent(agent)
    }
}

/// What an exec agent's tick may ask of the runtime.
struct AgentExec: TickExec {
    let runtime: Runtime
    let agent: String

    func runProgram(stdin: Data, config: ExecConfig) async throws -> ProgramRun {
        try await runtime.runProgram(of: agent, stdin: stdin, config: config)
    }
}

/// A program's stdout and stderr as they arrive (the provider caps them at output_bytes).
final class ProgramOutput: Sendable {
    struct State {
        var stdout = ""
        var stderr = ""
        var result: Result<SandboxExit, any Error>?
    }
    let state = Mutex(State())

    func add(_ piece: SandboxOutput) {
        state.withLock { s in
            switch piece.stream {
            case .stdout: s.stdout += piece.data
            case .stderr: s.stderr += piece.data
            }
        }
    }

    func finish(_ result: Result<SandboxExit, any Error>) { state.withLock { $0.result = result } }

    func taken() -> (String, String, Result<SandboxExit, any Error>?) { state.withLock { ($0.stdout, $0.stderr, $0.result) } }

    var wasCancelled: Bool { state.withLock { if case .success(let e)? = $0.result { e.cancelled } else { false } } }
}
