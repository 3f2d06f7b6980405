public import Foundation
public import Namespace
public import Services

/// The runtime's storage. Every method that changes anything is one transaction. What each
/// commit changed goes, in commit order, to the `ChangeSink` the runtime installs (watchers are
/// fed from there, never by the callers after they resume); methods that append to an agent's
/// logs also return the appended records. Implementations: RuntimeSQLite (one embedded database), with a
/// PostgreSQL backend to follow behind the same protocol.
///
/// Errors are FSError: not_found for a missing agent, already_exists, queue_full,
/// unavailable for storage failures (with the cause for logs).
public protocol AgentStore: JobStore, SessionStore {
    /// Installs the sink every later commit reports to (nil: none). The store holds it strongly.
    func setChangeSink(_ sink: (any ChangeSink)?)
    /// What a new feed starts from: the newest `limit` records of the log or the pending inbox,
    /// the id of the newest record older than those that is gone, and the high-water mark of ids
    /// (no record published later has an id at or below it).
    func feedSeed(_ agent: String, _ source: FeedSource, limit: Int) async throws -> FeedSeed
    /// The log from `offset` to its end and the id of the last record read (0: the log is
    /// empty), taken from one snapshot so the id is exact whatever commits meanwhile.
    func readLogToEnd(_ agent: String, _ log: LogName, from offset: Int64) async throws -> (slice: FileSlice, lastID: UInt64?)

    /// Creates every agent in one transaction, or none: already_exists (naming the first id
    /// taken) if any of them exists. The ids are distinct (the caller checked).
    func createAgents(_ agents: [NewAgent]) async throws -> [LogRecord]
    /// An exec agent's program bytes (nil: none written yet).
    func program(_ agent: String) async throws -> Data?
    /// Replaces the program: the next version, its metadata in the row, and `trace`, in one
    /// transaction.
    func putProgram(_ agent: String, _ body: Data, sha256: String, at: Int64, trace: [JSON]) async throws -> ProgramInfo
    func deleteAgent(_ id: String) async throws
    func agent(_ id: String) async throws -> AgentRecord?
    /// Agents in id order, after `after`.
    func listAgents(after: String?, limit: Int) async throws -> [AgentRecord]
    func agentCount() async throws -> Int
    /// Totals for metrics: commits and writes so far, envelopes pending and dead-lettered.
    func storeStats() async throws -> StoreStats

    /// Changes the config and the alarms that come from it, as `change` computes them from the
    /// agent's row read in the same transaction: concurrent changes apply one after the other,
    /// none is lost. `change` runs inside the transaction (keep it short and free of I/O); what it
    /// throws fails the update and writes nothing. Returns the appended records and the config
    /// as written.
    func updateConfig(_ id: String, _ change: @escaping @Sendable (AgentRecord) throws -> ConfigChange) async throws
        -> (records: [LogRecord], config: JSON)
    func setLifecycle(_ id: String, _ lifecycle: Lifecycle, trace: [JSON]) async throws -> [LogRecord]

    /// Accepts an envelope: a duplicate id is acknowledged and not enqueued; a full inbox
    /// applies `policy`. The trace of what happened is appended in the same transaction.
    func enqueue(_ agent: String, _ envelope: Envelope, maxDepth: Int, policy: OverflowPolicy, at: Int64) async throws -> EnqueueResult
    /// Pending envelopes in acceptance order.
    func pending(_ agent: String, limit: Int) async throws -> [Envelope]
    /// What a tick may take now: the head of the inbox while it is not backing off, and due alarms.
    func due(_ agent: String, now: Int64, limit: Int) async throws -> (envelopes: [Envelope], alarms: [Alarm])
    func queueDepth(_ agent: String) async throws -> Int

    func commitTick(_ commit: TickCommit) async throws -> [LogRecord]
    /// Returns the appended records and the ids of envelopes dead-lettered by this failure.
    func recordFailure(_ failure: TickFailure) async throws -> (records: [LogRecord], deadLettered: [String])

    func logTail(_ agent: String, _ log: LogName, limit: Int) async throws -> (records: [LogRecord], hasOlder: Bool)
    /// See AgentHost.readLog: bytes of the retained records, from the oldest one when `range`
    /// begins below them.
    func readLog(_ agent: String, _ log: LogName, _ range: ByteRange) async throws -> FileSlice

    func deadLetters(_ agent: String) async throws -> [DeadLetter]
    func deadLetter(_ agent: String, id: String) async throws -> DeadLetter?
    func deadLetterCount(_ agent: String) async throws -> Int
    /// Moves a dead letter back to the tail of the inbox.
    func replayDeadLetter(_ agent: String, id: String, at: Int64) async throws -> [LogRecord]
    func discardDeadLetter(_ agent: String, id: String, at: Int64) async throws -> [LogRecord]

    func goals(_ agent: String) async throws -> [Goal]
    func goal(_ agent: String, id: String) async throws -> Goal?
    func putGoal(_ agent: String, id: String, body: JSON, at: Int64) async throws -> Goal
    /// False when there was no such goal.
    func removeGoal(_ agent: String, id: String) async throws -> Bool

    /// What the agent's key pair is, from one read: the pair stored for it (an agent imported
    /// with its private key, or made before keys were derived), or the inputs it is derived
    /// from. nil when there is no such agent.
    func keys(_ agent: String) async throws -> AgentKeys?
    /// The node's secret called `name`, made once with the database (schema 8 makes `identity`)
    /// and kept with the agents, so a copy of the database carries it. Never in a bundle. A
    /// missing one is `unavailable`, never made again: every key derived from it would change.
    func nodeSecret(_ name: String) async throws -> [UInt8]

