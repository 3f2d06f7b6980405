public import Foundation
public import Namespace

/// What `compute/` needs from the runtime: jobs, budgets and providers, in the terms of files.
/// The runtime implements it over its job runner and the store.
public protocol ComputeHost: AgentHost {
    /// Providers this agent may use, by name, with their `info` documents.
    func computeProviders(of agent: String) async throws -> [(name: String, info: JSON)]
    /// A cached probe: `{ok, latency_ms, checked_at}`.
    func computeHealth(of agent: String, provider: String) async throws -> JSON
    /// Admits a job request (JSON as written to `compute/new`); returns `{"job_id","state"}`.
    func submitJob(of agent: String, _ request: Data) async throws -> JSON
    /// Newest first.
    func jobs(of agent: String) async throws -> [JobEntry]
    func job(of agent: String, id: String) async throws -> JobEntry
    /// `status` of the job.
    func jobStatus(of agent: String, id: String) async throws -> JSON
    /// `result`: not_found until the job has finished with text.
    func jobResult(of agent: String, id: String) async throws -> JSON
    func readJobStream(of agent: String, id: String, _ range: ByteRange) async throws -> FileSlice
    func cancelJob(of agent: String, id: String) async throws
    func computeUsage(of agent: String) async throws -> JSON
    func computePolicy(of agent: String) async throws -> JSON
    /// Applies an RFC 7396 merge-patch, validated as a whole; returns the policy as stored.
    func patchComputePolicy(of agent: String, _ patch: JSON) async throws -> JSON
}

/// A job as its directory shows it.
public struct JobEntry: Sendable, Equatable {
    public var id: String
    public var state: String
    /// The job's last change (ms since the epoch).
    public var mtime: Int64
    public var streamBytes: Int64
    public var finished: Bool

    public init(id: String, state: String, mtime: Int64, streamBytes: Int64, finished: Bool) {
        self.id = id
        self.state = state
        self.mtime = mtime
        self.streamBytes = streamBytes
        self.finished = finished
    }
}
