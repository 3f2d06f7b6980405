public import Namespace
public import Services

/// One thing a commit changed that a watcher may follow. A store delivers each commit's
/// changes, in commit order, to its `ChangeSink` before any writer of that commit is resumed:
/// a change stream (SQLite: from the writer thread; PostgreSQL would use LISTEN/NOTIFY), so
/// watchers see records in the order they were committed, whatever order the writers wake in.
public enum StoreChange: Sendable, Equatable {
    /// A record appended to one of the agent's logs.
    case logged(agent: String, LogRecord)
    /// An envelope entered the inbox (a send, or a replayed dead letter); `seq` is its id.
    case enqueued(agent: String, Envelope)
    case deadLettered(agent: String, id: String)
    /// A dead letter left (replayed or discarded).
    case deadLetterRemoved(agent: String, id: String)
    case goalPut(agent: String, id: String, created: Bool)
    case goalRemoved(agent: String, id: String)
    /// The agent's row as the commit left it; sent only for agents the sink follows
    /// (`ChangeSink.followsRow`), once per commit however many writes touched it.
    case row(AgentRecord)
    /// The agent's row changed in this commit, for an agent the sink does not follow (those it
    /// follows get `.row`); once per commit.
    case touched(String)
    case agentDeleted(String)
    /// A line appended to a compute job's `stream`; `seq` is its id.
    case jobStreamed(agent: String, job: String, seq: Int64, line: String)
    /// A line appended to a container exec's `output`; `seq` is its id.
    case execOutput(agent: String, session: String, exec: String, seq: Int64, line: String)
    /// A line appended to a container session's `output` (every exec's, in order).
    case sessionOutput(agent: String, session: String, seq: Int64, line: String)
}

extension StoreChange {
    /// The agent whose files the change changed.
    public var agent: String {
        switch self {
        case .logged(let a, _), .enqueued(let a, _), .deadLettered(let a, _), .deadLetterRemoved(let a, _), .goalPut(let a, _, _),
             .goalRemoved(let a, _), .jobStreamed(let a, _, _, _), .execOutput(let a, _, _, _, _), .sessionOutput(let a, _, _, _):
            return a
        case .row(let r): return r.id
        case .touched(let a), .agentDeleted(let a): return a
        }
    }
}

/// Where a store sends what each commit changed. Called on the store's writer, in commit order:
/// it must not block and must not call back into the store.
public protocol ChangeSink: AnyObject, Sendable {
    /// Whether the agent's row is watched (status, config, state): the store reads it after a
    /// commit only then.
    func followsRow(of agent: String) -> Bool
    func committed(_ changes: [StoreChange])
}
