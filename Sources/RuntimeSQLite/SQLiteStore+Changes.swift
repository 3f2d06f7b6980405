public import Foundation
public import Namespace
public import Runtime
public import Services
import Synchronization

/// One entry of what the writer's transaction changed: a change for the sink, or an agent whose
/// row moved (read once after the commit, if the sink follows it).
enum RecordedChange {
    case change(StoreChange)
    case touched(String)
}

extension SQLiteConnection {
    /// Notes a change for the change stream; undone with its job's savepoint.
    func record(_ change: StoreChange) { recorded.append(.change(change)) }
    /// Notes that the agent's row changed.
    func touch(_ agent: String) { recorded.append(.touched(agent)) }
}

extension SQLiteStore {
    public func setChangeSink(_ sink: (any ChangeSink)?) { self.sink.withLock { $0 = sink } }

    /// On the writer thread after a commit, before its writers resume: hands the commit's
    /// changes to the sink, with the rows it follows read as the commit left them.
    func deliver(_ conn: SQLiteConnection) {
        guard !conn.recorded.isEmpty, let sink = sink.withLock({ $0 }) else { return }
        var out: [StoreChange] = []
        var touched: [String] = []
        var seen = Set<String>()
        for r in conn.recorded {
            switch r {
            case .change(let c): out.append(c)
            case .touched(let agent): if seen.insert(agent).inserted { touched.append(agent) }
            }
        }
        let generation = db.writer.generation.load(ordering: .acquiring)
        for agent in touched {
            guard sink.followsRow(of: agent) else {
                out.append(.touched(agent))
                continue
            }
            guard let row = try? conn.query("SELECT \(Self.agentColumns) FROM agents WHERE id = ?", .text(agent)).first else {
                out.append(.touched(agent))  // its files still changed
                continue
            }
            let record = Self.decodeAgent(row)
            out.append(.row(record))
            rows.withLock { cache in
                if cache.count >= Self.maxCachedRows { cache.removeAll(keepingCapacity: true) }
                cache[agent] = (generation, record)
            }
        }
        if !out.isEmpty { sink.committed(out) }
    }

    /// The seed of an append-only stream from its newest rows (seq, line, offset), newest first.
    static func streamSeed(_ rows: [[SQLValue]], high: UInt64) -> FeedSeed {
        let records = rows.reversed().map { (id: UInt64($0[0].int ?? 0), line: $0[1].text ?? "") }
        // Nothing older is gone when the oldest record read starts the file.
        let hasOlder = (rows.last?[2].int ?? 0) > 0
        return FeedSeed(records: Array(records), evictedThrough: hasOlder ? (records.first.map { $0.id - 1 } ?? high) : 0, highWater: high)
    }

    public func feedSeed(_ agent: String, _ source: FeedSource, limit: Int) async throws -> FeedSeed {
        try db.read { conn in
            // The high-water mark first: every record committed at or below it is visible to the
            // reads that follow, and every record committed later has a larger id.
            let table = switch source {
            case .inbox: "inbox"
            case .log: "logs"
            case .jobStream: "job_stream"
            case .execOutput: "exec_output"
            case .sessionOutput: "session_output"
            }
            let high = UInt64(max(0, try conn.scalar("SELECT seq FROM sqlite_sequence WHERE name = ?", .text(table))?.int ?? 0))
            switch source {
            case .log(let log):
                let rows = try conn.query("SELECT seq, line, offset FROM logs WHERE agent = ? AND log = ? ORDER BY offset DESC LIMIT ?",
                                          .text(agent), .text(log.rawValue), .int(Int64(limit)))
                let records = rows.reversed().map { (id: UInt64($0[0].int ?? 0), line: $0[1].text ?? "") }
                // Nothing older is gone when the oldest record read starts the file.
                let hasOlder = (rows.last?[2].int ?? 0) > 0
                let evicted = hasOlder ? (records.first.map { $0.id - 1 } ?? high) : 0
                return FeedSeed(records: records, evictedThrough: evicted, highWater: high)
            case .inbox:
                let rows = try conn.query("SELECT \(Self.envelopeColumns) FROM inbox WHERE agent = ? ORDER BY seq DESC LIMIT ?",
                                          .text(agent), .int(Int64(limit)))
                let records = rows.reversed().map(Self.decodeEnvelope).map { (id: UInt64($0.seq), line: $0.json.description) }
                // Envelopes leave the inbox from its head, so the pending ones are every envelope
                // accepted after the one before the oldest pending; older ones may be gone. With
                // none pending, any id up to the high-water mark may have been consumed.
                return FeedSeed(records: Array(records), evictedThrough: records.first.map { $0.id - 1 } ?? high, highWater: high)
            case .jobStream(let job):
                return try Self.streamSeed(conn.query("SELECT seq, line, offset FROM job_stream WHERE job = ? AND agent = ? ORDER BY seq DESC LIMIT ?",
                                                      .text(job), .text(agent), .int(Int64(limit))), high: high)
            case .execOutput(let session, let exec):
                return try Self.streamSeed(conn.query("SELECT seq, line, offset FROM exec_output WHERE exec = ? AND session = ? AND agent = ? "
                                                          + "ORDER BY seq DESC LIMIT ?", .text(exec), .text(session), .text(agent), .int(Int64(limit))),
                                           high: high)
            case .sessionOutput(let session):
                return try Self.streamSeed(conn.query("SELECT seq, line, offset FROM session_output WHERE session = ? AND agent = ? ORDER BY seq DESC LIMIT ?",
                                                      .text(session), .text(agent), .int(Int64(limit))), high: high)
            }
        }
    }
}
