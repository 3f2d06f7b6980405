import AgentNSTesting
import Foundation
import Namespace
import Runtime
import RuntimeSQLite
import Services
import Testing

/// Ticks whose commit fails, whose failure cannot even be recorded, whose cause is only an
/// alarm, whose agent is hibernated, or whose agent is deleted and created again under them.
@Suite struct TickFailureTests {
    static func withFaults(_ clock: ManualClock, _ body: (Runtime, FaultInjectingStore) async throws -> Void) async throws {
        try await TestRuntime.with(clock: clock, wrapStore: { FaultInjectingStore($0) }) { rt in
            // The engine's start-up scan for leftover work would trigger an agent once more if
            // it ran after a test's send: let it run first, so every commit counted is the test's.
            #expect(try await TestRuntime.eventually { await rt.engine.leftoversScanned })
            try await body(rt, rt.store as! FaultInjectingStore)
        }
    }

    static let retry: JSON = .object(["max_attempts": 3, "backoff_ms": 1000])

    /// A commit refused at COMMIT (here: the disk full) is a failed tick like a throw: the
    /// attempt is recorded, traced, and retried after the back-off without any other trigger.
    @Test func aRefusedCommitIsAFailedTickAndRetriesByItself() async throws {
        let clock = ManualClock()
        try await Self.withFaults(clock) { rt, store in
            _ = try await rt.createAgent(id: "c", kind: "echo", config: .object(["retry": Self.retry]))
            store.faults.commit = FaultInjectingStore.diskFull
            try await rt.send("c", envelope(id: "m1", from: "s", body: "hello"))
            #expect(try await TestRuntime.eventually { try await rt.lines("c", "inbox").first?["attempts"]?.intValue == 1 })
            #expect(try await rt.lines("c", "inbox").first?["last_error"]?.stringValue?.contains("disk is full") == true)
            let error = try await rt.lines("c", "logs/trace").last(where: { $0["type"]?.stringValue == "error" })
            #expect(error?["error"]?.stringValue?.contains("disk is full") == true)
            #expect(try await rt.lines("c", "logs/trajectory").map { $0["outcome"]?.stringValue } == ["error"])
            #expect(try await rt.op.readString("/agents/c/outbox").isEmpty)
            store.faults.commit = nil
            clock.advance(by: 1000)
            #expect(try await rt.drained("c"))
            #expect(try await rt.lines("c", "outbox").count == 1)
            #expect(try await rt.lines("c", "logs/trajectory").map { $0["outcome"]?.stringValue } == ["error", "ok"])
        }
    }

    /// A commit that keeps failing uses the attempts up and dead-letters the envelope, as a
    /// kind that keeps throwing does.
    @Test func aCommitThatKeepsFailingDeadLetters() async throws {
        let clock = ManualClock()
        try await Self.withFaults(clock) { rt, store in
            _ = try await rt.createAgent(id: "d", kind: "echo", config: .object(["retry": Self.retry]))
            store.faults.commit = FaultInjectingStore.locked
            try await rt.send("d", envelope(id: "m1", from: "s", body: "hello"))
            #expect(try await TestRuntime.eventually { try await rt.statusOf("d")["tick_count"]?.intValue == 1 })
            clock.advance(by: 1000)
            #expect(try await TestRuntime.eventually { try await rt.statusOf("d")["tick_count"]?.intValue == 2 })
            clock.advance(by: 2000)
            #expect(try await TestRuntime.eventually { try await rt.statusOf("d")["deadletter_count"]?.intValue == 1 })
            let dead = try JSON(parsing: try await rt.op.readString("/agents/d/deadletter/m1"))
            #expect(dead["reason"]?.stringValue?.contains("failed 3 times") == true)
            #expect(dead["reason"]?.stringValue?.contains("locked") == true)
            #expect(try await rt.statusOf("d")["queue_depth"]?.intValue == 0)
        }
    }

