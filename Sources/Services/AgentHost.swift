public import Foundation
public import Namespace

/// What the services need from the runtime. Services are tables of files over this protocol;
/// the runtime implements it over its registry, tick engine and storage.
public protocol AgentHost: Sendable {
    func status(of agent: String) async throws -> JSON
    /// When the agent last changed as its files' times show it: its last tick, else its
    /// creation (milliseconds since the epoch). ETags (versions) move on every change.
    func changedAt(of agent: String) async throws -> Int64
    /// The `status` file's bytes (the status JSON and a newline); a host may keep them while
    /// the agent is unchanged.
    func statusFile(of agent: String) async throws -> Data
    func config(of agent: String) async throws -> JSON
    /// Applies an RFC 7396 merge-patch, validated as a whole; invalid → invalid_input, unchanged.
    func patchConfig(of agent: String, _ patch: JSON) async throws
    func state(of agent: String) async throws -> JSON
    /// `from`: who asked. An agent's own `tick` while one of its ticks runs (its program
    /// writing its own ctl) queues the next tick and returns rather than wait for it.
    func control(_ agent: String, _ command: ControlCommand, from principal: Principal) async throws
    /// Accepts one envelope (plain text or a JSON envelope) into the inbox.
    func send(to agent: String, _ input: Data, from sender: Principal) async throws -> SendReceipt
    /// Pending envelopes, oldest first.
    func pending(of agent: String, limit: Int) async throws -> [JSON]

    /// Bytes ever appended to the log: where the next record will begin.
    func logSize(of agent: String, _ log: LogName) async throws -> Int64
    /// The log's bytes in `range`; a range that begins below the retained records (pruned)
    /// is answered from the oldest retained record, and the slice says where it begins.
    func readLog(of agent: String, _ log: LogName, _ range: ByteRange) async throws -> FileSlice
    /// The log to its end from `offset`, with the id of its last record (the watch id to resume
    /// after; 0 for an empty log), taken consistently with the data.
    func readLogToEnd(of agent: String, _ log: LogName, from offset: Int64) async throws -> (slice: FileSlice, lastID: UInt64?)
    func feed(of agent: String, _ topic: FeedTopic) async throws -> RecordFeed

    func deadLetters(of agent: String) async throws -> [JSON]
    func deadLetter(of agent: String, id: String) async throws -> JSON
    func replayDeadLetter(of agent: String, id: String) async throws
    func discardDeadLetter(of agent: String, id: String) async throws

    func goals(of agent: String) async throws -> [Goal]
    func goal(of agent: String, id: String) async throws -> Goal
    func putGoal(of agent: String, id: String, _ body: JSON) async throws -> Goal
    func removeGoal(of agent: String, id: String) async throws

    /// The `program` file of an exec agent; nil for agents of other kinds (they have none).
    func programInfo(of agent: String) async throws -> ProgramFileInfo?
    /// An exec agent's program bytes (empty before one is written).
    func program(of agent: String) async throws -> Data
    /// Replaces an exec agent's program (at most 1 MiB; invalid_input for other kinds).
    func putProgram(of agent: String, _ data: Data) async throws

    func publicKey(of agent: String) async throws -> String
    /// BIP-340 signature over SHA-256(data), lowercase hex.
    func sign(as agent: String, _ data: Data) async throws -> String
    func verify(pubkey: String, data: Data, signature: String) -> Bool
}

/// The append-only logs of an agent.
public enum LogName: String, Sendable, CaseIterable {
    case trace, trajectory, outbox
}

/// The things a watcher can follow.
public enum FeedTopic: Hashable, Sendable {
    case log(LogName)
    case inbox, status, config, state, goals, deadletter
    /// A compute job's `stream`.
    case job(String)
    /// A container exec's `output`.
    case execOutput(session: String, exec: String)
    /// A container session's `output`.
    case sessionOutput(String)
}

/// `ctl` commands.
public enum ControlCommand: String, Sendable, CaseIterable {
    case tick, hibernate, wake, pause, resume
}

public struct SendReceipt: Sendable, Equatable {
    public enum Outcome: String, Sendable {
        case queued, duplicate
        case deadLettered = "dead_lettered"
    }
    public var id: String
    public var outcome: Outcome

    public init(id: String, outcome: Outcome) {
        self.id = id
        self.outcome = outcome
    }

    public var json: JSON { .object(["id": .string(id), "status": .string(outcome.rawValue)]) }
}

public struct Goal: Sendable, Equatable {
    public var id: String
    public var body: JSON
    /// Milliseconds since the epoch.
    public var updatedAt: Int64
    public var version: UInt64

    public init(id: String, body: JSON, updatedAt: Int64, version: UInt64) {
        self.id = id
        self.body = body
        self.updatedAt = updatedAt
        self.version = version
    }
}

extension JSON {
    /// The value as file content: one line with a trailing newline.
    public var fileData: Data { Data((description + "\n").utf8) }

    /// Parses file content written by a client.
    public init(fileData: Data) throws(FSError) {
        try self.init(parsing: fileData)
    }
}

extension AgentHost {
    public func readLogToEnd(of agent: String, _ log: LogName, from offset: Int64) async throws -> (slice: FileSlice, lastID: UInt64?) {
        (try await readLog(of: agent, log, try ByteRange(offset: offset)), nil)
    }

    public func statusFile(of agent: String) async throws -> Data { try await status(of: agent).fileData }
}
