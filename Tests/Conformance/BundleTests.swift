import AgentNSTesting
import Foundation
import Namespace
import Runtime
import Testing

/// `agentctl export` / `import`: an agent moves between runtimes as data.
@Suite struct BundleTests {
    /// An agent with something in every part of a bundle: state, goals, an alarm, pending
    /// envelopes (paused), a dead letter, logs.
    func populate(_ rt: Runtime, _ id: String) async throws {
        _ = try await rt.createAgent(id: id, kind: "faulty", config: .object([
            "note": "moved", "retry": .object(["max_attempts": 1]), "alarms": .array([.object(["id": "hourly", "every_ms": 3_600_000])]),
        ]))
        try await rt.send(id, envelope(id: "ok-1", from: "s", body: "hello"))
        #expect(try await rt.drained(id))
        try await rt.send(id, envelope(id: "dead-1", from: "s", body: "fail"))
        #expect(try await rt.drained(id))
        try await rt.op.write("/agents/\(id)/goals/g1.json", #"{"aim":"keep"}"#)
        try await rt.ctl(id, "pause")
        try await rt.send(id, envelope(id: "p-1", from: "s", body: "later"))
        try await rt.send(id, envelope(id: "p-2", from: "t", body: "later too"))
    }

    /// What must survive the trip, as seen through files.
    func snapshot(_ rt: Runtime, _ id: String) async throws -> [String: String] {
        var out: [String: String] = [:]
        for file in ["config", "state", "inbox", "outbox", "logs/trajectory", "goals/g1.json", "identity/pubkey", "deadletter/count", "ctl"] {
            out[file] = try await rt.op.readString("/agents/\(id)/\(file)")
        }
        var status = try await rt.statusOf(id)
        status = .object((status.objectValue ?? [:]).filter { $0.key != "id" && $0.key != "name" })
        out["status"] = status.description
        return out
    }

    @Test func roundTripKeepsEverythingAndTheIdentityWhenAsked() async throws {
        let (bundle, before) = try await withRuntimeValue { rt in
            try await populate(rt, "mover")
            return (try await rt.exportAgent("mover", includeSecret: true), try await snapshot(rt, "mover"))
        }
        #expect(bundle["identity"]?["secret"]?.stringValue?.count == 64)
        try await withRuntime { rt in
            let status = try await rt.importAgent(bundle)
            #expect(status["id"] == "mover")
            #expect(try await snapshot(rt, "mover") == before)
            // The trace has the exported records, then the import.
            let trace = try await rt.lines("mover", "logs/trace")
            #expect(trace.contains { $0["type"] == "tick_end" })
            #expect(trace.last?["type"] == "imported")
            // The same identity signs: a signature verifies against the exported public key.
            let sig = String(decoding: try await rt.op.write("/agents/mover/identity/sign", "data", mode: .append), as: UTF8.self)
            #expect(Schnorr.verify(pubkey: before["identity/pubkey"]!.trimmingCharacters(in: .whitespacesAndNewlines), data: Data("data".utf8),
                                   signature: sig.trimmingCharacters(in: .whitespacesAndNewlines)))
            // The pending envelopes are still deduplicated, and get processed once resumed.
            #expect(try await rt.send("mover", envelope(id: "p-1", from: "s", body: "again"))["status"] == "duplicate")
            // So is an envelope processed before the move (the dedup window moved with it).
            #expect(try await rt.send("mover", envelope(id: "ok-1", from: "s", body: "again"))["status"] == "duplicate")
            try await rt.ctl("mover", "resume")
            #expect(try await rt.drained("mover"))
            #expect(try await rt.lines("mover", "outbox").count == 3)
        }
    }

    @Test func withoutThePrivateKeyTheAgentGetsANewIdentity() async throws {
        let bundle = try await withRuntimeValue { rt in
            try await populate(rt, "m")
            return try await rt.exportAgent("m", includeSecret: false)
        }
        #expect(bundle["identity"]?["secret"] == nil)
        #expect(!bundle.description.contains("secret"))
        try await withRuntime { rt in
            _ = try await rt.importAgent(bundle)
            let pub = try await rt.op.readString("/agents/m/identity/pubkey").trimmingCharacters(in: .whitespacesAndNewlines)
            #expect(pub.count == 64)
            #expect(pub != bundle["identity"]?["pubkey"]?.stringValue)
            #expect(try await rt.lines("m", "logs/trace").last?["new_identity"] == true)
        }
    }

    @Test func importRefusesAnExistingIdUnlessToldAndCanRename() async throws {
        try await withRuntime { rt in
            try await populate(rt, "a")
            let bundle = try await rt.exportAgent("a", includeSecret: true)
            let before = try await snapshot(rt, "a")
            await expectCode(.alreadyExists) { _ = try await rt.importAgent(bundle) }
            #expect(try await snapshot(rt, "a") == before)
            // Under another id: a second agent with the same data.
            _ = try await rt.importAgent(bundle, as: "b")
            #expect(try await rt.statusOf("b")["queue_depth"] == 2)
            // Replace: the agent becomes the bundle again, whatever it held since.
            try await rt.op.write("/agents/a/goals/g2.json", #"{"aim":"new"}"#)
            try await rt.ctl("a", "resume")
            #expect(try await rt.drained("a"))
            _ = try await rt.importAgent(bundle, replace: true)
            #expect(try await snapshot(rt, "a") == before)
            await expectCode(.notFound) { _ = try await rt.op.read("/agents/a/goals/g2.json") }
        }
    }

    @Test func badBundlesAreRefusedAndChangeNothing() async throws {
        try await withRuntime { rt in
            try await populate(rt, "src")
            let good = try await rt.exportAgent("src", includeSecret: true)
            func with(_ change: (inout [String: JSON]) -> Void) -> JSON {
                var o = good.objectValue ?? [:]
                change(&o)
                return .object(o)
            }
            func agent(_ key: String, _ value: JSON?) -> JSON {
                with { o in
                    var a = o["agent"]?.objectValue ?? [:]
                    a[key] = value
                    o["agent"] = .object(a)
                }
            }
            let bad: [JSON] = [
                .object([:]), .array([]), .string("x"),
                with { $0["format"] = "tarball" }, with { $0["version"] = 99 }, with { $0["agent"] = nil },
                agent("kind", "nonsense"), agent("config", "not an object"),
                agent("config", .object(["inbox": .object(["max_depth": -1])])), agent("lifecycle", "sleeping"), agent("tick_count", -5),
                agent("tick_count", "many"),
                with { $0["identity"] = .object(["pubkey": "00", "secret": "zz"]) },
                with { $0["identity"] = .object(["pubkey": .string(String(repeating: "0", count: 64)), "secret": good["identity"]!["secret"]!]) },
                with { $0["inbox"] = .array([.object(["id": "x"])]) },
                with { $0["goals"] = .array([.object(["id": "../up", "body": .object([:]), "updated_at": 1])]) },
                with { $0["logs"] = .object(["secrets": .array([])]) },
                with { $0["logs"] = .object(["trace": .array([.string("two\nlines")])]) },
                with { $0["alarms"] = .array([.object(["id": "a", "due_at": 1, "every_ms": 0, "source": "agent"])]) },
                // Numbers that would overflow later arithmetic (a date, tick_count + 1, a back-off).
                agent("created_at", .integer(.min)), agent("last_tick_at", .integer(.max)), agent("tick_count", .integer(.max)),
                agent("budget_spent", .integer(-1)),
                with { $0["inbox"] = .array([.object(["id": "x", "from": "s", "kind": "message", "body": "b", "sent_at": 1, "attempts": .integer(.max)])]) },
                with { $0["inbox"] = .array([.object(["id": "x", "from": "s", "kind": "message", "body": "b", "sent_at": .integer(.min)])]) },
                with { $0["alarms"] = .array([.object(["id": "a", "due_at": .integer(.max), "source": "agent"])]) },
                with { $0["alarms"] = .array([.object(["id": "a", "due_at": 1, "every_ms": .integer(.max), "source": "agent"])]) },
                with { $0["alarms"] = .array([.object(["id": "a", "due_at": 1, "source": "agent", "attempts": -1])]) },
                // Ids the store keys by, twice; a config alarm the config does not name.
                with { $0["goals"] = .array([.object(["id": "g", "body": .object([:]), "updated_at": 1]), .object(["id": "g", "body": .object([:]), "updated_at": 2])]) },
                with { $0["alarms"] = .array([.object(["id": "a", "due_at": 1, "source": "agent"]), .object(["id": "a", "due_at": 2, "source": "agent"])]) },
                with { o in
                    let d = good["deadletter"]!.arrayValue!
                    o["deadletter"] = .array(d + d)
                },
                with { o in
                    let d = good["deadletter"]!.arrayValue!
                    o["inbox"] = .array([d[0]["envelope"]!])
                },
                with { $0["alarms"] = .array([.object(["id": "stray", "due_at": 1, "source": "config"])]) },
            ]
            for (i, b) in bad.enumerated() {
                do {
                    _ = try await rt.importAgent(b, as: "dst")
                    Issue.record("bundle \(i) was accepted: \(b.description.prefix(200))")
                } catch let e as FSError {
                    #expect(e.code == .invalidInput || e.code == .invalidPath, "bundle \(i): \(e)")
                }
                await expectCode(.notFound) { _ = try await rt.op.read("/agents/dst/status") }
            }
            // Ids: the bundle's own, and a rename, are checked like any agent id.
            for id in ["Bad Id", "../etc", "", "a/b"] {
                do {
                    _ = try await rt.importAgent(agent("id", .string(id)))
                    Issue.record("bundle id '\(id)' was accepted")
                } catch let e as FSError {
                    #expect(e.code == .invalidInput || e.code == .invalidPath, "\(e)")
                }
                do {
                    _ = try await rt.importAgent(good, as: id)
                    Issue.record("import as '\(id)' was accepted")
                } catch let e as FSError {
                    #expect(e.code == .invalidInput || e.code == .invalidPath, "\(e)")
                }
            }
            #expect(try await rt.listAgents().count == 1)
            // Below the bundle's checks, the store counts a dead letter once however often it is written.
            var doubled = try AgentBundle(json: good, id: "twice")
            doubled.deadLetters += doubled.deadLetters
            _ = try await rt.store.importAgent(doubled, replace: false, trace: [])
            #expect(try await rt.statusOf("twice")["deadletter_count"] == 1)
            #expect(try await rt.op.list("/agents/twice/deadletter").filter { !["count", "list", "ctl"].contains($0.name) }.count == 1)
        }
    }
}

