import AgentNSTesting
import Foundation
import Namespace
import Runtime
import RuntimeSQLite
import Services
import Testing

/// Config writes: concurrent merge-patches, and the alarms a config change leaves alone.
@Suite struct ConfigTests {
    /// Every acknowledged merge-patch is in the config at the end, however many run at once.
    @Test func concurrentPatchesAllLand() async throws {
        try await withRuntime { rt in
            for round in 0..<3 {
                let id = "cfg\(round)"
                _ = try await rt.createAgent(id: id, kind: "echo")
                let n = 32
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for i in 0..<n {
                        group.addTask { _ = try await rt.op.write("/agents/\(id)/config", Data("{\"k\(i)\": \(i)}".utf8), mode: .replace) }
                    }
                    try await group.waitForAll()
                }
                let config = try JSON(parsing: try await rt.op.readString("/agents/\(id)/config"))
                let missing = (0..<n).filter { config["k\($0)"]?.intValue != $0 }
                #expect(missing.isEmpty, "round \(round): patches lost: \(missing)")
                let changes = try await rt.lines(id, "logs/trace").filter { $0["type"]?.stringValue == "config_change" }
                #expect(changes.count == n)
            }
        }
    }

    /// A patch the config's validation refuses changes nothing, also when others land around it.
    @Test func aRefusedPatchChangesNothing() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "v", kind: "counter", config: .object(["interval_ms": 1000]))
            let before = try await rt.op.readString("/agents/v/config")
            await expectCode(.invalidInput) { _ = try await rt.op.write("/agents/v/config", "{\"interval_ms\": 1}") }
            await expectCode(.invalidInput) { _ = try await rt.op.write("/agents/v/config", "{\"retry\": {\"max_attempts\": 0}}") }
            #expect(try await rt.op.readString("/agents/v/config") == before)
        }
    }

    /// A one-shot config alarm that fired does not fire again after a config change that leaves
    /// it as it was; changing its `at` sets it again.
    @Test func aFiredOneShotStaysFiredAcrossUnrelatedChanges() async throws {
        let clock = ManualClock()
        try await withRuntime(clock: clock) { rt in
            let at = clock.now() + 1000
            _ = try await rt.createAgent(id: "o", kind: "echo", config: .object(["alarms": .array([.object(["id": "once", "at": .int64(at)])])]))
            clock.advance(by: 1000)
            #expect(try await TestRuntime.eventually { try await rt.statusOf("o")["tick_count"]?.intValue == 1 })
            _ = try await rt.op.write("/agents/o/config", "{\"name\": \"renamed\"}")
            clock.advance(by: 1000)
            // A manual tick takes every due alarm with it: none may be due.
            try await rt.ctl("o", "tick")
            let last = try await rt.lines("o", "logs/trajectory").last!
            #expect(last["cause"]?.stringValue == "manual")
            #expect(last["alarms"] == .array([]), "the fired one-shot fired again")
            #expect(try await rt.statusOf("o")["tick_count"]?.intValue == 2)
            // Moving it arms it again.
            let later = clock.now() + 5000
            _ = try await rt.op.write("/agents/o/config", "{\"alarms\": [{\"id\": \"once\", \"at\": \(later)}]}")
            clock.advance(by: 5000)
            #expect(try await TestRuntime.eventually { try await rt.statusOf("o")["tick_count"]?.intValue == 3 })
            #expect(try await rt.lines("o", "logs/trajectory").last?["alarms"] == .array(["once"]))
        }
    }

    /// A periodic config alarm keeps its phase across unrelated changes; removing it stops it.
    @Test func periodicConfigAlarmsKeepPhaseAndGoWhenRemoved() async throws {
        let clock = ManualClock()
        try await withRuntime(clock: clock) { rt in
            _ = try await rt.createAgent(id: "e", kind: "echo", config: .object(["alarms": .array([.object(["id": "beat", "every_ms": 10_000])])]))
            clock.advance(by: 6000)
            _ = try await rt.op.write("/agents/e/config", "{\"name\": \"x\"}")
            clock.advance(by: 4000)
            #expect(try await TestRuntime.eventually { try await rt.statusOf("e")["tick_count"]?.intValue == 1 })
            _ = try await rt.op.write("/agents/e/config", "{\"alarms\": []}")
            clock.advance(by: 10_000)
            try await rt.ctl("e", "tick")
            #expect(try await rt.lines("e", "logs/trajectory").last?["alarms"] == .array([]))
            #expect(try await rt.statusOf("e")["tick_count"]?.intValue == 2)
        }
    }
}
