public import Namespace
public import Services

/// Where an agent is in its life (the `state` word of `status` and `ctl`).
public enum Lifecycle: String, Sendable, CaseIterable {
    /// In service: ticks when something is due.
    case active
    /// On disk only; any trigger wakes it.
    case hibernated
    /// No automatic ticks; a manual tick still runs.
    case paused
}

/// What caused a tick.
public enum TickCause: String, Sendable {
    case message, alarm, manual, retry
}

/// An agent's row.
public struct AgentRecord: Sendable, Equatable {
    public var id: String
    public var kind: String
    public var config: JSON
    public var state: JSON
    public var lifecycle: Lifecycle
    public var tickCount: Int64
    public var lastTickAt: Int64?
    public var lastTickCause: String?
    public var createdAt: Int64
    public var droppedCount: Int64
    /// Pending envelopes and dead letters, kept in the row so status needs no counting.
    public var queueDepth: Int64 = 0
    public var deadletterCount: Int64 = 0
    public var budgetSpent: Int64
    /// Bytes ever appended to each log (the log file's size).
    public var logBytes: [LogName: Int64]
    /// Moves on every change to the row.
    public var version: Int64
    /// Which life of this id the row is: set by the store when the agent is created and never
    /// given to another agent, so work begun for a deleted agent cannot land in a new one of
    /// the same id.
    public var incarnation: Int64 = 0
    /// An exec agent's program, as the `program` file's metadata (its bytes are read apart).
    public var program: ProgramInfo?

    public init(id: String, kind: String, config: JSON, state: JSON, lifecycle: Lifecycle = .active, tickCount: Int64 = 0,
                lastTickAt: Int64? = nil, lastTickCause: String? = nil, createdAt: Int64, droppedCount: Int64 = 0,
                budgetSpent: Int64 = 0, logBytes: [LogName: Int64] = [:], version: Int64 = 0) {
        self.id = id
        self.kind = kind
        self.config = config
        self.state = state
        self.lifecycle = lifecycle
        self.tickCount = tickCount
        self.lastTickAt = lastTickAt
        self.lastTickCause = lastTickCause
        self.createdAt = createdAt
        self.droppedCount = droppedCount
        self.budgetSpent = budgetSpent
        self.logBytes = logBytes
        self.version = version
    }
}

/// What the row keeps about an exec agent's program: each write is a new version.
public struct ProgramInfo: Sendable, Equatable {
    public var version: Int64
    public var bytes: Int64
    /// Lowercase hex SHA-256 of the bytes.
    public var sha256: String
    public var updatedAt: Int64

    public init(version: Int64, bytes: Int64, sha256: String, updatedAt: Int64) {
        self.version = version
        self.bytes = bytes
        self.sha256 = sha256
        self.updatedAt = updatedAt
    }

    public var json: JSON {
        .object(["version": .int64(version), "bytes": .int64(bytes), "sha256": .string(sha256), "updated_at": .string(Timestamp.iso(updatedAt))])
    }

    public init?(json: JSON) {
        guard case .integer(let v)? = json["version"], case .integer(let b)? = json["bytes"], let sha = json["sha256"]?.stringValue else { return nil }
        self.init(version: v, bytes: b, sha256: sha, updatedAt: json["updated_at_ms"].flatMap { if case .integer(let i) = $0 { i } else { nil } } ?? 0)
    }

    /// As stored in the row (milliseconds rather than a timestamp).
    public var stored: JSON {
        .object(["version": .int64(version), "bytes": .int64(bytes), "sha256": .string(sha256), "updated_at_ms": .int64(updatedAt)])
    }
}

/// An accepted message.
public struct Envelope: Sendable, Equatable {
    /// Acceptance order within the agent's inbox.
    public var seq: Int64
    public var id: String
    public var from: String
    public var kind: String
    public var body: JSON
    /// Milliseconds since the epoch.
    public var sentAt: Int64
    public var attempts: Int
    public var lastError: String?

