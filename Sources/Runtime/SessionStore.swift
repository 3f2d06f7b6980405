public import Namespace

/// The storage of `containers/`: sessions, their execs and the execs' output. Part of
/// `AgentStore`. Budgets go through the same ledger as compute (`JobStore.ledger`, account
/// "containers"): every method that reserves or settles does it in its own transaction.
public protocol SessionStore: Sendable {
    /// Creates a session: more than `maxSessions(policy)` live sessions of the agent is
    /// queue_full, checked with the policy as this transaction reads it.
    func createSession(_ session: ContainerSession, account: String, maxSessions: @escaping @Sendable (JSON?) throws -> Int,
                       trace: [JSON]) async throws
    /// Newest first.
    func sessions(_ agent: String) async throws -> [ContainerSession]
    func session(_ agent: String, _ id: String) async throws -> ContainerSession?
    /// Live sessions of every agent (restart checks, idle expiry).
    func liveSessions() async throws -> [ContainerSession]
    /// Ends a live session (stopped, expired, failed); nil when it was not live (nothing written).
    func endSession(_ agent: String, _ id: String, _ state: ContainerSession.State, error: String?, at: Int64, trace: [JSON]) async throws
        -> ContainerSession?

    /// Admits an exec in one transaction: the session is live, at most `admission(policy).maxOpen`
    /// execs of the agent run at once (queue_full), the reservation fits every limit
    /// (`Ledger.reserve`, budget_exceeded, nothing written), then the exec is written running
    /// and the session's last use moves.
    func startExec(_ exec: ContainerExec, account: String, admission: @escaping @Sendable (JSON?) throws -> JobAdmission, trace: [JSON])
        async throws
    /// Appends output lines: `lines` to the exec's `output`, `sessionLines` (the same records,
    /// naming the exec) to the session's.
    func appendExecOutput(_ agent: String, _ session: String, _ exec: String, _ lines: [String], sessionLines: [String]) async throws
    /// Ends a running exec exactly once: state and result, the reservation settled at `cost`, the
    /// session's totals, the agent's notice enqueued (a full `reject` inbox dead-letters it), the
    /// output still queued, and `trace(exec)`; nil when it had already ended.
    func finishExec(_ agent: String, _ session: String, _ id: String, state: ContainerExec.State, result: JSON, cpuMs: Int64, cost: Int64,
                    account: String, at: Int64, tail: (lines: [String], sessionLines: [String]), inbox: (maxDepth: Int, policy: OverflowPolicy),
                    trace: @escaping @Sendable (ContainerExec) -> [JSON]) async throws -> ContainerExec?
    /// Newest first.
    func execs(_ agent: String, _ session: String) async throws -> [ContainerExec]
    func exec(_ agent: String, _ session: String, _ id: String) async throws -> ContainerExec?
    /// Running execs of every agent (a restart reports them killed).
    func runningExecs() async throws -> [ContainerExec]
    func readExecOutput(_ agent: String, _ session: String, _ exec: String, _ range: ByteRange) async throws -> FileSlice
    func readSessionOutput(_ agent: String, _ session: String, _ range: ByteRange) async throws -> FileSlice
    /// Forgets ended sessions (with their execs and output) that ended before `before`.
    func pruneSessions(endedBefore: Int64) async throws -> Int
}
