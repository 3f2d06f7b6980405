import AgentNSTesting
import Foundation
import Namespace
import Runtime
import RuntimeSQLite
import Services
import Testing

@Suite struct NamespaceConformanceTests {
    @Test func agentTreeMatchesSPEC() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "scout", kind: "echo")
            let root = try await rt.op.list("/agents/scout")
            #expect(root.map(\.name) == ["compute", "config", "containers", "ctl", "deadletter", "goals", "identity", "inbox", "logs", "mounts", "outbox", "state", "status"])
            #expect(try await rt.op.list("/agents/scout/compute").map(\.name) == ["jobs", "new", "policy", "providers", "usage"])
            #expect(try await rt.op.stat("/agents/scout/compute/new").type == .call)
            #expect(try await rt.op.list("/agents/scout/logs").map(\.name) == ["trace", "trajectory"])
            #expect(try await rt.op.list("/agents/scout/identity").map(\.name) == ["pubkey", "sign", "verify"])
            #expect(try await rt.op.stat("/agents/scout/identity/sign").type == .call)
            #expect(try await rt.op.stat("/agents/scout/logs/trace").type == .stream)
            let status = try await rt.statusOf("scout")
            for key in ["id", "name", "kind", "state", "tick_count", "last_tick_at", "last_tick_cause", "queue_depth", "deadletter_count", "created_at"] {
                #expect(status[key] != nil, "status.\(key)")
            }
            #expect(try await rt.op.readString("/agents/scout/ctl") == "active\n")
            #expect(try await rt.op.list("/").map(\.name) == ["agents", "runtime"])
            #expect(try await rt.op.list("/agents").map(\.name) == ["scout"])
            #expect(try JSON(parsing: try await rt.op.readString("/runtime/status"))["agents"] == 1)
            #expect(try await rt.op.readString("/agents/scout/mounts").contains("/identity identity sign-only\n"))
        }
    }

    @Test func ctlCommandsAndErrors() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "a", kind: "echo")
            for (command, word) in [("pause", "paused"), ("resume", "active"), ("hibernate", "hibernated"), ("wake", "active")] {
                try await rt.ctl("a", command)
                #expect(try await rt.op.readString("/agents/a/ctl") == word + "\n")
            }
            do {
                try await rt.ctl("a", "explode")
                Issue.record("expected invalid_input")
            } catch let e as FSError {
                #expect(e.code == .invalidInput)
                #expect(e.message.contains("explode"))
                #expect(e.message.contains("tick, hibernate, wake, pause, resume"))
            }
            await expectCode(.invalidInput) { try await rt.ctl("a", "tick now") }
            await expectCode(.invalidInput) { try await rt.ctl("a", "") }
            await expectCode(.permissionDenied) { try await rt.op.write("/agents/a/status", "{}") }
            await expectCode(.permissionDenied) { try await rt.op.write("/agents/a/outbox", "x") }
            await expectCode(.isDirectory) { _ = try await rt.op.read("/agents/a/logs") }
            await expectCode(.notDirectory) { _ = try await rt.op.list("/agents/a/status") }
            await expectCode(.notFound) { _ = try await rt.op.read("/agents/a/nothing") }
            await expectCode(.notFound) { _ = try await rt.op.read("/agents/nobody/status") }
        }
    }

    /// `status` bytes are kept per agent while its record is unchanged; every change shows at once.
    @Test func statusFollowsEveryChange() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "s", kind: "echo")
            try await rt.ctl("s", "pause")
            let first = try await rt.op.readString("/agents/s/status")
            #expect(try await rt.op.readString("/agents/s/status") == first)
            for n in 1...3 {
                try await rt.send("s", "m\(n)")
                #expect(try await rt.statusOf("s")["queue_depth"]?.intValue == n)
            }
            _ = try await rt.op.write("/agents/s/config", Data(#"{"name":"renamed"}"#.utf8), mode: .replace)
            #expect(try await rt.statusOf("s")["name"] == "renamed")
            try await rt.ctl("s", "resume")
            #expect(try await rt.drained("s"))
            #expect(try await rt.statusOf("s")["state"] == "active")
            #expect(try await rt.statusOf("s")["tick_count"]?.intValue ?? 0 >= 1)
            try await rt.op.remove("/agents/s")
            _ = try await rt.createAgent(id: "s", kind: "echo")  // same id, new agent: nothing stale
            #expect(try await rt.statusOf("s")["queue_depth"]?.intValue == 0)
            #expect(try await rt.statusOf("s")["tick_count"]?.intValue == 0)
        }
    }

    @Test func configIsAValidatedMergePatch() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "c", kind: "echo", config: .object(["inbox": .object(["max_depth": 10]), "note": "x"]))
            try await rt.op.write("/agents/c/config", #"{"inbox":{"overflow":"reject"},"note":null}"#)
            let config = try JSON(parsing: try await rt.op.readString("/agents/c/config"))
            #expect(config == .object(["inbox": .object(["max_depth": 10, "overflow": "reject"])]))
            for bad in ["not json", "[1]", #"{"inbox":{"max_depth":0}}"#, #"{"inbox":{"overflow":"explode"}}"#,
                        #"{"inbox":{"max_dept":5}}"#, #"{"alarms":[{"id":"x"}]}"#, #"{"access":{"/goals":"sometimes"}}"#] {
                await expectCode(.invalidInput) { try await rt.op.write("/agents/c/config", bad) }
            }
            #expect(try JSON(parsing: try await rt.op.readString("/agents/c/config")) == config)  // unchanged
            // Agents cannot write their config.
            await expectCode(.permissionDenied) { _ = try await rt.client(as: .agent("c")).write("/agents/c/config", "{}") }
        }
    }

    @Test func goalsCRUD() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "g", kind: "echo")
            try await rt.op.write("/agents/g/goals/g1.json", #"{"aim":"one"}"#)
            try await rt.op.write("/agents/g/goals/g2.json", #"{"aim":"two"}"#)
            try await rt.op.write("/agents/g/goals/g1.json", #"{"aim":"uno"}"#)
            #expect(try await rt.op.list("/agents/g/goals").map(\.name) == ["g1.json", "g2.json"])
            #expect(try JSON(parsing: try await rt.op.readString("/agents/g/goals/g1.json"))["aim"] == "uno")
            try await rt.op.remove("/agents/g/goals/g1.json")
            #expect(try await rt.op.list("/agents/g/goals").map(\.name) == ["g2.json"])
            await expectCode(.notFound) { try await rt.op.remove("/agents/g/goals/g1.json") }
            await expectCode(.invalidInput) { try await rt.op.write("/agents/g/goals/g3.json", "not json") }
            await expectCode(.invalidPath) { try await rt.op.write("/agents/g/goals/g3.txt", "{}") }
            await expectCode(.invalidPath) { try await rt.op.write("/agents/g/goals/BAD.json", "{}") }
            #expect(try await rt.op.list("/agents/g/goals").map(\.name) == ["g2.json"])
        }
    }

    @Test func agentIDsFollowTheGrammar() async throws {
        try await withRuntime { rt in
            for bad in ["", "A", "-a", ".a", "a/b", "a b", "ä", String(repeating: "a", count: 64), "a\u{0}"] {
                await expectCode(.invalidPath) { _ = try await rt.createAgent(id: bad, kind: "echo") }
            }
            _ = try await rt.createAgent(id: "a0._-z", kind: "echo")
            _ = try await rt.createAgent(id: String(repeating: "a", count: 63), kind: "echo")
            await expectCode(.alreadyExists) { _ = try await rt.createAgent(id: "a0._-z", kind: "echo") }
            await expectCode(.invalidInput) { _ = try await rt.createAgent(id: "k", kind: "nope") }
            #expect(try await rt.listAgents().count == 2)
        }
    }

    /// Traversal and malformed paths through the runtime's file client: refused, nothing created.
    @Test func traversalCorpusIsRefusedAndCreatesNothing() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "t", kind: "echo")
            _ = try await rt.createAgent(id: "other", kind: "echo")
            let corpus = [
                "/agents/t/../other/config", "/agents/t/goals/../../other/goals/x.json", "/agents/t/%2e%2e/other/status",
                "/agents/t/goals/..%2fx.json", "/agents/t//goals/x.json", "/agents/t/goals/x.json\u{0}", "/agents/../runtime/status",
                "/agents/T/status", "/agents/t/goals/\u{FF0E}\u{FF0E}.json", "/agents/t/goals/" + String(repeating: "x", count: 300) + ".json",
                "/agents/t/./goals/x.json", "/agents/t/goals/%252e%252e.json",
            ]
            for path in corpus {
                for attempt in 0..<3 {
                    do {
                        switch attempt {
                        case 0: _ = try await rt.op.read(path)
                        case 1: try await rt.op.write(path, "{}")
                        default: try await rt.op.remove(path)
                        }
                        Issue.record("accepted \(path)")
                    } catch let e as FSError {
                        #expect([.invalidPath, .notFound].contains(e.code), "\(path): \(e)")
                    }
                }
            }
            #expect(try await rt.op.list("/agents/t/goals").isEmpty)
            #expect(try await rt.op.list("/agents/other/goals").isEmpty)
            #expect(try await rt.op.list("/agents").map(\.name) == ["other", "t"])
        }
    }
}
