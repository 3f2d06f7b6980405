public import Foundation
public import Namespace
public import Runtime
public import Services

extension SQLiteStore {
    public func logTail(_ agent: String, _ log: LogName, limit: Int) async throws -> (records: [LogRecord], hasOlder: Bool) {
        try db.read { conn in
            let rows = try conn.query("SELECT seq, line, offset FROM logs WHERE agent = ? AND log = ? ORDER BY seq DESC LIMIT ?",
                                      .text(agent), .text(log.rawValue), .int(Int64(limit)))
            let records = rows.reversed().map { LogRecord(log: log, seq: $0[0].int ?? 0, line: $0[1].text ?? "") }
            let firstOffset = rows.last?[2].int ?? 0
            return (Array(records), firstOffset > 0)
        }
    }

    /// Bytes `offset..<offset+count` of the log as one file of lines. Offsets below the oldest
    /// retained record read from that record: `cat` shows the retained tail.
    public func readLog(_ agent: String, _ log: LogName, offset: Int64, count: Int) async throws -> Data {
        try db.read { conn in
            guard try conn.agentExists(agent) else { throw Self.notFound(agent) }
            let start = try conn.scalar("SELECT max(offset) FROM logs WHERE agent = ? AND log = ? AND offset <= ?",
                                        .text(agent), .text(log.rawValue), .int(offset))?.int ?? 0
            var out = Data()
            var from = start
            let want = count == Int.max ? Int.max : count
            while out.count < want {
                let rows = try conn.query("SELECT offset, line FROM logs WHERE agent = ? AND log = ? AND offset >= ? ORDER BY offset LIMIT 256",
                                          .text(agent), .text(log.rawValue), .int(from))
                if rows.isEmpty { break }
                for row in rows {
                    let recordOffset = row[0].int ?? 0
                    from = recordOffset + 1  // before any skip: a read at the end must not ask again
                    var bytes = Data((row[1].text ?? "").utf8)
                    bytes.append(0x0a)
                    if recordOffset < offset {
                        let skip = Int(offset - recordOffset)
                        if skip >= bytes.count { continue }
                        bytes = bytes.subdata(in: skip..<bytes.count)
                    }
                    out.append(bytes)
                    if out.count >= want { break }
                }
            }
            if out.count > want { out = out.subdata(in: 0..<want) }
            return out
        }
    }
}

extension SQLiteConnection {
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
            if seq % 128 == 0 {
                try query("""
                    DELETE FROM logs WHERE agent = ?1 AND log = ?2 AND seq <= (
                        SELECT seq FROM logs WHERE agent = ?1 AND log = ?2 ORDER BY seq DESC LIMIT 1 OFFSET ?3)
                    """, .text(agent), .text(log.rawValue), .int(Int64(retain)))
            }
        }
        try query("UPDATE agents SET trace_bytes = ?, trajectory_bytes = ?, outbox_bytes = ?, version = version + 1 WHERE id = ?",
                  .int(bytes[.trace] ?? 0), .int(bytes[.trajectory] ?? 0), .int(bytes[.outbox] ?? 0), .text(agent))
        touch(agent)
        return out
    }
}
