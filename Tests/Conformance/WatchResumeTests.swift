import AgentNSTesting
import Foundation
import Namespace
import Runtime
import RuntimeSQLite
import Synchronization
import Testing

/// Resuming with Last-Event-ID on every kind of feed, events that used to be missing (dead
/// letters from retries, replays, deleted agents), and the feeds' memory bounds.
@Suite struct WatchResumeTests {
    /// The first record a watch resuming after `after` gets (waiting up to 5 s), after `then` runs.
    func first(_ rt: Runtime, _ path: String, after: UInt64?, then: () async throws -> Void = {}) async throws -> FeedRecord? {
        let w = try await Seen.follow(rt, path, after: after)
        try await then()
        _ = await TestRuntime.eventually(5) { w.count > 0 }
        w.stop()
        // The watcher is gone once its subscription is: only then is the feed unwatched (a
        // hibernation right after would otherwise keep it, and the test would race).
        _ = await TestRuntime.eventually(5) { rt.feeds.subscriberCount == 0 }
        return w.all.first
    }

    // MARK: - Item 5: cursors from another incarnation, or from the future, get reset

    @Test func aDocumentCursorFromBeforeHibernationGetsReset() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "s", kind: "echo")
            let r = try await first(rt, "/agents/s/status", after: nil) { try await rt.ctl("s", "pause") }
            let cursor = try #require(r?.id)
            try await rt.ctl("s", "hibernate")  // nobody watches: the status feed is dropped
            let again = try await first(rt, "/agents/s/status", after: cursor) { try await rt.ctl("s", "pause") }
            #expect(again?.event == FeedRecord.resetEvent)
        }
    }

    @Test func documentAndDirectoryCursorsFromBeforeARestartGetReset() async throws {
        let path = try TestRuntime.temporaryDirectory() + "/agentd.sqlite"
        var cursors: [String: UInt64] = [:]
        let docs = ["status", "config", "state", "goals", "deadletter"]
        try await withRuntime(databasePath: path) { rt in
            _ = try await rt.createAgent(id: "s", kind: "faulty", config: cfg(#"{"inbox": {"max_depth": 1, "overflow": "dead_letter"}}"#))
            try await rt.ctl("s", "pause")
            for d in docs {
                let r = try await first(rt, "/agents/s/\(d)", after: nil) {
                    try await rt.op.write("/agents/s/config", "{\"n\": 1}")
                    try await rt.op.write("/agents/s/goals/g.json", "{}")
                    try await rt.send("s", envelope(id: "a-\(d)", from: "x", body: "x"))
                    try await rt.send("s", envelope(id: "b-\(d)", from: "x", body: "x"))
                    try await rt.ctl("s", "tick")
                }
                cursors[d] = try #require(r?.id, "\(d) sent nothing")
            }
        }
        try await withRuntime(databasePath: path) { rt in
            for d in docs {
                let r = try await first(rt, "/agents/s/\(d)", after: cursors[d]) {
                    try await rt.op.write("/agents/s/config", "{\"n\": 2}")
                    try await rt.op.write("/agents/s/goals/g.json", "{\"v\": 2}")
                    try await rt.ctl("s", "tick")
                }
                #expect(r?.event == FeedRecord.resetEvent, "\(d): \(String(describing: r))")
            }
        }
    }

    @Test func aCursorFromADeletedAndRecreatedAgentGetsReset() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "r", kind: "echo")
            let r = try await first(rt, "/agents/r/status", after: nil) { try await rt.ctl("r", "pause") }
            try await rt.op.remove("/agents/r")
            _ = try await rt.createAgent(id: "r", kind: "echo")
            let again = try await first(rt, "/agents/r/status", after: try #require(r?.id)) { try await rt.ctl("r", "pause") }
            #expect(again?.event == FeedRecord.resetEvent)
        }
    }

    @Test func aCursorNewerThanAnythingPublishedGetsResetOnEveryFeed() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "f", kind: "echo")
            for file in ["status", "config", "state", "goals", "deadletter", "inbox", "outbox", "logs/trace", "logs/trajectory"] {
                let r = try await first(rt, "/agents/f/\(file)", after: UInt64(1) << 60)
                #expect(r?.event == FeedRecord.resetEvent, "\(file): \(String(describing: r))")
            }
        }
    }

    @Test func theInboxFeedHoldsTheNewestPendingEnvelopes() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "i", kind: "echo", config: cfg(#"{"inbox": {"max_depth": 10000}}"#))
            try await rt.ctl("i", "pause")
            for n in 0..<1100 { try await rt.send("i", envelope(id: "e\(n)", from: "x", body: "x")) }
            let file = try await rt.op.readString("/agents/i/inbox").split(separator: "\n").map(String.init)
            // From the start: the oldest are no longer in the feed, so a reset, then the newest 1,024.
            let all = try await Seen.follow(rt, "/agents/i/inbox", after: 0)
            _ = await TestRuntime.eventually { all.count >= 1025 }
            all.stop()
            let got = all.all
            #expect(got.first?.event == FeedRecord.resetEvent)
            #expect(got.dropFirst().map(\.data) == Array(file.suffix(1024)))
            // Resume after the 1,050th: exactly the 50 after it.
            let cursor = got[got.count - 51].id
            let rest = try await Seen.follow(rt, "/agents/i/inbox", after: cursor)
            _ = await TestRuntime.eventually { rest.count >= 50 }
            try await Task.sleep(for: .milliseconds(50))
            rest.stop()
            #expect(rest.all.map(\.data) == Array(file.suffix(50)))
        }
    }

    // MARK: - Item 11: events that were never sent

    @Test func deadLettersFromExhaustedRetriesAreWatched() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "x", kind: "faulty", config: cfg(#"{"retry": {"max_attempts": 1}}"#))
            let r = try await first(rt, "/agents/x/deadletter", after: nil) { try await rt.send("x", envelope(id: "doomed", from: "s", body: "fail")) }
            #expect(r?.event == "created")
            #expect(r?.data == "doomed")
        }
    }

    @Test func replayedEnvelopesReachInboxWatchers() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "y", kind: "echo", config: cfg(#"{"inbox": {"max_depth": 1, "overflow": "dead_letter"}}"#))
            try await rt.ctl("y", "pause")
            try await rt.send("y", envelope(id: "first", from: "s", body: "x"))
            try await rt.send("y", envelope(id: "second", from: "s", body: "x"))
            let r = try await first(rt, "/agents/y/inbox", after: nil) { try await rt.op.write("/agents/y/deadletter/ctl", "replay second") }
            #expect(try r.map { try JSON(parsing: $0.data)["id"] } == "second")
        }
    }

    @Test func deletingAnAgentEndsEveryStreamOfIt() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "z", kind: "echo")
            let files = ["status", "config", "state", "goals", "deadletter", "inbox", "outbox", "logs/trace", "logs/trajectory"]
            var watchers: [Seen] = []
            for f in files { watchers.append(try await Seen.follow(rt, "/agents/z/\(f)")) }
            try await rt.op.remove("/agents/z")
            for (f, w) in zip(files, watchers) {
                #expect(await w.finished(), "\(f): the stream did not end")
                #expect(w.all.last?.event == FeedRecord.endEvent, "\(f): \(w.all.map(\.event))")
            }
            // The id again: new feeds, and the old streams stay ended.
            _ = try await rt.createAgent(id: "z", kind: "echo")
            let r = try await first(rt, "/agents/z/logs/trace", after: nil) { try await rt.ctl("z", "pause") }
            #expect(r?.event == "record")
        }
    }

    @Test func aWatchRacingHibernationIsNeverLeftOnADroppedFeed() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "h", kind: "echo", config: cfg(#"{"inbox": {"max_depth": 10000}}"#))
            for round in 0..<100 {
                try await rt.ctl("h", "pause")
                async let watcher = Seen.follow(rt, "/agents/h/inbox")
                async let hibernated: Void = rt.ctl("h", "hibernate")
                let (w, _) = try await (watcher, hibernated)
                try await rt.send("h", envelope(id: "r\(round)", from: "s", body: "x"))
                let got = await TestRuntime.eventually(5) { w.count > 0 }
                w.stop()
                #expect(got, "round \(round): the watcher got nothing")
                if !got { break }
            }
        }
    }

    // MARK: - Item 19: memory bounded in bytes

    @Test func largeRecordsStayWithinTheByteBoundAndSlowWatchersGetReset() async throws {
        let path = try TestRuntime.temporaryDirectory() + "/agentd.sqlite"
        let store = try SQLiteStore(path: path)
        let hub = FeedHub(maxBytes: 1 << 20, maxIdleBytes: 2 << 20, maxIdleFeeds: 8)
        let rt = Runtime(store: store, kinds: .testing, feeds: hub)
        defer { Task { await store.close() } }
        let big = String(repeating: "x", count: 200_000)
        for a in 0..<6 {
            _ = try await rt.createAgent(id: "b\(a)", kind: "echo", config: cfg(#"{"inbox": {"max_depth": 10000}}"#))
            try await rt.ctl("b\(a)", "pause")
        }
        // A watcher that does not read while 20 large envelopes arrive.
        let slow = try await rt.op.watch("/agents/b0/inbox", after: nil)
        for n in 0..<20 { try await rt.send("b0", envelope(id: "n\(n)", from: "s", body: big)) }
        #expect(hub.retainedBytes <= 1 << 20)
        var it = slow.makeAsyncIterator()
        #expect(try await it.next()?.event == FeedRecord.resetEvent)
        // Unwatched feeds together stay under the idle bound once a new feed is made.
        for a in 1..<6 {
            let w = try await Seen.follow(rt, "/agents/b\(a)/inbox")
            for n in 0..<6 { try await rt.send("b\(a)", envelope(id: "n\(n)", from: "s", body: big)) }
            w.stop()
            try await Task.sleep(for: .milliseconds(20))
        }
        _ = try await Seen.follow(rt, "/agents/b0/status")
        #expect(hub.retainedBytes <= (1 << 20) + (2 << 20), "\(hub.retainedBytes) bytes retained")
    }
}
