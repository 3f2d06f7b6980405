import AgentNSTesting
import Foundation
import Namespace
import Runtime
@testable import RuntimeSQLite
import Testing

/// A database made by an older agentd opens with this one and keeps working.
@Suite struct MigrationTests {
    /// A database at schema `version`, as an agentd of that version leaves it.
    static func database(at path: String, version: Int) throws -> SQLiteConnection {
        let conn = try SQLiteConnection(path: path, readOnly: false)
        for (i, m) in Schema.migrations.prefix(version).enumerated() {
            try conn.exec(m)
            try Schema.made(i + 1, conn)
        }
        try conn.exec("PRAGMA user_version=\(version)")
        return conn
    }

    /// Schema 2 to 3: existing agents get incarnation 0 (new ones start at 1, so a recreated id
    /// never matches an old tick), and existing alarms keep their phase (scheduled_at = due_at).
    @Test func aVersion2DatabaseKeepsItsAgentsAndAlarmPhases() async throws {
        let path = try TestRuntime.temporaryDirectory() + "/agentd.sqlite"
        let clock = ManualClock()
        let t0 = clock.now()
        do {
            let conn = try Self.database(at: path, version: 2)
            try conn.exec("INSERT INTO agents(id, kind, config, state, lifecycle, created_at) VALUES('old', 'counter', '{}', '{\"count\":0}', 'active', 0)")
            // Due 300 ms past a whole second, every second: its phase is the 300.
            try conn.exec("INSERT INTO alarms(agent, alarm_id, due_at, every_ms, source) VALUES('old', 'count', \(t0 - 9700), 1000, 'agent')")
        }
        try await withRuntime(clock: clock, databasePath: path) { rt in
            #expect(try await rt.store.agent("old")?.incarnation == 0)
            #expect(try await TestRuntime.eventually { try await rt.statusOf("old")["tick_count"]?.intValue == 1 })
            clock.advance(by: 300)
            #expect(try await TestRuntime.eventually { try await rt.statusOf("old")["tick_count"]?.intValue == 2 })
            #expect(try await rt.stateOf("old")["count"]?.intValue == 2)
            try await rt.deleteAgent("old")
            _ = try await rt.createAgent(id: "old", kind: "echo")
            let again = try await rt.store.agent("old")?.incarnation ?? 0
            _ = try await rt.createAgent(id: "other", kind: "echo")
            #expect(again >= 1)
            #expect(try await rt.store.agent("other")?.incarnation == again + 1)
        }
    }

    /// The queries that look for the few agents with waiting or dead-lettered envelopes, and the
    /// metrics' totals, are planned on the partial indexes of schema 7, never as a scan of every
    /// agent's row (at ten million agents, a gigabyte read at each start and each scrape).
    @Test func theFewAgentsWithWorkAreFoundWithoutAScan() async throws {
        let path = try TestRuntime.temporaryDirectory() + "/agentd.sqlite"
        let conn = try SQLiteConnection(path: path, readOnly: false)
        try Schema.migrate(conn)
        for sql in [
            "SELECT id FROM agents WHERE queue_depth > 0 AND lifecycle != 'paused' LIMIT 10",
            "SELECT total(queue_depth), max(queue_depth) FROM agents WHERE queue_depth > 0",
            "SELECT total(deadletter_count) FROM agents WHERE deadletter_count > 0",
        ] {
            let plan = try conn.query("EXPLAIN QUERY PLAN " + sql).compactMap { $0.last?.text }.joined(separator: "; ")
            #expect(plan.contains("agents_pending") || plan.contains("agents_deadletters"), "\(sql): \(plan)")
            #expect(!plan.hasPrefix("SCAN agents") || plan.contains("USING"), "\(sql): \(plan)")
        }
        // And the indexes hold only those agents: the counts follow sends, ticks and dead letters.
        try conn.exec("INSERT INTO agents(id, kind, config, state, lifecycle, created_at, queue_depth) VALUES('w', 'echo', '{}', '{}', 'active', 0, 3)")
        try conn.exec("INSERT INTO agents(id, kind, config, state, lifecycle, created_at) VALUES('idle', 'echo', '{}', '{}', 'active', 0)")
        #expect(try conn.query("SELECT id FROM agents INDEXED BY agents_pending WHERE queue_depth > 0").compactMap { $0[0].text } == ["w"])
    }