    /// When even recording the failure fails, nothing is written, and the engine tries the
    /// agent again after a back-off of its own (500 ms, then doubling), on its clock.
    @Test func whenStorageIsGoneTheEngineRetriesByItself() async throws {
        let clock = ManualClock()
        try await Self.withFaults(clock) { rt, store in
            _ = try await rt.createAgent(id: "g", kind: "echo", config: .object(["retry": Self.retry]))
            store.faults = .init(commit: FaultInjectingStore.locked, recordFailure: FaultInjectingStore.locked)
            let t0 = clock.now()
            try await rt.send("g", envelope(id: "m1", from: "s", body: "hello"))
            #expect(try await TestRuntime.eventually { await rt.engine.storageRetryDue("g") == t0 + 500 })
            #expect(store.commitCalls == 1 && store.failureCalls == 1)
            clock.advance(by: 500)
            #expect(try await TestRuntime.eventually { await rt.engine.storageRetryDue("g") == t0 + 1500 })
            #expect(store.commitCalls == 2 && store.failureCalls == 2)
            clock.advance(by: 999)
            try await Task.sleep(for: .milliseconds(50))
            #expect(store.commitCalls == 2, "retried before its back-off")
            store.faults = .init()
            clock.advance(by: 1)
            #expect(try await rt.drained("g"))
            #expect(await rt.engine.storageRetryDue("g") == nil)
            // Nothing of the unrecorded attempts was written: one tick, ok.
            #expect(try await rt.lines("g", "logs/trajectory").map { $0["outcome"]?.stringValue } == ["ok"])
            #expect(try await rt.lines("g", "outbox").count == 1)
        }
    }

    /// A kind that spends past `config.budget.limit` fails at commit: recorded, retried,
    /// dead-lettered after max_attempts, never re-run for ever and never spending.
    @Test func budgetExceededAtCommitIsAFailedTick() async throws {
        let clock = ManualClock()
        try await withRuntime(clock: clock) { rt in
            _ = try await rt.createAgent(id: "s", kind: "spender", config: .object(["retry": Self.retry, "budget": .object(["limit": 2])]))
            for i in 0..<2 { try await rt.send("s", envelope(id: "ok\(i)", from: "x", body: "fine")) }
            #expect(try await rt.drained("s"))
            try await rt.send("s", envelope(id: "over", from: "x", body: "too much"))
            #expect(try await TestRuntime.eventually { try await rt.lines("s", "inbox").first?["attempts"]?.intValue == 1 })
            clock.advance(by: 1000)
            #expect(try await TestRuntime.eventually { try await rt.lines("s", "inbox").first?["attempts"]?.intValue == 2 })
            clock.advance(by: 2000)
            #expect(try await TestRuntime.eventually { try await rt.statusOf("s")["deadletter_count"]?.intValue == 1 })
            let dead = try JSON(parsing: try await rt.op.readString("/agents/s/deadletter/over"))
            #expect(dead["reason"]?.stringValue?.contains("budget_exceeded") == true)
            let status = try await rt.statusOf("s")
            #expect(status["tick_count"]?.intValue == 5)
            #expect(status["budget"]?["spent"]?.intValue == 2)
            #expect(try await rt.lines("s", "outbox").count == 2)
        }
    }

    /// A failed tick of a hibernated agent wakes it, as its trace says.
    @Test func aFailedTickWakesAHibernatedAgent() async throws {
        let clock = ManualClock()
        try await withRuntime(clock: clock) { rt in
            _ = try await rt.createAgent(id: "h", kind: "faulty", config: .object(["retry": Self.retry]))
            try await rt.ctl("h", "hibernate")
            try await rt.send("h", envelope(id: "m1", from: "s", body: "fail"))
            #expect(try await TestRuntime.eventually { try await rt.statusOf("h")["tick_count"]?.intValue == 1 })
            let woke = try await rt.lines("h", "logs/trace").contains {
                $0["type"]?.stringValue == "state_change" && $0["from"]?.stringValue == "hibernated" && $0["to"]?.stringValue == "active"
            }
            #expect(woke)
            #expect(try await rt.statusOf("h")["state"]?.stringValue == "active")
        }
    }

