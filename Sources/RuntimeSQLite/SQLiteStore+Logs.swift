public import Foundation
public import Namespace
public import Runtime
public import Services

extension SQLiteStore {
    public func logTail(_ agent: String, _ log: LogName, limit: Int) async throws -> (records: [LogRecord], hasOlder: Bool) {
        try db.read { conn in
            let rows = try conn.query("SELECT seq, line, offset FROM logs WHERE agent = ? AND log = ? ORDER BY offset DESC LIMIT ?",
                                      .text(agent), .text(log.rawValue), .int(Int64(limit)))
            let records = rows.reversed().map { LogRecord(log: log, seq: $0[0].int ?? 0, line: $0[1].text ?? "") }
            let firstOffset = rows.last?[2].int ?? 0
            return (Array(records), firstOffset > 0)
        }
    }

    /// The log's bytes in `range`, the log being one file of lines at the offsets they were
    /// appended at (its size counts every byte ever appended). Retention deletes the oldest
    /// records: a range that begins below the oldest retained record is answered from that
    /// record, and the slice says so, so a reader that goes on from the bytes it got (a FUSE
    /// handle, an HTTP client reading by `X-Offset`) sees each retained record once, in order.
    public func readLog(_ agent: String, _ log: LogName, _ range: ByteRange) async throws -> FileSlice {
        try db.read { conn in try conn.readLog(agent, log, range) }
    }

    /// The log from `offset` to its end and the id of its last record, from one snapshot (one
    /// read transaction), so the id is exactly that of the last record read whatever commits
    /// meanwhile: a watch resumed after it gets exactly the records the read did not.
    public func readLogToEnd(_ agent: String, _ log: LogName, from offset: Int64) async throws -> (slice: FileSlice, lastID: UInt64?) {
        let range = try ByteRange(offset: offset)
        return try db.read { conn in
            try conn.exec("BEGIN")
            defer { try? conn.exec("COMMIT") }
            let slice = try conn.readLog(agent, log, range)
            // The last record is the one at the highest offset (schema 9: offsets grow with ids).
            let last = try conn.scalar("SELECT seq FROM logs WHERE agent = ? AND log = ? ORDER BY offset DESC LIMIT 1", .text(agent), .text(log.rawValue))?.int
            return (slice, UInt64(max(0, last ?? 0)))
        }
    }
}

extension SQLiteConnection {
    /// `SQLiteStore.readLog` on this connection (inside the caller's transaction, if any).
    func readLog(_ agent: String, _ log: LogName, _ range: ByteRange) throws(FSError) -> FileSlice {
        guard try agentExists(agent) else { throw SQLiteStore.notFound(agent) }
        return try readLines(in: "logs", where: "agent = ? AND log = ?", [.text(agent), .text(log.rawValue)], range)
    }

    /// `range` of a file made of the lines of `table`'s rows that match `filter` (with `args`),
    /// each at its `offset`, a newline after each: logs and job streams. A range that begins
    /// below the oldest row kept is answered from that row, and the slice says where it begins.
    func readLines(in table: String, where filter: String, _ args: [SQLValue], _ range: ByteRange) throws(FSError) -> FileSlice {
        var begin = range.offset
        var from: Int64
        if let containing = try query("SELECT max(offset) FROM \(table) WHERE \(filter) AND offset <= ?", args + [.int(range.offset)]).first?.first?.int {
            from = containing
        } else if let oldest = try query("SELECT min(offset) FROM \(table) WHERE \(filter)", args).first?.first?.int, oldest > range.offset {
            (from, begin) = (oldest, oldest)
        } else {
            return FileSlice(Data(), at: range.offset)
        }
        let want = range.count.map { Int(clamping: $0) } ?? Int.max
        var out = Data()
        while out.count < want {
            let rows = try query("SELECT offset, line FROM \(table) WHERE \(filter) AND offset >= ? ORDER BY offset LIMIT 256", args + [.int(from)])
            if rows.isEmpty { break }
            for row in rows {
                let recordOffset = row[0].int ?? 0
                from = recordOffset + 1  // before any skip: a read at the end must not ask again
                var bytes = Data((row[1].text ?? "").utf8)
                bytes.append(0x0a)
                if recordOffset < begin {
                    let skip = Int(begin - recordOffset)
                    if skip >= bytes.count { continue }
                    bytes = bytes.subdata(in: skip..<bytes.count)
                }
                out.append(bytes)
                if out.count >= want { break }
            }
        }
        if out.count > want { out = out.subdata(in: 0..<want) }
        return FileSlice(out, at: begin)
    }
}

extension SQLiteConnection {
    static let pruneEveryBytes: Int64 = 16 << 10

    /// Appends lines to an agent's logs, moving its byte counters, and prunes past `retain`.
    func appendLogs(_ agent: String, _ entries: [(LogName, JSON)], retain: Int) throws(FSError) -> [LogRecord] {
        guard !entries.isEmpty else { return [] }
        guard let row = try query("SELECT trace_bytes, trajectory_bytes, outbox_bytes FROM agents WHERE id = ?", .text(agent)).first else {
            throw SQLiteStore.notFound(agent)
        }
        var bytes: [LogName: Int64] = [.trace: row[0].int ?? 0, .trajectory: row[1].int ?? 0, .outbox: row[2].int ?? 0]
        var out: [LogRecord] = []
        out.reserveCapacity(entries.count)
        for (log, json) in entries {
            let line = json.description
            let len = Int64(line.utf8.count + 1)
            let offset = bytes[log] ?? 0
            try query("INSERT INTO logs(agent, log, offset, len, line) VALUES(?, ?, ?, ?, ?)",
                      .text(agent), .text(log.rawValue), .int(offset), .int(len), .text(line))
            let seq = lastInsertRowID
            bytes[log] = offset + len
            out.append(LogRecord(log: log, seq: seq, line: line))
            record(.logged(agent: agent, out[out.count - 1]))
            // Prune each time this log crosses a 16 KiB mark: every log is pruned on its own
            // schedule (a trigger on the shared rowid could miss one log for good), about once
            // per hundred records, so the cost of the DELETE is spread over them.
            if (offset + len) / Self.pruneEveryBytes != offset / Self.pruneEveryBytes {
                try query("""
                    DELETE FROM logs WHERE agent = ?1 AND log = ?2 AND offset <= (
                        SELECT offset FROM logs WHERE agent = ?1 AND log = ?2 ORDER BY offset DESC LIMIT 1 OFFSET ?3)
                    """, .text(agent), .text(log.rawValue), .int(Int64(retain)))
            }
        }
        try query("UPDATE agents SET trace_bytes = ?, trajectory_bytes = ?, outbox_bytes = ?, version = version + 1 WHERE id = ?",
                  .int(bytes[.trace] ?? 0), .int(bytes[.trajectory] ?? 0), .int(bytes[.outbox] ?? 0), .text(agent))
        touch(agent)
        return out
    }
}