    /// Schema 9 keeps one index on logs: every query of a log, by record id or by byte offset,
    /// is planned on `logs_offset` (no scan, no sort), and a log made before reads the same.
    @Test func everyLogQueryUsesTheOneLogIndex() async throws {
        let path = try TestRuntime.temporaryDirectory() + "/agentd.sqlite"
        do {
            let conn = try Self.database(at: path, version: 8)
            try conn.exec("INSERT INTO agents(id, kind, config, state, lifecycle, created_at, incarnation, trace_bytes) VALUES('old', 'echo', '{}', '{}', 'active', 0, 1, 12)")
            try conn.exec("INSERT INTO logs(agent, log, offset, len, line) VALUES('old', 'trace', 0, 6, 'first'), ('old', 'trace', 6, 6, 'again')")
        }
        let conn = try SQLiteConnection(path: path, readOnly: false)
        try Schema.migrate(conn)
        #expect(try conn.query("SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'logs'").compactMap { $0[0].text } == ["logs_offset"])
        for sql in [
            "SELECT seq, line, offset FROM logs WHERE agent = 'a' AND log = 'trace' ORDER BY offset DESC LIMIT 10",
            "SELECT seq FROM logs WHERE agent = 'a' AND log = 'trace' ORDER BY offset DESC LIMIT 1",
            "SELECT max(offset) FROM logs WHERE agent = 'a' AND log = 'trace' AND offset <= 100",
            "SELECT offset, line FROM logs WHERE agent = 'a' AND log = 'trace' AND offset >= 5 ORDER BY offset LIMIT 256",
            "DELETE FROM logs WHERE agent = 'a' AND log = 'trace' AND offset <= (SELECT offset FROM logs WHERE agent = 'a' AND log = 'trace' ORDER BY offset DESC LIMIT 1 OFFSET 100)",
        ] {
            let plan = try conn.query("EXPLAIN QUERY PLAN " + sql).compactMap { $0.last?.text }.joined(separator: "; ")
            #expect(plan.contains("logs_offset") && !plan.contains("TEMP B-TREE") && !plan.contains("SCAN logs"), "\(sql): \(plan)")
        }
        try await withRuntime(databasePath: path) { rt in
            #expect(try await rt.op.readString("/agents/old/logs/trace") == "first\nagain\n")
            for i in 0..<3 { try await rt.send("old", "m\(i)") }
            #expect(try await rt.drained("old"))
            let lines = try await rt.op.readString("/agents/old/logs/trace").split(separator: "\n")
            #expect(lines.prefix(2) == ["first", "again"] && lines.count > 2)
        }
    }

    /// Keys an agent keeps (imported with its private key, or made before keys were derived)
    /// are stored with the public key as its 32 bytes; a row that holds the 64 hex characters
    /// (made before that) reads, signs and exports the same, and a new agent has no row at all.
    @Test func storedKeysWinAndOldTextRowsStillRead() async throws {
        let path = try TestRuntime.temporaryDirectory() + "/agentd.sqlite"
        let old = Schnorr.generate()
        let kept = try await withRuntimeValue { rt in
            _ = try await rt.createAgent(id: "donor", kind: "echo")
            return try await rt.exportAgent("donor", includeSecret: true)
        }
        try await withRuntime(databasePath: path) { rt in
            _ = try await rt.createAgent(id: "new", kind: "echo")
            _ = try await rt.createAgent(id: "old", kind: "echo")
            _ = try await rt.importAgent(kept, as: "imported")
        }
        do {
            let conn = try SQLiteConnection(path: path, readOnly: false)
            // As an agentd before schema 8 left it: the row of an agent made then, the key in hex.
            try conn.query("INSERT INTO identity(agent, secret, pubkey) VALUES('old', ?, ?)", .blob(old.secret), .text(old.publicKey))
            let stored = try conn.query("SELECT agent, typeof(pubkey), length(pubkey) FROM identity ORDER BY agent")
            #expect(stored.map { "\($0[0].text!) \($0[1].text!) \($0[2].int!)" } == ["imported blob 32", "old text 64"])
        }
        try await withRuntime(databasePath: path) { rt in
            #expect(try await rt.op.readString("/agents/old/identity/pubkey") == old.publicKey + "\n")
            #expect(try await rt.op.readString("/agents/imported/identity/pubkey") == (kept["identity"]?["pubkey"]?.stringValue ?? "?") + "\n")
            let new = try await rt.op.readString("/agents/new/identity/pubkey")
            #expect(new.count == 65 && new.allSatisfy { $0.isHexDigit && !$0.isUppercase || $0 == "\n" })
            for id in ["old", "new", "imported"] {
                let pub = try await rt.op.readString("/agents/\(id)/identity/pubkey").trimmingCharacters(in: .newlines)
                let sig = try await rt.sign(as: id, Data("hello".utf8))
                #expect(Schnorr.verify(pubkey: pub, data: Data("hello".utf8), signature: sig), "\(id): the stored key signs as its pubkey says")
                #expect(try await rt.exportAgent(id, includeSecret: false)["identity"]?["pubkey"]?.stringValue == pub)
            }
        }
    }
}
