public import Foundation
public import Namespace
public import Runtime
public import Services

/// JobStore, forwarded.
extension FaultInjectingStore {
    public func policy(_ agent: String, _ service: String) async throws -> JSON? { try await inner.policy(agent, service) }
    public func updatePolicy(_ agent: String, _ service: String, _ change: @escaping @Sendable (JSON) throws -> JSON) async throws -> JSON {
        try await inner.updatePolicy(agent, service, change)
    }
    public func providers() async throws -> [ProviderConfig] { try await inner.providers() }
    public func putProvider(_ name: String, _ change: @escaping @Sendable (ProviderConfig?) throws -> ProviderConfig) async throws -> Bool {
        try await inner.putProvider(name, change)
    }
    public func removeProvider(_ name: String) async throws -> Bool { try await inner.removeProvider(name) }
    public func ledger(_ agent: String, account: String) async throws -> (ledger: Ledger, tick: Int64) {
        try await inner.ledger(agent, account: account)
    }
    public func submitJob(_ job: ComputeJob, account: String, admission: @escaping @Sendable (JSON?) throws -> JobAdmission, journalUntil: Int64,
                          trace: [JSON]) async throws -> (job: ComputeJob, created: Bool) {
        try await inner.submitJob(job, account: account, admission: admission, journalUntil: journalUntil, trace: trace)
    }
    public func journaled(_ agent: String, key: String, now: Int64) async throws -> ComputeJob? {
        try await inner.journaled(agent, key: key, now: now)
    }
    public func startJob(_ agent: String, _ id: String, at: Int64) async throws -> Bool { try await inner.startJob(agent, id, at: at) }
    public func appendJobStream(_ agent: String, _ id: String, _ lines: [String], trace: [JSON]) async throws {
        try await inner.appendJobStream(agent, id, lines, trace: trace)
    }
    public func finishJob(_ agent: String, _ id: String, _ outcome: JobOutcome, account: String, at: Int64,
                          inbox: (maxDepth: Int, policy: OverflowPolicy), trace: @escaping @Sendable (ComputeJob) -> [JSON]) async throws
        -> ComputeJob? {
        try await inner.finishJob(agent, id, outcome, account: account, at: at, inbox: inbox, trace: trace)
    }
    public func jobs(_ agent: String, limit: Int) async throws -> [ComputeJob] { try await inner.jobs(agent, limit: limit) }
    public func job(_ agent: String, _ id: String) async throws -> ComputeJob? { try await inner.job(agent, id) }
    public func readJobStream(_ agent: String, _ id: String, _ range: ByteRange) async throws -> FileSlice {
        try await inner.readJobStream(agent, id, range)
    }
    public func openJobs() async throws -> [ComputeJob] { try await inner.openJobs() }
    public func pruneJobs(now: Int64, finishedBefore: Int64) async throws -> Int { try await inner.pruneJobs(now: now, finishedBefore: finishedBefore) }
}
