public import Namespace

/// The storage of compute (and, later, containers): policies, providers, the budget ledger,
/// jobs with their streams, and the idempotency journal. Part of `AgentStore`; every method
/// that changes anything is one transaction, and what it changes goes to the change sink.
public protocol JobStore: Sendable {
    /// The agent's policy document for `service` ("compute", "containers"); nil when none was
    /// written. not_found when there is no such agent.
    func policy(_ agent: String, _ service: String) async throws -> JSON?
    /// Replaces the policy with what `change` makes of the stored one (`{}` when none), inside
    /// the write transaction: concurrent patches apply one after the other. Returns it.
    func updatePolicy(_ agent: String, _ service: String, _ change: @escaping @Sendable (JSON) throws -> JSON) async throws -> JSON

    func providers() async throws -> [ProviderConfig]
    /// Creates or replaces; `change` gets the stored one (nil if new) inside the transaction.
    /// Returns whether it was created.
    func putProvider(_ name: String, _ change: @escaping @Sendable (ProviderConfig?) throws -> ProviderConfig) async throws -> Bool
    func removeProvider(_ name: String) async throws -> Bool

    /// The agent's ledger for `account` as stored, and the agent's tick window now.
    func ledger(_ agent: String, account: String) async throws -> (ledger: Ledger, tick: Int64)

    /// Admits a job in one transaction: a live journal entry for its idempotency key returns the
    /// job it names (`created` false, nothing else happens); otherwise the job's reservation is
    /// checked against every limit and made (`Ledger.reserve`; refusal is budget_exceeded and
    /// writes nothing), more than `maxOpen` open jobs is queue_full, and the job, its journal
    /// entry (kept until `journalUntil`) and `trace` are written.
    ///
    /// `admission` turns the agent's policy document for `account` (nil: none written), read in
    /// the same transaction, into the limits and the most open jobs: a policy patched at the same
    /// moment applies to this job, before or after, never half.
    func submitJob(_ job: ComputeJob, account: String, admission: @escaping @Sendable (JSON?) throws -> JobAdmission, journalUntil: Int64,
                   trace: [JSON]) async throws -> (job: ComputeJob, created: Bool)
    /// The job a live journal entry names (the submit checks again in its own transaction).
    func journaled(_ agent: String, key: String, now: Int64) async throws -> ComputeJob?
    /// queued → running; false (nothing written) if the job is not queued any more.
    func startJob(_ agent: String, _ id: String, at: Int64) async throws -> Bool
    /// Appends `{"delta": ...}` lines to the job's stream (and `trace` to the agent's trace).
    func appendJobStream(_ agent: String, _ id: String, _ lines: [String], trace: [JSON]) async throws
    /// Ends an open job exactly once: its state and result, the reservation settled at the
    /// outcome's cost (the reservation when the provider reported none; 0 for failed and
    /// cancelled), and the agent's notice envelope enqueued under `inbox`'s bound (a full inbox
    /// under `reject` dead-letters the notice rather than lose it), all in one transaction.
    /// nil when the job had already ended (nothing written).
    /// `trace` makes the agent's trace records from the job as it ended (cost included).
    func finishJob(_ agent: String, _ id: String, _ outcome: JobOutcome, account: String, at: Int64, inbox: (maxDepth: Int, policy: OverflowPolicy),
                   trace: @escaping @Sendable (ComputeJob) -> [JSON]) async throws -> ComputeJob?
    /// Newest first, without their requests and texts (a listing: prompts can be large).
    func jobs(_ agent: String, limit: Int) async throws -> [ComputeJob]
    func job(_ agent: String, _ id: String) async throws -> ComputeJob?
    func readJobStream(_ agent: String, _ id: String, _ range: ByteRange) async throws -> FileSlice
    /// Jobs queued or running, of every agent (recovery after a restart).
    func openJobs() async throws -> [ComputeJob]
    /// Forgets journal entries that expired before `now` and finished jobs (with their
    /// streams) that ended before `finishedBefore`. Returns how many jobs went.
    func pruneJobs(now: Int64, finishedBefore: Int64) async throws -> Int
}

/// What a policy allows a new job: the limits its reservation must fit, and how many jobs of the
/// agent may be open at once.
public struct JobAdmission: Sendable, Equatable {
    public var limits: BudgetLimits
    public var maxOpen: Int
    public init(limits: BudgetLimits, maxOpen: Int) {
        self.limits = limits
        self.maxOpen = maxOpen
    }
}
