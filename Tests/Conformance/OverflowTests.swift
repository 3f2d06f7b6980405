import AgentNSTesting
import Foundation
import Namespace
import Runtime
import RuntimeSQLite
import Testing

@Suite struct OverflowTests {
    func fill(_ rt: Runtime, policy: String, depth: Int = 3) async throws {
        _ = try await rt.createAgent(id: "q", kind: "echo", config: .object(["inbox": .object(["max_depth": .int(depth), "overflow": .string(policy)])]))
        try await rt.ctl("q", "pause")
        for i in 0..<depth {
            #expect(try await rt.send("q", envelope(id: "m\(i)", from: "s", body: "\(i)"))["status"] == "queued")
        }
        #expect(try await rt.statusOf("q")["queue_depth"]?.intValue == depth)  // exactly at max_depth: all accepted
    }

    @Test func rejectRefusesWithQueueFullAndChangesNothing() async throws {
        try await withRuntime { rt in
            try await fill(rt, policy: "reject")
            do {
                try await rt.send("q", envelope(id: "over", from: "s", body: "x"))
                Issue.record("expected queue_full")
            } catch let e as FSError {
                #expect(e.code == .queueFull)
                #expect(e.retryAfter != nil)
            }
            #expect(try await rt.lines("q", "inbox").map { $0["id"]!.stringValue! } == ["m0", "m1", "m2"])
            // Not remembered as seen: the same id is accepted once there is room.
            try await rt.ctl("q", "resume")
            #expect(try await rt.drained("q"))
            #expect(try await rt.send("q", envelope(id: "over", from: "s", body: "x"))["status"] == "queued")
        }
    }

    @Test func dropOldestDropsCountsAndTraces() async throws {
        try await withRuntime { rt in
            try await fill(rt, policy: "drop_oldest")
            #expect(try await rt.send("q", envelope(id: "m3", from: "s", body: "3"))["status"] == "queued")
            #expect(try await rt.send("q", envelope(id: "m4", from: "s", body: "4"))["status"] == "queued")
            #expect(try await rt.lines("q", "inbox").map { $0["id"]!.stringValue! } == ["m2", "m3", "m4"])
            let status = try await rt.statusOf("q")
            #expect(status["dropped_count"]?.intValue == 2)
            #expect(status["queue_depth"]?.intValue == 3)
            let dropped = try await rt.lines("q", "logs/trace").filter { $0["type"] == "dropped" }.map { $0["id"]!.stringValue! }
            #expect(dropped == ["m0", "m1"])
        }
    }

    @Test func deadLetterIsTheDefaultAndKeepsTheEnvelope() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "q", kind: "echo", config: .object(["inbox": .object(["max_depth": 2])]))
            try await rt.ctl("q", "pause")
            for i in 0..<2 { try await rt.send("q", envelope(id: "m\(i)", from: "s", body: "\(i)")) }
            #expect(try await rt.send("q", envelope(id: "m2", from: "s", body: "2"))["status"] == "dead_lettered")
            let status = try await rt.statusOf("q")
            #expect(status["deadletter_count"]?.intValue == 1)
            #expect(status["queue_depth"]?.intValue == 2)
            let dead = try JSON(parsing: try await rt.op.readString("/agents/q/deadletter/m2"))
            #expect(dead["reason"] == "inbox_full")
            #expect(dead["envelope"]?["body"] == "2")
            #expect(try await rt.lines("q", "logs/trace").contains { $0["type"] == "dead_lettered" && $0["id"] == "m2" })
            // Still deduplicated.
            #expect(try await rt.send("q", envelope(id: "m2", from: "s", body: "2"))["status"] == "duplicate")
        }
    }

    @Test func deadLetterReplayAndDiscard() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "q", kind: "echo", config: .object(["inbox": .object(["max_depth": 1])]))
            try await rt.ctl("q", "pause")
            try await rt.send("q", envelope(id: "a", from: "s", body: "a"))
            try await rt.send("q", envelope(id: "b", from: "s", body: "b"))
            try await rt.send("q", envelope(id: "c", from: "s", body: "c"))
            #expect(try await rt.lines("q", "deadletter/list").map { $0["id"]!.stringValue! } == ["b", "c"])
            #expect(Set(try await rt.op.list("/agents/q/deadletter").map(\.name)) == ["b", "c", "count", "ctl", "list"])
            try await rt.op.write("/agents/q/deadletter/ctl", "replay b\n")
            try await rt.op.remove("/agents/q/deadletter/c")
            await expectCode(.notFound) { try await rt.op.write("/agents/q/deadletter/ctl", "discard zz\n") }
            await expectCode(.invalidInput) { try await rt.op.write("/agents/q/deadletter/ctl", "explode b\n") }
            #expect(try await rt.op.readString("/agents/q/deadletter/count") == "0\n")
            #expect(try await rt.lines("q", "inbox").map { $0["id"]!.stringValue! } == ["a", "b"])
            try await rt.ctl("q", "resume")
            #expect(try await rt.drained("q"))
            #expect(try await rt.lines("q", "outbox").map { $0["in_reply_to"]!.stringValue! } == ["a", "b"])
        }
    }
}

