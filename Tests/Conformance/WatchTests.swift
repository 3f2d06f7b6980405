import AgentNSTesting
import Foundation
import Namespace
import Runtime
import Testing

@Suite struct WatchTests {
    @Test func traceWatchDeliversEveryRecordInOrderAndResumes() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "w", kind: "echo")
            let stream = try await rt.op.watch("/agents/w/logs/trace", after: nil)
            for i in 0..<10 { try await rt.send("w", "m\(i)") }
            var got: [FeedRecord] = []
            for try await r in stream {
                got.append(r)
                if r.data.contains("\"tick_end\"") && got.filter({ $0.data.contains("tick_end") }).count == 10 { break }
            }
            #expect(zip(got, got.dropFirst()).allSatisfy { $0.id < $1.id })
            // Exactly the lines of the file, in the same order.
            let file = try await rt.op.readString("/agents/w/logs/trace").split(separator: "\n").map(String.init)
            #expect(Array(file.suffix(got.count)) == got.map(\.data))
            // Resume after the fifth record: exactly the records after it.
            let resumed = try await rt.op.watch("/agents/w/logs/trace", after: got[4].id)
            var again: [FeedRecord] = []
            for try await r in resumed {
                again.append(r)
                if again.count == got.count - 5 { break }
            }
            #expect(again == Array(got.dropFirst(5)))
        }
    }

    @Test func aResumeIDThatFellOutOfRetentionGetsReset() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "w", kind: "echo")
            try await rt.ctl("w", "pause")
            for i in 0..<600 { try await rt.ctl("w", i % 2 == 0 ? "pause" : "resume") }  // 600 state_change records
            let first = try await rt.lines("w", "logs/trace").count
            #expect(first > 500)
            // Fill past the feed's ring (1024) so the earliest records are gone from it.
            for i in 0..<600 { try await rt.ctl("w", i % 2 == 0 ? "resume" : "pause") }
            let stream = try await rt.op.watch("/agents/w/logs/trace", after: 1)
            for try await r in stream {
                #expect(r.event == FeedRecord.resetEvent)
                break
            }
        }
    }

    @Test func inboxAndStatusAndGoalsAreWatchable() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "w", kind: "echo")
            try await rt.ctl("w", "pause")
            let inbox = try await rt.op.watch("/agents/w/inbox", after: nil)
            let status = try await rt.op.watch("/agents/w/status", after: nil)
            let goals = try await rt.op.watch("/agents/w/goals", after: nil)
            try await rt.send("w", envelope(id: "i1", from: "s", body: "x"))
            try await rt.op.write("/agents/w/goals/g.json", "{}")
            try await rt.op.remove("/agents/w/goals/g.json")
            var it = inbox.makeAsyncIterator()
            #expect(try JSON(parsing: try await it.next()!.data)["id"] == "i1")
            var st = status.makeAsyncIterator()
            let modified = try await st.next()!
            #expect(modified.event == "modified")
            #expect(try JSON(parsing: modified.data)["queue_depth"] == 1)
            var gi = goals.makeAsyncIterator()
            let created = try await gi.next()!, deleted = try await gi.next()!
            #expect([created.event, created.data, deleted.event, deleted.data] == ["created", "g.json", "deleted", "g.json"])
        }
    }
}
