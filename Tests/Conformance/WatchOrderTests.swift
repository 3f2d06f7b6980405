import AgentNSTesting
import Foundation
import Namespace
import Runtime
import Synchronization
import Testing

/// What one watcher received, filled by its own task until it is stopped.
final class Seen: Sendable {
    let records = Mutex<[FeedRecord]>([])
    let task = Mutex<Task<Void, Never>?>(nil)
    var all: [FeedRecord] { records.withLock { $0 } }
    var count: Int { records.withLock { $0.count } }

    /// Subscribes now (the subscription exists when this returns) and collects in the background.
    static func follow(_ rt: Runtime, _ path: String, after: UInt64? = nil) async throws -> Seen {
        let seen = Seen()
        let stream = try await rt.op.watch(path, after: after)
        seen.task.withLock {
            $0 = Task {
                do { for try await r in stream { seen.records.withLock { $0.append(r) } } } catch {}
            }
        }
        return seen
    }

    static func follow(_ rt: Runtime, _ path: String, watchers: Int) async throws -> [Seen] {
        var out: [Seen] = []
        for _ in 0..<watchers { out.append(try await follow(rt, path)) }
        return out
    }

    func stop() { task.withLock { $0?.cancel() } }

    /// Waits for the stream to finish on its own (an `end` event).
    func finished(seconds: Double = 5) async -> Bool {
        guard let t = task.withLock({ $0 }) else { return true }
        return await withTaskGroup(of: Bool.self) { group in
            group.addTask { await t.value; return true }
            group.addTask { try? await Task.sleep(for: .seconds(seconds)); return false }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
    }
}

func cfg(_ text: String) -> JSON { (try? JSON(parsing: text)) ?? .object([:]) }

/// Waits until every watcher has at least `count` records, then stops them.
func settle(_ watchers: [Seen], count: Int, seconds: Double = 20) async throws {
    _ = await TestRuntime.eventually(seconds) { watchers.allSatisfy { $0.count >= count } }
    try await Task.sleep(for: .milliseconds(100))  // anything extra (a duplicate) arrives too
    for w in watchers { w.stop() }
}

/// Every watcher saw exactly `expected` (data, in order) with rising ids and no reset.
func expectExactly(_ watchers: [Seen], _ expected: [String], _ what: String, sourceLocation: SourceLocation = #_sourceLocation) {
    for (i, w) in watchers.enumerated() {
        let got = w.all
        #expect(got.count == expected.count, "\(what) watcher \(i): \(got.count) records, expected \(expected.count)", sourceLocation: sourceLocation)
        #expect(!got.contains { $0.event == FeedRecord.resetEvent }, "\(what) watcher \(i) got a reset", sourceLocation: sourceLocation)
        #expect(zip(got, got.dropFirst()).allSatisfy { $0.id < $1.id }, "\(what) watcher \(i): ids not rising", sourceLocation: sourceLocation)
        if got.map(\.data) != expected {
            let firstDiff = zip(got.map(\.data), expected).enumerated().first { $0.element.0 != $0.element.1 }?.offset ?? min(got.count, expected.count)
            Issue.record("\(what) watcher \(i): records differ from the file at \(firstDiff)", sourceLocation: sourceLocation)
        }
    }
}

/// N writers × M watchers on every feed kind, in process over a real SQLite file: each watcher
/// gets every committed record exactly once, in commit (id) order, with no reset; documents'
/// `modified` events never go backwards and the last one is the file's content.
@Suite(.serialized) struct WatchOrderTests {
    static let writers = 16
    static let watchers = 4

    @Test func inboxUnderConcurrentSends() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "p", kind: "echo", config: cfg(#"{"inbox": {"max_depth": 100000}}"#))
            try await rt.ctl("p", "pause")
            let seen = try await Seen.follow(rt, "/agents/p/inbox", watchers: Self.watchers)
            let status = try await Seen.follow(rt, "/agents/p/status", watchers: Self.watchers)
            let perWriter = 100
            try await withThrowingTaskGroup(of: Void.self) { group in
                for w in 0..<Self.writers {
                    group.addTask { for i in 0..<perWriter { try await rt.send("p", envelope(id: "w\(w)-\(i)", from: "s\(w)", body: "x")) } }
                }
                try await group.waitForAll()
            }
            let file = try await rt.op.readString("/agents/p/inbox").split(separator: "\n").map(String.init)
            #expect(file.count == Self.writers * perWriter)
            try await settle(seen, count: file.count)
            expectExactly(seen, file, "inbox")
            // status: queue_depth never goes back, and the last modified is the file.
            let now = try await rt.op.readString("/agents/p/status").trimmingCharacters(in: .newlines)
            _ = await TestRuntime.eventually { status.allSatisfy { $0.all.last?.data == now } }
            for w in status { w.stop() }
            for (i, w) in status.enumerated() {
                #expect(w.all.last?.data == now, "status watcher \(i): the last modified is not the file")
                let depths = try w.all.map { try JSON(parsing: $0.data)["queue_depth"]?.intValue ?? -1 }
                #expect(zip(depths, depths.dropFirst()).allSatisfy { $0 < $1 }, "status watcher \(i): queue_depth went back or repeated")
            }
        }
    }

