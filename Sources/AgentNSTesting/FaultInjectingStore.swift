public import Foundation
public import Namespace
public import Runtime
public import Services
import Synchronization

/// An AgentStore that forwards to another and fails the tick writes a test asks it to: a
/// commit refused at COMMIT (the database locked by another process, the disk full), or
/// storage gone altogether so that even recording the failure fails.
public final class FaultInjectingStore: AgentStore {
    public struct Faults: Sendable {
        /// `commitTick` throws this instead of committing.
        public var commit: FSError?
        /// `recordFailure` throws this instead of recording.
        public var recordFailure: FSError?
        public init(commit: FSError? = nil, recordFailure: FSError? = nil) {
            self.commit = commit
            self.recordFailure = recordFailure
        }
    }

    public let inner: any AgentStore
    let state = Mutex<(faults: Faults, commits: Int, failures: Int)>((Faults(), 0, 0))

    public init(_ inner: any AgentStore) { self.inner = inner }

    public static let diskFull = FSError(.unavailable, "the disk is full; free space and retry", cause: "SQLITE_FULL (injected)")
    public static let locked = FSError(.unavailable, "the database is locked by another process; retry", cause: "SQLITE_BUSY (injected)")

    public var faults: Faults {
        get { state.withLock { $0.faults } }
        set { state.withLock { $0.faults = newValue } }
    }

    /// Calls of `commitTick` and `recordFailure` so far, failed ones included.
    public var commitCalls: Int { state.withLock { $0.commits } }
    public var failureCalls: Int { state.withLock { $0.failures } }

    public func commitTick(_ commit: TickCommit) async throws -> [LogRecord] {
        let fault = state.withLock { s -> FSError? in
            s.commits += 1
            return s.faults.commit
        }
        if let fault { throw fault }
        return try await inner.commitTick(commit)
    }

    public func recordFailure(_ failure: TickFailure) async throws -> (records: [LogRecord], deadLettered: [String]) {
        let fault = state.withLock { s -> FSError? in
            s.failures += 1
            return s.faults.recordFailure
        }
        if let fault { throw fault }
        return try await inner.recordFailure(failure)
    }

    // MARK: - Forwarded

