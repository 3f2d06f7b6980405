import AgentNSTesting
import Foundation
import Namespace
import Runtime
import RuntimeSQLite
import Testing

@Suite struct PersistenceTests {
    @Test func hibernationSurvivesCloseAndReopen() async throws {
        let db = try TestRuntime.temporaryDirectory() + "/agentd.sqlite"
        let clock = ManualClock()
        try await withRuntime(clock: clock, databasePath: db) { rt in
            _ = try await rt.createAgent(id: "h", kind: "echo")
            try await rt.send("h", "one")
            #expect(try await rt.drained("h"))
            try await rt.ctl("h", "hibernate")
            try await rt.op.write("/agents/h/goals/g1.json", #"{"aim":"keep"}"#)
            try await rt.ctl("h", "pause")  // so the next message waits in the inbox across the restart
            try await rt.send("h", envelope(id: "kept", from: "s", body: "two"))
            #expect(try await rt.statusOf("h")["state"] == "paused")
        }
        try await withRuntime(clock: clock, databasePath: db) { rt in
            let status = try await rt.statusOf("h")
            #expect(status["state"] == "paused")
            #expect(status["queue_depth"] == 1)
            #expect(try await rt.stateOf("h")["messages"] == 1)
            #expect(try await rt.lines("h", "inbox").map { $0["id"]! } == ["kept"])
            #expect(try await rt.op.readString("/agents/h/goals/g1.json") == #"{"aim":"keep"}"# + "\n")
            try await rt.ctl("h", "hibernate")
            #expect(try await rt.op.readString("/agents/h/ctl") == "hibernated\n")
            // Any trigger wakes a hibernated agent: here, the wake command's pending work.
            try await rt.ctl("h", "wake")
            #expect(try await rt.drained("h"))
            #expect(try await rt.stateOf("h")["messages"] == 2)
        }
    }

    @Test func aMessageWakesAHibernatedAgent() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "h", kind: "echo")
            try await rt.ctl("h", "hibernate")
            try await rt.send("h", "wake up")
            #expect(try await rt.drained("h"))
            #expect(try await TestRuntime.eventually { try await rt.statusOf("h")["state"] == "active" })
            #expect(try await rt.lines("h", "logs/trace").contains { $0["type"] == "state_change" && $0["to"] == "active" })
        }
    }

    @Test func pendingWorkIsPickedUpAfterRestart() async throws {
        let db = try TestRuntime.temporaryDirectory() + "/agentd.sqlite"
        // Accept envelopes with no engine running: as if agentd died before ticking.
        let store = try SQLiteStore(path: db)
        let rt0 = Runtime(store: store, kinds: .testing)
        _ = try await rt0.createAgent(id: "e", kind: "echo")
        for i in 0..<5 { try await rt0.send("e", "m\(i)") }
        await store.close()
        try await withRuntime(databasePath: db) { (rt: Runtime) async throws in
            #expect(try await rt.drained("e"))
            #expect(try await rt.lines("e", "outbox").count == 5)
        }
    }

    @Test func alarmsFireOnTimeAndAfterReopen() async throws {
        let db = try TestRuntime.temporaryDirectory() + "/agentd.sqlite"
        let clock = ManualClock()
        try await withRuntime(clock: clock, databasePath: db) { rt in
            _ = try await rt.createAgent(id: "c", kind: "counter", config: .object(["interval_ms": 1000]))
            #expect(try await rt.stateOf("c")["count"] == 0)
            clock.advance(by: 999)
            try await Task.sleep(for: .milliseconds(50))
            #expect(try await rt.stateOf("c")["count"] == 0)  // not before its time
            clock.advance(by: 1)
            #expect(try await TestRuntime.eventually { try await rt.stateOf("c")["count"] == 1 })
            #expect(try await rt.statusOf("c")["last_tick_cause"] == "alarm")
        }
        // Closed while the next alarm was pending; it is due at +2000.
        clock.advance(by: 5000)
        try await withRuntime(clock: clock, databasePath: db) { (rt: Runtime) async throws in
            // Missed periods are not replayed: one tick catches up.
            #expect(try await TestRuntime.eventually { try await rt.stateOf("c")["count"] == 2 })
            clock.advance(by: 1000)
            #expect(try await TestRuntime.eventually { try await rt.stateOf("c")["count"] == 3 })
            // Each alarm tick says how late it started: on time, 4 s late after the reopen, on time.
            let late = try await rt.lines("c", "logs/trace").filter { $0["type"] == "tick_start" }.map { $0["late_ms"]?.intValue }
            #expect(late == [0, 4000, 0], "\(late)")
        }
    }

    @Test func configAlarmsAndPausedAgents() async throws {
        let clock = ManualClock()
        try await withRuntime(clock: clock) { rt in
            _ = try await rt.createAgent(id: "e", kind: "echo", config: .object(["alarms": .array([.object(["id": "beat", "every_ms": 500])])]))
            clock.advance(by: 500)
            #expect(try await TestRuntime.eventually { try await rt.statusOf("e")["tick_count"] == 1 })
            try await rt.ctl("e", "pause")
            clock.advance(by: 2000)
            try await Task.sleep(for: .milliseconds(50))
            #expect(try await rt.statusOf("e")["tick_count"] == 1)  // paused: no automatic ticks
            try await rt.ctl("e", "tick")  // a manual tick still runs, and takes the overdue alarm with it
            #expect(try await rt.statusOf("e")["tick_count"] == 2)
            try await rt.ctl("e", "resume")
            clock.advance(by: 500)
            #expect(try await TestRuntime.eventually { try await rt.statusOf("e")["tick_count"] == 3 })
        }
    }
}