    @Test func traceAndConfigUnderConcurrentPatches() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "c", kind: "echo")
            let before = try await rt.lines("c", "logs/trace").count
            let trace = try await Seen.follow(rt, "/agents/c/logs/trace", watchers: Self.watchers)
            let config = try await Seen.follow(rt, "/agents/c/config", watchers: Self.watchers)
            let perWriter = 40
            try await withThrowingTaskGroup(of: Void.self) { group in
                for w in 0..<Self.writers {
                    group.addTask { for i in 1...perWriter { try await rt.op.write("/agents/c/config", "{\"w\(w)\": \(i)}") } }
                }
                try await group.waitForAll()
            }
            let file = try await rt.op.readString("/agents/c/logs/trace").split(separator: "\n").map(String.init)
            let expected = Array(file.dropFirst(before))
            #expect(expected.count == Self.writers * perWriter)
            try await settle(trace, count: expected.count)
            expectExactly(trace, expected, "trace")

            // config: the last event is the file, ids rise, no content twice in a row, and each
            // writer's key only rises (merge-patches are merged in their transaction: none is lost).
            let current = try await rt.op.readString("/agents/c/config").trimmingCharacters(in: .newlines)
            let final = try JSON(parsing: current)
            #expect((0..<Self.writers).allSatisfy { final["w\($0)"]?.intValue == perWriter }, "a writer's last patch was lost: \(current)")
            _ = await TestRuntime.eventually { config.allSatisfy { $0.all.last?.data == current } }
            for w in config { w.stop() }
            for (i, w) in config.enumerated() {
                let got = w.all
                #expect(got.last?.data == current, "config watcher \(i): last modified is not the file")
                #expect(got.allSatisfy { $0.event == "modified" })
                #expect(zip(got, got.dropFirst()).allSatisfy { $0.id < $1.id && $0.data != $1.data })
                for writer in 0..<Self.writers {
                    let values = got.compactMap { try? JSON(parsing: $0.data)["w\(writer)"]?.intValue }
                    #expect(zip(values, values.dropFirst()).allSatisfy { $0 <= $1 }, "config watcher \(i): w\(writer) went back")
                }
            }
        }
    }

    @Test func outboxTrajectoryTraceStatusAndStateUnderConcurrentSends() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "e", kind: "faulty", config: cfg(#"{"inbox": {"max_depth": 100000}}"#))
            let files = ["outbox", "logs/trace", "logs/trajectory"]
            var before: [String: Int] = [:]
            for f in files { before[f] = try await rt.lines("e", f).count }
            var logs: [String: [Seen]] = [:]
            for f in files { logs[f] = try await Seen.follow(rt, "/agents/e/\(f)", watchers: Self.watchers) }
            let status = try await Seen.follow(rt, "/agents/e/status", watchers: Self.watchers)
            let state = try await Seen.follow(rt, "/agents/e/state", watchers: Self.watchers)
            let goals = try await Seen.follow(rt, "/agents/e/goals", watchers: 1)
            let perWriter = 25
            try await withThrowingTaskGroup(of: Void.self) { group in
                for w in 0..<Self.writers {
                    group.addTask { for i in 0..<perWriter { try await rt.send("e", envelope(id: "w\(w)-\(i)", from: "s\(w)", body: "m")) } }
                }
                try await group.waitForAll()
            }
            #expect(try await rt.drained("e", seconds: 60))
            _ = await TestRuntime.eventually { (try? await rt.lines("e", "outbox").count) == Self.writers * perWriter }
            for f in files {
                let file = try await rt.op.readString("/agents/e/\(f)").split(separator: "\n").map(String.init)
                let expected = Array(file.dropFirst(before[f]!))
                try await settle(logs[f]!, count: expected.count)
                expectExactly(logs[f]!, expected, f)
            }
            // Documents: never backwards, and the last modified is the file.
            let statusNow = try await rt.op.readString("/agents/e/status").trimmingCharacters(in: .newlines)
            let stateNow = try await rt.op.readString("/agents/e/state").trimmingCharacters(in: .newlines)
            _ = await TestRuntime.eventually { status.allSatisfy { $0.all.last?.data == statusNow } && state.allSatisfy { $0.all.last?.data == stateNow } }
            for w in status + state + goals { w.stop() }
            for w in status {
                #expect(w.all.last?.data == statusNow)
                let ticks = try w.all.map { try JSON(parsing: $0.data)["tick_count"]?.intValue ?? -1 }
                #expect(zip(ticks, ticks.dropFirst()).allSatisfy { $0 <= $1 }, "status tick_count went backwards")
            }
            for w in state {
                #expect(w.all.last?.data == stateNow)
                let ticks = try w.all.map { try JSON(parsing: $0.data)["ticks"]?.intValue ?? -1 }
                #expect(zip(ticks, ticks.dropFirst()).allSatisfy { $0 < $1 }, "state went backwards or repeated")
            }
            // One goal event per tick ("from-tick" is put by every tick): created, then modified.
            let tickCount = try await rt.statusOf("e")["tick_count"]?.intValue ?? 0
            #expect(goals[0].all.map(\.event) == ["created"] + Array(repeating: "modified", count: max(0, tickCount - 1)))
        }
    }

    @Test func goalsUnderConcurrentPutsAndRemoves() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "g", kind: "echo")
            let seen = try await Seen.follow(rt, "/agents/g/goals", watchers: Self.watchers)
            let perWriter = 30
            // Writer w works on its own goal: put, put, remove, put, put, remove, ...
            func op(_ i: Int) -> String { i % 3 == 2 ? "deleted" : (i % 3 == 0 ? "created" : "modified") }
            try await withThrowingTaskGroup(of: Void.self) { group in
                for w in 0..<Self.writers {
                    group.addTask {
                        for i in 0..<perWriter {
                            if i % 3 == 2 { try await rt.op.remove("/agents/g/goals/w\(w).json") }
                            else { try await rt.op.write("/agents/g/goals/w\(w).json", "{\"i\": \(i)}") }
                        }
                    }
                }
                try await group.waitForAll()
            }
            try await settle(seen, count: Self.writers * perWriter)
            for (n, s) in seen.enumerated() {
                let got = s.all
                #expect(got.count == Self.writers * perWriter, "goals watcher \(n): \(got.count)")
                #expect(zip(got, got.dropFirst()).allSatisfy { $0.id < $1.id })
                for w in 0..<Self.writers {
                    let mine = got.filter { $0.data == "w\(w).json" }.map(\.event)
                    #expect(mine == (0..<perWriter).map(op), "goals watcher \(n), goal w\(w): \(mine)")
                }
            }
        }
    }

    @Test func deadlettersUnderConcurrentSendsAndDiscards() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "d", kind: "echo", config: cfg(#"{"inbox": {"max_depth": 1, "overflow": "dead_letter"}}"#))
            try await rt.ctl("d", "pause")
            let seen = try await Seen.follow(rt, "/agents/d/deadletter", watchers: Self.watchers)
            let perWriter = 20
            let ids = try await withThrowingTaskGroup(of: [String].self) { group in
                for w in 0..<Self.writers {
                    group.addTask {
                        var dead: [String] = []
                        for i in 0..<perWriter {
                            let receipt = try await rt.send("d", envelope(id: "w\(w)-\(i)", from: "s", body: "x"))
                            if receipt["status"]?.stringValue == "dead_lettered" { dead.append("w\(w)-\(i)") }
                        }
                        return dead
                    }
                }
                return try await group.reduce(into: [String]()) { $0 += $1 }
            }
            #expect(ids.count == Self.writers * perWriter - 1)
            try await withThrowingTaskGroup(of: Void.self) { group in
                for w in 0..<Self.writers {
                    group.addTask { for id in ids where id.hasPrefix("w\(w)-") { try await rt.op.remove("/agents/d/deadletter/\(id)") } }
                }
                try await group.waitForAll()
            }
            try await settle(seen, count: 2 * ids.count)
            for (n, s) in seen.enumerated() {
                let got = s.all
                #expect(got.count == 2 * ids.count, "deadletter watcher \(n): \(got.count)")
                #expect(zip(got, got.dropFirst()).allSatisfy { $0.id < $1.id })
                #expect(Set(got.filter { $0.event == "created" }.map(\.data)) == Set(ids))
                for id in ids { #expect(got.filter { $0.data == id }.map(\.event) == ["created", "deleted"]) }
            }
        }
    }
}