    /// Agent tokens are kept only as hashes; deleting the agent deletes its tokens.
    func saveToken(hash: String, agent: String, at: Int64) async throws
    func tokenAgent(hash: String) async throws -> String?

    /// The earliest due time of a non-paused agent's alarm, of those due after `after` (nil: of all).
    func nextAlarmDue(after: Int64?) async throws -> Int64?
    /// Non-paused agents with an alarm due at or before `now`, and after `after` (nil: however
    /// long ago): the engine looks only at the alarms that fell due since its last look.
    func agentsWithDueAlarms(now: Int64, after: Int64?, limit: Int) async throws -> [String]
    /// Agents (not paused) with pending envelopes: work left by a previous run.
    func agentsWithPending(limit: Int) async throws -> [String]

    /// Spends `units` if the agent stays within `limit`; false (and nothing spent) otherwise.
    func spendBudget(_ agent: String, units: Int64, limit: Int64) async throws -> Bool
    /// Gives back units spent for an operation that then failed (never below zero).
    func refundBudget(_ agent: String, units: Int64) async throws

    /// Everything stored for the agent (tokens excepted), read from one snapshot: export. An
    /// agent with no stored keys has an empty `publicKey` and no secret, and `keys` holds the
    /// inputs of the same snapshot the runtime derives them from.
    func exportAgent(_ id: String) async throws -> AgentBundle
    /// Writes a whole agent in one transaction, then appends `trace`: import. An existing agent
    /// of the same id is already_exists unless `replace`, which deletes it first. The bundle's
    /// secret is required here (the runtime makes a new key pair when the bundle has none).
    func importAgent(_ bundle: AgentBundle, replace: Bool, trace: [JSON]) async throws -> [LogRecord]

    /// Flushes and closes. Calls after close fail with unavailable.
    func close() async
}

/// A dead-lettered envelope and why.
public struct DeadLetter: Sendable, Equatable {
    public var envelope: Envelope
    public var reason: String
    public var at: Int64

    public init(envelope: Envelope, reason: String, at: Int64) {
        self.envelope = envelope
        self.reason = reason
        self.at = at
    }

    public var json: JSON {
        .object(["id": .string(envelope.id), "envelope": envelope.json, "reason": .string(reason), "at": .string(Timestamp.iso(at))])
    }
}

/// Trace records: one JSON object per line, `type` and `at` first among equals.
public enum Trace {
    public static func record(_ type: String, at: Int64, _ fields: [String: JSON] = [:]) -> JSON {
        var o = fields
        o["type"] = .string(type)
        o["at"] = .string(Timestamp.iso(at))
        return .object(o)
    }
}

/// What `/metrics` reports about storage.
public struct StoreStats: Sendable, Equatable {
    /// Transactions committed and writes they carried since the store was opened (group commit
    /// puts many writes in one transaction).
    public var commits: Int
    public var writes: Int
    /// Envelopes waiting in all inboxes, the deepest inbox, and dead letters kept.
    public var pending: Int
    public var deepest: Int
    public var deadLetters: Int

    public init(commits: Int, writes: Int, pending: Int, deepest: Int, deadLetters: Int) {
        self.commits = commits
        self.writes = writes
        self.pending = pending
        self.deepest = deepest
        self.deadLetters = deadLetters
    }
}

/// The storage behind a feed that resumes by record id.
public enum FeedSource: Sendable, Equatable {
    case log(LogName)
    case inbox
    /// A compute job's `stream`.
    case jobStream(String)
    /// A container exec's `output`.
    case execOutput(session: String, exec: String)
    /// A container session's `output`.
    case sessionOutput(String)
}

/// See `AgentStore.feedSeed`.
public struct FeedSeed: Sendable, Equatable {
    /// Oldest first: log lines, or pending envelopes as JSON lines.
    public var records: [(id: UInt64, line: String)]
    public var evictedThrough: UInt64
    public var highWater: UInt64

    public init(records: [(id: UInt64, line: String)], evictedThrough: UInt64, highWater: UInt64) {
        self.records = records
        self.evictedThrough = evictedThrough
        self.highWater = highWater
    }

    public static func == (a: FeedSeed, b: FeedSeed) -> Bool {
        a.evictedThrough == b.evictedThrough && a.highWater == b.highWater && a.records.map(\.id) == b.records.map(\.id)
            && a.records.map(\.line) == b.records.map(\.line)
    }
}

/// What an agent's key pair is: the one stored for it, or the inputs of the one derived for it.
public enum AgentKeys: Sendable {
    case stored(AgentKeyPair)
    /// `Schnorr.derive` from the node's identity secret, the agent's incarnation and its salt.
    case derived(incarnation: Int64, salt: [UInt8])
}

/// An agent as `AgentStore.createAgents` writes it: its row with its key salt (its keys are
/// derived, no identity row is written), first alarms and goals, an exec agent's first program
/// (its metadata is in `record.program`) and its first trace.
public struct NewAgent: Sendable {
    public var record: AgentRecord
    public var keySalt: [UInt8]
    public var alarms: [Alarm]
    public var goals: [String: JSON]
    public var program: Data?
    public var trace: [JSON]

    public init(record: AgentRecord, keySalt: [UInt8], alarms: [Alarm], goals: [String: JSON], program: Data?, trace: [JSON]) {
        self.record = record
        self.keySalt = keySalt
        self.alarms = alarms
        self.goals = goals
        self.program = program
        self.trace = trace
    }
}

/// What a create asks for: an id, a kind, its config, and an exec agent's first program.
public struct AgentSpec: Sendable {
    public var id: String
    public var kind: String
    public var config: JSON
    public var program: Data?

    public init(id: String, kind: String, config: JSON = .object([:]), program: Data? = nil) {
        self.id = id
        self.kind = kind
        self.config = config
        self.program = program
    }
}