@Suite struct EnvelopeIDTests {
    @Test func generatedIDsAreUniqueTimeOrderedAndWellFormed() {
        let now: Int64 = 1_790_000_000_000
        let ids = (0..<200_000).map { i in EnvelopeParser.generatedID(now + Int64(i / 1000)) }
        #expect(Set(ids).count == ids.count)
        #expect(ids.allSatisfy { AgentID.isValid($0) && $0.count == 1 + 11 + 1 + 16 })
        #expect(ids.first!.hasPrefix("m" + String(UInt64(now), radix: 16) + "-"))
        #expect(ids.last! > ids.first!)  // the millisecond prefix orders them across milliseconds
    }

    @Test func aResentEnvelopeIsADuplicateAndARefusedOneIsNotRemembered() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "d", kind: "echo", config: .object(["inbox": .object(["max_depth": 1, "overflow": "reject"])]))
            try await rt.ctl("d", "pause")
            #expect(try await rt.send("d", envelope(id: "a", from: "s", body: "1"))["status"] == "queued")
            #expect(try await rt.send("d", envelope(id: "a", from: "s", body: "1"))["status"] == "duplicate")
            await expectCode(.queueFull) { _ = try await rt.send("d", envelope(id: "b", from: "s", body: "2")) }
            try await rt.ctl("d", "resume")
            #expect(try await rt.drained("d"))
            #expect(try await rt.send("d", envelope(id: "b", from: "s", body: "2"))["status"] == "queued")
            #expect(try await rt.send("d", envelope(id: "a", from: "s", body: "1"))["status"] == "duplicate")
        }
    }
}

/// The dedup window forgets old ids, but never one that is still pending or dead-lettered: a
/// retry of it would put the same id in the inbox twice (and an export could not be imported).
@Suite struct SeenWindowTests {
    @Test func idsStillPendingOutliveTheWindow() async throws {
        var options = SQLiteStore.Options()
        options.seenWindowMs = 0  // everything older than now is out of the window
        try await TestRuntime.with(options: options) { rt in
            _ = try await rt.createAgent(id: "w", kind: "echo", config: .object(["inbox": .object(["max_depth": 10_000])]))
            try await rt.ctl("w", "pause")
            try await rt.send("w", envelope(id: "first", from: "s", body: "kept"))
            try await Task.sleep(for: .milliseconds(5))
            // Past 512 remembered ids the window is pruned at least once.
            for i in 0..<600 { try await rt.send("w", envelope(id: "n\(i)", from: "s", body: "x")) }
            #expect(try await rt.send("w", envelope(id: "first", from: "s", body: "again"))["status"] == "duplicate")
            #expect(try await rt.statusOf("w")["queue_depth"] == 601)
        }
    }
}