    public init(seq: Int64 = 0, id: String, from: String, kind: String, body: JSON, sentAt: Int64, attempts: Int = 0, lastError: String? = nil) {
        self.seq = seq
        self.id = id
        self.from = from
        self.kind = kind
        self.body = body
        self.sentAt = sentAt
        self.attempts = attempts
        self.lastError = lastError
    }

    /// The envelope as clients see it.
    public var json: JSON {
        var o: [String: JSON] = ["id": .string(id), "from": .string(from), "kind": .string(kind), "body": body,
                                 "sent_at": .string(Timestamp.iso(sentAt))]
        if attempts > 0 { o["attempts"] = .int(attempts) }
        if let lastError { o["last_error"] = .string(lastError) }
        return .object(o)
    }
}

/// A scheduled tick.
public struct Alarm: Sendable, Equatable {
    public enum Source: String, Sendable { case config, agent, retry }
    public var id: String
    public var dueAt: Int64
    /// Repeat period; nil for a one-shot alarm.
    public var everyMs: Int64?
    public var source: Source
    /// Failed ticks this alarm (this occurrence of it) has caused so far.
    public var attempts: Int

    /// The latest time an alarm may have (ms since the epoch, 2^53: about the year 287,000), and
    /// the periods one may repeat at: far from any overflow in `due + period`.
    public static let maxTime: Int64 = 1 << 53
    public static let periods: ClosedRange<Int64> = 10...(1 << 40)

    public init(id: String, dueAt: Int64, everyMs: Int64? = nil, source: Source, attempts: Int = 0) {
        self.id = id
        self.dueAt = dueAt
        self.everyMs = everyMs
        self.source = source
        self.attempts = attempts
    }
}

/// A log record as stored: the record id (monotonic, also the watch event id) and its line.
public struct LogRecord: Sendable, Equatable {
    public var log: LogName
    public var seq: Int64
    public var line: String

    public init(log: LogName, seq: Int64, line: String) {
        self.log = log
        self.seq = seq
        self.line = line
    }
}

/// Everything one tick changes, committed in one transaction or not at all.
public struct TickCommit: Sendable {
    public var agent: String
    /// The agent's incarnation the tick ran for; the commit is refused (not_found) if the agent
    /// was deleted meanwhile, also when an agent of the same id was created since.
    public var incarnation: Int64
    /// The tick count the tick started from; the commit fails if another tick got there first.
    public var expectedTickCount: Int64
    public var cause: TickCause
    public var at: Int64
    public var state: JSON
    /// Inbox sequence numbers consumed.
    public var dequeued: [Int64]
    public var outbox: [JSON]
    public var trace: [JSON]
    public var trajectory: JSON
    public var goalsPut: [String: JSON]
    public var goalsRemoved: [String]
    public var alarmsSet: [Alarm]
    public var alarmsCancelled: [String]
    /// Alarms this tick consumed: one-shots are deleted, periodic ones move to their next time.
    public var alarmsFired: [Alarm]
    public var budgetSpend: Int64
    /// `config.budget.limit`; a spend past it fails the tick.
    public var budgetLimit: Int64?
    public var wake: Bool

    public init(agent: String, incarnation: Int64, expectedTickCount: Int64, cause: TickCause, at: Int64, state: JSON, dequeued: [Int64] = [],
                outbox: [JSON] = [], trace: [JSON] = [], trajectory: JSON, goalsPut: [String: JSON] = [:], goalsRemoved: [String] = [],
                alarmsSet: [Alarm] = [], alarmsCancelled: [String] = [], alarmsFired: [Alarm] = [], budgetSpend: Int64 = 0, budgetLimit: Int64? = nil, wake: Bool = false) {
        self.agent = agent
        self.incarnation = incarnation
        self.expectedTickCount = expectedTickCount
        self.cause = cause
        self.at = at
        self.state = state
        self.dequeued = dequeued
        self.outbox = outbox
        self.trace = trace
        self.trajectory = trajectory
        self.goalsPut = goalsPut
        self.goalsRemoved = goalsRemoved
        self.alarmsSet = alarmsSet
        self.alarmsCancelled = alarmsCancelled
        self.alarmsFired = alarmsFired
        self.budgetSpend = budgetSpend
        self.budgetLimit = budgetLimit
        self.wake = wake
    }
}