    /// Ticks caused only by a one-shot alarm back off exponentially and give up after
    /// max_attempts, traced; then nothing more runs.
    @Test func alarmOnlyFailuresBackOffAndGiveUp() async throws {
        let clock = ManualClock()
        try await withRuntime(clock: clock) { rt in
            let t0 = clock.now()
            _ = try await rt.createAgent(id: "a", kind: "faulty", config: .object([
                "fail": true, "retry": Self.retry, "alarms": .array([.object(["id": "once", "at": .int64(t0)])]),
            ]))
            #expect(try await TestRuntime.eventually { try await rt.statusOf("a")["tick_count"]?.intValue == 1 })
            clock.advance(by: 1000)
            #expect(try await TestRuntime.eventually { try await rt.statusOf("a")["tick_count"]?.intValue == 2 })
            clock.advance(by: 2000)
            #expect(try await TestRuntime.eventually { try await rt.statusOf("a")["tick_count"]?.intValue == 3 })
            for _ in 0..<5 {
                clock.advance(by: 60_000)
                try await Task.sleep(for: .milliseconds(20))
            }
            #expect(try await rt.statusOf("a")["tick_count"]?.intValue == 3)
            let trajectory = try await rt.lines("a", "logs/trajectory")
            #expect(trajectory.compactMap { $0["at"]?.stringValue } == [t0, t0 + 1000, t0 + 3000].map(Timestamp.iso))
            let trace = try await rt.lines("a", "logs/trace")
            #expect(trace.filter { $0["type"]?.stringValue == "error" }.compactMap { $0["attempt"]?.intValue } == [1, 2, 3])
            let gaveUp = trace.filter { $0["type"]?.stringValue == "alarm_given_up" }
            #expect(gaveUp.count == 1)
            #expect(gaveUp.first?["id"]?.stringValue == "once")
            #expect(gaveUp.first?["reason"]?.stringValue?.contains("failed 3 times") == true)
        }
    }

    /// A periodic alarm gives up the occurrence that keeps failing and fires again at its next
    /// period (retries do not shift its phase), with its attempts counted afresh.
    @Test func aPeriodicAlarmGivesUpAnOccurrenceNotTheAlarm() async throws {
        let clock = ManualClock()
        try await withRuntime(clock: clock) { rt in
            let t0 = clock.now()
            _ = try await rt.createAgent(id: "p", kind: "faulty", config: .object([
                "fail": true, "retry": .object(["max_attempts": 2, "backoff_ms": 1000]),
                "alarms": .array([.object(["id": "tick", "at": .int64(t0), "every_ms": 10_000])]),
            ]))
            #expect(try await TestRuntime.eventually { try await rt.statusOf("p")["tick_count"]?.intValue == 1 })
            clock.advance(by: 1000)
            #expect(try await TestRuntime.eventually { try await rt.statusOf("p")["tick_count"]?.intValue == 2 })
            let gaveUp = try await rt.lines("p", "logs/trace").filter { $0["type"]?.stringValue == "alarm_given_up" }
            #expect(gaveUp.map { $0["next"]?.stringValue } == [Timestamp.iso(t0 + 10_000)])
            clock.advance(by: 8999)
            try await Task.sleep(for: .milliseconds(50))
            #expect(try await rt.statusOf("p")["tick_count"]?.intValue == 2)
            clock.advance(by: 1)
            #expect(try await TestRuntime.eventually { try await rt.statusOf("p")["tick_count"]?.intValue == 3 })
            let errors = try await rt.lines("p", "logs/trace").filter { $0["type"]?.stringValue == "error" }
            #expect(errors.compactMap { $0["attempt"]?.intValue } == [1, 2, 1])
        }
    }

    /// A tick still running when its agent is deleted and created again must not commit into
    /// the new agent (whose tick count is the same 0 the old tick started from).
    @Test func aStaleTickCannotCommitIntoARecreatedAgent() async throws {
        try await withRuntime { rt in
            let id = "stale-recreated"
            GateKind.close(id)
            _ = try await rt.createAgent(id: id, kind: "gate")
            try await rt.send(id, "m")
            #expect(try await TestRuntime.eventually { GateKind.entered(id) == 1 })
            try await rt.deleteAgent(id)
            _ = try await rt.createAgent(id: id, kind: "echo")
            func picture() async throws -> [String] {
                var all: [String] = [try await rt.op.readString("/agents/\(id)/status"), try await rt.op.readString("/agents/\(id)/state")]
                for file in ["outbox", "logs/trace", "logs/trajectory", "inbox"] { all.append(try await rt.op.readString("/agents/\(id)/\(file)")) }
                all.append(try await rt.op.list("/agents/\(id)/goals").map(\.name).joined(separator: ","))
                return all
            }
            let before = try await picture()
            GateKind.open(id)
            #expect(try await TestRuntime.eventually { await rt.engine.runningCount == 0 })
            try await Task.sleep(for: .milliseconds(50))
            #expect(try await picture() == before)
            #expect(try await rt.statusOf(id)["tick_count"]?.intValue == 0)
            #expect(await rt.engine.storageRetryDue(id) == nil)
        }
    }
}
