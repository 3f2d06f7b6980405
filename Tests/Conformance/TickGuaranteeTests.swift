import AgentNSTesting
import Foundation
import Namespace
import Runtime
import RuntimeSQLite
import Services
import Testing

@Suite struct TickGuaranteeTests {
    @Test func atMostOneTickPerAgentUnderConcurrentTriggers() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "single", kind: "probe", config: .object(["tick": .object(["max_batch": 1])]))
            // Messages, manual ticks and wake-ups all at once.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<60 { group.addTask { try await rt.send("single", "m\(i)") } }
                for _ in 0..<20 { group.addTask { try await rt.ctl("single", "tick") } }
                for _ in 0..<5 { group.addTask { try await rt.ctl("single", "wake") } }
                try await group.waitForAll()
            }
            #expect(try await rt.drained("single"))
            #expect(ProbeKind.maxConcurrent("single") == 1)
            let status = try await rt.statusOf("single")
            let trajectory = try await rt.lines("single", "logs/trajectory")
            #expect(Int(status["tick_count"]!.intValue!) == trajectory.count)
            // SPEC's trajectory line: id (the tick's number, 1, 2, ... in order), cause, envelope ids, duration, outcome.
            #expect(trajectory.map { $0["id"]?.intValue ?? -1 } == Array(1...trajectory.count))
            #expect(trajectory.allSatisfy { $0["cause"] != nil && $0["envelopes"]?.arrayValue != nil && $0["duration_ms"] != nil && $0["outcome"] != nil })
            #expect(try await rt.stateOf("single")["seen"]?.arrayValue?.count == 60)
        }
    }

    /// A send to a paused agent asks for no tick (judged by the lifecycle its own commit saw, so
    /// a resume that commits later asks instead); sends around a resume all get processed.
    /// The narrow interleaving (a send that read "active" committing after the resume's tick
    /// read the inbox) is argued in `Runtime.send`, not forced here.
    @Test func pausedAgentsQueueAndAResumeAmidSendsDrainsThem() async throws {
        try await withRuntime { rt in
            for round in 0..<10 {
                let id = "p\(round)"
                _ = try await rt.createAgent(id: id, kind: "echo")
                try await rt.ctl(id, "pause")
                try await withThrowingTaskGroup(of: Void.self) { group in
                    for i in 0..<40 { group.addTask { try await rt.send(id, "m\(i)") } }
                    group.addTask {
                        try await Task.sleep(for: .microseconds(round * 500))
                        try await rt.ctl(id, "resume")
                    }
                    try await group.waitForAll()
                }
                #expect(try await rt.drained(id, seconds: 60), "round \(round): envelopes left in a resumed agent's inbox")
                #expect(try await rt.lines(id, "outbox").count == 40)
            }
            // And while paused nothing ticks.
            _ = try await rt.createAgent(id: "still", kind: "echo")
            try await rt.ctl("still", "pause")
            for i in 0..<10 { try await rt.send("still", "m\(i)") }
            try await Task.sleep(for: .milliseconds(200))
            #expect(try await rt.statusOf("still")["tick_count"]?.intValue == 0)
            #expect(try await rt.statusOf("still")["queue_depth"]?.intValue == 10)
        }
    }

    @Test func aTickThatThrowsCommitsNothing() async throws {
        let clock = ManualClock()
        try await withRuntime(clock: clock) { rt in
            _ = try await rt.createAgent(id: "f", kind: "faulty", config: .object(["retry": .object(["max_attempts": 5])]))
            try await rt.ctl("f", "pause")
            try await rt.send("f", "ok")
            try await rt.ctl("f", "tick")  // succeeds: this is the "before" picture
            let before = (try await rt.stateOf("f"), try await rt.op.readString("/agents/f/outbox"),
                          try await rt.op.list("/agents/f/goals").map(\.name), try await rt.statusOf("f")["queue_depth"])
            try await rt.send("f", "fail")
            try await rt.ctl("f", "tick")
            #expect(try await rt.stateOf("f") == before.0)
            #expect(try await rt.op.readString("/agents/f/outbox") == before.1)
            #expect(try await rt.op.list("/agents/f/goals").map(\.name) == before.2)
            let status = try await rt.statusOf("f")
            #expect(status["queue_depth"]?.intValue == 1)  // the envelope stays
            let pending = try await rt.lines("f", "inbox")
            #expect(pending.count == 1)
            #expect(pending[0]["body"]?.stringValue == "fail")
            #expect(pending[0]["attempts"]?.intValue == 1)
            #expect(pending[0]["last_error"]?.stringValue?.contains("boom") == true)
            let last = try await rt.lines("f", "logs/trajectory").last!
            #expect(last["outcome"]?.stringValue == "error")
            #expect(try await rt.lines("f", "logs/trace").contains { $0["type"]?.stringValue == "error" })
        }
    }

    @Test func failingEnvelopesRetryWithBackoffThenDeadLetter() async throws {
        let clock = ManualClock()
        try await withRuntime(clock: clock) { rt in
            _ = try await rt.createAgent(id: "f", kind: "faulty",
                                         config: .object(["retry": .object(["max_attempts": 3, "backoff_ms": 1000])]))
            try await rt.send("f", envelope(id: "bad", from: "s", body: "fail"))
            try await rt.send("f", envelope(id: "good", from: "s", body: "fine"))
            // Attempt 1 runs on arrival; the head of line then backs off and holds "good" back.
            #expect(try await TestRuntime.eventually { try await rt.lines("f", "inbox").first?["attempts"]?.intValue == 1 })
            #expect(try await rt.op.readString("/agents/f/outbox").isEmpty)
            for attempt in 2...3 {
                clock.advance(by: 1000 << (attempt - 2))
                if attempt < 3 {
                    #expect(try await TestRuntime.eventually { try await rt.lines("f", "inbox").first?["attempts"]?.intValue == attempt })
                }
            }
            #expect(try await TestRuntime.eventually { try await rt.statusOf("f")["deadletter_count"]?.intValue == 1 })
            #expect(try await rt.drained("f"))
            let dead = try JSON(parsing: try await rt.op.readString("/agents/f/deadletter/bad"))
            #expect(dead["reason"]?.stringValue?.contains("failed 3 times") == true)
            #expect(try await rt.op.readString("/agents/f/deadletter/count") == "1\n")
            // "good" went through after the poison envelope left the line.
            let outbox = try await rt.lines("f", "outbox")
            #expect(outbox.map { $0["echo"]?.stringValue } == ["fine"])
        }
    }

    @Test func duplicateIDsAreAcknowledgedNotEnqueued() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "e", kind: "echo")
            try await rt.ctl("e", "pause")
            let first = try await rt.send("e", envelope(id: "x1", from: "s", body: "once"))
            let again = try await rt.send("e", envelope(id: "x1", from: "s", body: "once"))
            #expect(first["status"]?.stringValue == "queued")
            #expect(again["status"]?.stringValue == "duplicate")
            #expect(again["id"]?.stringValue == "x1")
            #expect(try await rt.statusOf("e")["queue_depth"]?.intValue == 1)
            try await rt.ctl("e", "resume")
            #expect(try await rt.drained("e"))
            // After processing, a retry is still recognised.
            #expect(try await rt.send("e", envelope(id: "x1", from: "s", body: "once"))["status"]?.stringValue == "duplicate")
            #expect(try await rt.lines("e", "outbox").count == 1)
        }
    }

    @Test func envelopesFromOneSenderAreProcessedInAcceptanceOrder() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "order", kind: "probe", config: .object(["tick": .object(["max_batch": 3])]))
            let senders = 8, perSender = 40
            try await withThrowingTaskGroup(of: Void.self) { group in
                for s in 0..<senders {
                    group.addTask {
                        for i in 0..<perSender {
                            try await rt.send("order", envelope(id: "s\(s)-\(i)", from: "sender\(s)", body: "\(i)"))
                        }
                    }
                }
                try await group.waitForAll()
            }
            #expect(try await rt.drained("order", seconds: 60))
            let seen = try await rt.stateOf("order")["seen"]!.arrayValue!
            #expect(seen.count == senders * perSender)
            for s in 0..<senders {
                let bodies = seen.filter { $0["from"]?.stringValue == "sender\(s)" }.compactMap { Int($0["body"]!.stringValue!) }
                #expect(bodies == Array(0..<perSender), "sender\(s)")
            }
        }
    }

    @Test func plainTextAndJSONEnvelopes() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "e", kind: "echo")
            try await rt.ctl("e", "pause")
            try await rt.send("e", "hello\n")
            try await rt.send("e", #"{"body":{"k":1},"kind":"task","id":"t1"}"#)
            try await rt.send("e", #"{"no":"body"}"#)
            let pending = try await rt.lines("e", "inbox")
            #expect(pending[0]["body"] == "hello")
            #expect(pending[0]["from"] == "operator")
            #expect(pending[1]["body"] == .object(["k": 1]))
            #expect(pending[1]["kind"] == "task")
            #expect(pending[1]["id"] == "t1")
            #expect(pending[2]["body"] == #"{"no":"body"}"#)
            await expectCode(.invalidInput) { try await rt.send("e", #"{"body":1,"id":"../x"}"#) }
            await expectCode(.invalidInput) { _ = try await rt.op.write("/agents/e/inbox", Data([0xff, 0xfe]), mode: .append) }
            #expect(try await rt.lines("e", "inbox").count == 3)
        }
    }
}
