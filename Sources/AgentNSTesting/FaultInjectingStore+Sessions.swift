public import Foundation
public import Namespace
public import Runtime
public import Services

/// SessionStore, forwarded.
extension FaultInjectingStore {
    public func createSession(_ session: ContainerSession, account: String, maxSessions: @escaping @Sendable (JSON?) throws -> Int,
                              trace: [JSON]) async throws {
        try await inner.createSession(session, account: account, maxSessions: maxSessions, trace: trace)
    }
    public func sessions(_ agent: String) async throws -> [ContainerSession] { try await inner.sessions(agent) }
    public func session(_ agent: String, _ id: String) async throws -> ContainerSession? { try await inner.session(agent, id) }
    public func liveSessions() async throws -> [ContainerSession] { try await inner.liveSessions() }
    public func endSession(_ agent: String, _ id: String, _ state: ContainerSession.State, error: String?, at: Int64, trace: [JSON]) async throws
        -> ContainerSession? {
        try await inner.endSession(agent, id, state, error: error, at: at, trace: trace)
    }
    public func startExec(_ exec: ContainerExec, account: String, admission: @escaping @Sendable (JSON?) throws -> JobAdmission, trace: [JSON])
        async throws {
        try await inner.startExec(exec, account: account, admission: admission, trace: trace)
    }
    public func appendExecOutput(_ agent: String, _ session: String, _ exec: String, _ lines: [String], sessionLines: [String]) async throws {
        try await inner.appendExecOutput(agent, session, exec, lines, sessionLines: sessionLines)
    }
    public func finishExec(_ agent: String, _ session: String, _ id: String, state: ContainerExec.State, result: JSON, cpuMs: Int64, cost: Int64,
                           account: String, at: Int64, tail: (lines: [String], sessionLines: [String]),
                           inbox: (maxDepth: Int, policy: OverflowPolicy), trace: @escaping @Sendable (ContainerExec) -> [JSON]) async throws
        -> ContainerExec? {
        try await inner.finishExec(agent, session, id, state: state, result: result, cpuMs: cpuMs, cost: cost, account: account, at: at, tail: tail,
                                   inbox: inbox, trace: trace)
    }
    public func execs(_ agent: String, _ session: String) async throws -> [ContainerExec] { try await inner.execs(agent, session) }
    public func exec(_ agent: String, _ session: String, _ id: String) async throws -> ContainerExec? { try await inner.exec(agent, session, id) }
    public func runningExecs() async throws -> [ContainerExec] { try await inner.runningExecs() }
    public func readExecOutput(_ agent: String, _ session: String, _ exec: String, _ range: ByteRange) async throws -> FileSlice {
        try await inner.readExecOutput(agent, session, exec, range)
    }
    public func readSessionOutput(_ agent: String, _ session: String, _ range: ByteRange) async throws -> FileSlice {
        try await inner.readSessionOutput(agent, session, range)
    }
    public func pruneSessions(endedBefore: Int64) async throws -> Int { try await inner.pruneSessions(endedBefore: endedBefore) }
}