/// The bookkeeping of a tick that failed (the kind threw, or its commit was refused): nothing
/// of the tick is kept, but the attempt is. Envelopes and alarms that caused it count an
/// attempt each; those that reach `maxAttempts` are given up (envelopes dead-lettered, alarms
/// dropped or moved to their next period), traced.
public struct TickFailure: Sendable {
    public var agent: String
    public var incarnation: Int64
    public var expectedTickCount: Int64
    public var cause: TickCause
    public var at: Int64
    public var error: String
    public var envelopes: [Int64]
    public var alarms: [Alarm]
    public var maxAttempts: Int
    /// When the envelopes and alarms may be tried again.
    public var retryAt: Int64
    public var trace: [JSON]
    public var trajectory: JSON
    /// The tick woke a hibernated agent (it was traced so): the agent is active after it.
    public var wake: Bool

    public init(agent: String, incarnation: Int64, expectedTickCount: Int64, cause: TickCause, at: Int64, error: String, envelopes: [Int64],
                alarms: [Alarm], maxAttempts: Int, retryAt: Int64, trace: [JSON], trajectory: JSON, wake: Bool = false) {
        self.agent = agent
        self.incarnation = incarnation
        self.wake = wake
        self.expectedTickCount = expectedTickCount
        self.cause = cause
        self.at = at
        self.error = error
        self.envelopes = envelopes
        self.alarms = alarms
        self.maxAttempts = maxAttempts
        self.retryAt = retryAt
        self.trace = trace
        self.trajectory = trajectory
    }
}

/// A config change as the store applies it, computed from the agent's row inside the
/// transaction that writes it (so concurrent changes merge instead of overwriting each other).
public struct ConfigChange: Sendable {
    public var config: JSON
    /// Config alarms that are new or changed: set afresh (due time from the config, no attempts).
    /// Unchanged ones are left as they are: a one-shot that fired stays fired, a periodic one
    /// keeps its phase.
    public var alarmsSet: [Alarm]
    /// Config alarms the config no longer has.
    public var alarmsRemoved: [String]
    public var trace: [JSON]

    public init(config: JSON, alarmsSet: [Alarm], alarmsRemoved: [String], trace: [JSON]) {
        self.config = config
        self.alarmsSet = alarmsSet
        self.alarmsRemoved = alarmsRemoved
        self.trace = trace
    }
}

/// What happens to an envelope that arrives at a full inbox.
public enum OverflowPolicy: String, Sendable, CaseIterable {
    case reject
    case dropOldest = "drop_oldest"
    case deadLetter = "dead_letter"
}

/// The outcome of an enqueue, with the log records it appended (for watchers).
public struct EnqueueResult: Sendable {
    public var receipt: SendReceipt
    /// The accepted envelope (nil for a duplicate).
    public var envelope: Envelope?
    /// An envelope dropped to make room (drop_oldest).
    public var dropped: Envelope?
    public var appended: [LogRecord]
    /// The agent was paused when the envelope committed: no tick to ask for (resuming asks,
    /// and it commits after this did).
    public var paused: Bool

    public init(receipt: SendReceipt, envelope: Envelope?, dropped: Envelope? = nil, appended: [LogRecord] = [], paused: Bool = false) {
        self.receipt = receipt
        self.envelope = envelope
        self.dropped = dropped
        self.appended = appended
        self.paused = paused
    }
}