    public func createAgents(_ agents: [NewAgent]) async throws -> [LogRecord] { try await inner.createAgents(agents) }
    public func program(_ agent: String) async throws -> Data? { try await inner.program(agent) }
    public func putProgram(_ agent: String, _ body: Data, sha256: String, at: Int64, trace: [JSON]) async throws -> ProgramInfo {
        try await inner.putProgram(agent, body, sha256: sha256, at: at, trace: trace)
    }
    public func deleteAgent(_ id: String) async throws { try await inner.deleteAgent(id) }
    public func agent(_ id: String) async throws -> AgentRecord? { try await inner.agent(id) }
    public func listAgents(after: String?, limit: Int) async throws -> [AgentRecord] { try await inner.listAgents(after: after, limit: limit) }
    public func agentCount() async throws -> Int { try await inner.agentCount() }
    public func storeStats() async throws -> StoreStats { try await inner.storeStats() }
    public func updateConfig(_ id: String, _ change: @escaping @Sendable (AgentRecord) throws -> ConfigChange) async throws
        -> (records: [LogRecord], config: JSON)
    {
        try await inner.updateConfig(id, change)
    }
    public func setLifecycle(_ id: String, _ lifecycle: Lifecycle, trace: [JSON]) async throws -> [LogRecord] {
        try await inner.setLifecycle(id, lifecycle, trace: trace)
    }
    public func enqueue(_ agent: String, _ envelope: Envelope, maxDepth: Int, policy: OverflowPolicy, at: Int64) async throws -> EnqueueResult {
        try await inner.enqueue(agent, envelope, maxDepth: maxDepth, policy: policy, at: at)
    }
    public func pending(_ agent: String, limit: Int) async throws -> [Envelope] { try await inner.pending(agent, limit: limit) }
    public func due(_ agent: String, now: Int64, limit: Int) async throws -> (envelopes: [Envelope], alarms: [Alarm]) {
        try await inner.due(agent, now: now, limit: limit)
    }
    public func queueDepth(_ agent: String) async throws -> Int { try await inner.queueDepth(agent) }
    public func logTail(_ agent: String, _ log: LogName, limit: Int) async throws -> (records: [LogRecord], hasOlder: Bool) {
        try await inner.logTail(agent, log, limit: limit)
    }
    public func readLog(_ agent: String, _ log: LogName, _ range: ByteRange) async throws -> FileSlice {
        try await inner.readLog(agent, log, range)
    }
    public func deadLetters(_ agent: String) async throws -> [DeadLetter] { try await inner.deadLetters(agent) }
    public func deadLetter(_ agent: String, id: String) async throws -> DeadLetter? { try await inner.deadLetter(agent, id: id) }
    public func deadLetterCount(_ agent: String) async throws -> Int { try await inner.deadLetterCount(agent) }
    public func replayDeadLetter(_ agent: String, id: String, at: Int64) async throws -> [LogRecord] {
        try await inner.replayDeadLetter(agent, id: id, at: at)
    }
    public func discardDeadLetter(_ agent: String, id: String, at: Int64) async throws -> [LogRecord] {
        try await inner.discardDeadLetter(agent, id: id, at: at)
    }
    public func goals(_ agent: String) async throws -> [Goal] { try await inner.goals(agent) }
    public func goal(_ agent: String, id: String) async throws -> Goal? { try await inner.goal(agent, id: id) }
    public func putGoal(_ agent: String, id: String, body: JSON, at: Int64) async throws -> Goal {
        try await inner.putGoal(agent, id: id, body: body, at: at)
    }
    public func removeGoal(_ agent: String, id: String) async throws -> Bool { try await inner.removeGoal(agent, id: id) }
    public func keys(_ agent: String) async throws -> AgentKeys? { try await inner.keys(agent) }
    public func nodeSecret(_ name: String) async throws -> [UInt8] { try await inner.nodeSecret(name) }
    public func saveToken(hash: String, agent: String, at: Int64) async throws { try await inner.saveToken(hash: hash, agent: agent, at: at) }
    public func tokenAgent(hash: String) async throws -> String? { try await inner.tokenAgent(hash: hash) }
    public func nextAlarmDue(after: Int64?) async throws -> Int64? { try await inner.nextAlarmDue(after: after) }
    public func agentsWithDueAlarms(now: Int64, after: Int64?, limit: Int) async throws -> [String] {
        try await inner.agentsWithDueAlarms(now: now, after: after, limit: limit)
    }
    public func agentsWithPending(limit: Int) async throws -> [String] { try await inner.agentsWithPending(limit: limit) }
    public func spendBudget(_ agent: String, units: Int64, limit: Int64) async throws -> Bool {
        try await inner.spendBudget(agent, units: units, limit: limit)
    }
    public func refundBudget(_ agent: String, units: Int64) async throws { try await inner.refundBudget(agent, units: units) }
    public func setChangeSink(_ sink: (any ChangeSink)?) { inner.setChangeSink(sink) }
    public func feedSeed(_ agent: String, _ source: FeedSource, limit: Int) async throws -> FeedSeed {
        try await inner.feedSeed(agent, source, limit: limit)
    }
    public func readLogToEnd(_ agent: String, _ log: LogName, from offset: Int64) async throws -> (slice: FileSlice, lastID: UInt64?) {
        try await inner.readLogToEnd(agent, log, from: offset)
    }
    public func exportAgent(_ id: String) async throws -> AgentBundle { try await inner.exportAgent(id) }
    public func importAgent(_ bundle: AgentBundle, replace: Bool, trace: [JSON]) async throws -> [LogRecord] {
        try await inner.importAgent(bundle, replace: replace, trace: trace)
    }
    public func close() async { await inner.close() }
}