extension BundleTests {
    /// JSON integers are exact now (up to Int64), so every number a client can send must be
    /// bounded where it is used: none of these may trap the process.
    @Test func hugeNumbersInConfigsStateAndTimesNeverTrap() async throws {
        #expect(Timestamp.iso(.min).hasPrefix("0001-"))
        #expect(Timestamp.iso(.max).hasPrefix("9999-"))
        try await withRuntime { rt in
            await expectCode(.invalidInput) { _ = try await rt.createAgent(id: "c", kind: "counter", config: .object(["interval_ms": .integer(.max)])) }
            await expectCode(.invalidInput) {
                _ = try await rt.createAgent(id: "c", kind: "echo", config: .object(["alarms": .array([.object(["id": "a", "at": .integer(.max)])])]))
            }
            // An echo agent whose message count is at the top keeps answering.
            _ = try await rt.createAgent(id: "e", kind: "echo")
            var bundle = try await rt.exportAgent("e", includeSecret: true).objectValue ?? [:]
            var agent = bundle["agent"]?.objectValue ?? [:]
            agent["state"] = .object(["messages": .integer(.max)])
            bundle["agent"] = .object(agent)
            _ = try await rt.importAgent(.object(bundle), as: "e2")
            try await rt.send("e2", "hi")
            #expect(try await rt.drained("e2"))
            #expect(try await rt.stateOf("e2")["messages"] == .integer(.max))
            #expect(try await rt.lines("e2", "outbox").count == 1)
        }
    }
}

/// `withRuntime` that hands back what `body` returns (the runtime is closed after).
func withRuntimeValue<T: Sendable>(databasePath: String? = nil, _ body: (Runtime) async throws -> T) async throws -> T {
    try await TestRuntime.with(databasePath: databasePath, body)
}
