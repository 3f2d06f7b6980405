import AgentNSTesting
import Foundation
import Namespace
import Runtime
import RuntimeSQLite
import Services
import Testing

@Suite struct SecurityTests {
    @Test func signVerifyRoundTripIsBIP340() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "i", kind: "echo")
            let pubkey = try await rt.op.readString("/agents/i/identity/pubkey").trimmingCharacters(in: .newlines)
            #expect(pubkey.count == 64 && pubkey == pubkey.lowercased())
            let sig = String(decoding: try await rt.op.write("/agents/i/identity/sign", Data("hello".utf8), mode: .append), as: UTF8.self)
                .trimmingCharacters(in: .newlines)
            #expect(sig.count == 128)
            func verify(_ data: String, _ s: String, _ key: String = pubkey) async throws -> String {
                let req = JSON.object(["pubkey": .string(key), "data": .string(data), "sig": .string(s)]).description
                return String(decoding: try await rt.op.write("/agents/i/identity/verify", Data(req.utf8), mode: .append), as: UTF8.self)
            }
            #expect(try await verify("hello", sig) == "true\n")
            #expect(try await verify("hellO", sig) == "false\n")
            #expect(try await verify("hello", String(sig.reversed())) == "false\n")
            #expect(try await verify("hello", "zz") == "false\n")
            await expectCode(.invalidInput) { _ = try await rt.op.write("/agents/i/identity/verify", "{}") }
            // Each call's answer belongs to its own write: two concurrent callers never mix.
            let answers = try await withThrowingTaskGroup(of: (String, String).self) { group in
                for i in 0..<20 {
                    group.addTask {
                        let s = try await rt.op.write("/agents/i/identity/sign", Data("msg\(i)".utf8), mode: .append)
                        return ("msg\(i)", String(decoding: s, as: UTF8.self).trimmingCharacters(in: .newlines))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            for (msg, s) in answers { #expect(try await verify(msg, s) == "true\n") }
        }
    }

    @Test func knownBIP340Vector() throws {
        // BIP-340 test vector 0 signs the raw 32-byte message; we sign SHA-256(data), so check the
        // key derivation from its secret, which is what makes keys Nostr-compatible.
        let secret = Hex.decode("0000000000000000000000000000000000000000000000000000000000000003")!
        #expect(try Schnorr.keyPair(secret: secret).publicKey == "f9308a019258c31049344f85f89d5229b531c845836f99b08601f113bce036f9")
    }

    @Test func noReadableFileContainsThePrivateKey() async throws {
        let db = try TestRuntime.temporaryDirectory() + "/agentd.sqlite"
        try await withRuntime(databasePath: db) { rt in
            _ = try await rt.createAgent(id: "s", kind: "echo")
            try await rt.send("s", "hello")
            _ = try await rt.op.write("/agents/s/identity/sign", Data("x".utf8), mode: .append)
            #expect(try await rt.drained("s"))
            // Its keys are derived (no identity row): the export with the private key tells them.
            if case .stored = try #require(try await rt.store.keys("s")) { Issue.record("a new agent's keys are stored") }
            let exported = try await rt.exportAgent("s", includeSecret: true)
            let exportedSecret = try #require(exported["identity"]?["secret"]?.stringValue)
            let keys = try Schnorr.keyPair(secret: try #require(Hex.decode(exportedSecret)))
            #expect(keys.publicKey == exported["identity"]?["pubkey"]?.stringValue)
            let secret = keys.secret
            let hex = Hex.encode(secret)
            let printed = "\(keys)"
            #expect(!printed.contains(hex))
            // Nor the node secret they are derived from.
            let node = try await rt.store.nodeSecret("identity")
            #expect(node.count == 32)
            // Walk every file of the global tree as the operator and as the agent.
            for who in [Principal.operator, .agent("s")] {
                let fs = rt.client(as: who)
                var queue = ["/"]
                var files = 0
                while let dir = queue.popLast() {
                    for entry in (try? await fs.list(dir)) ?? [] {
                        let path = (dir == "/" ? "" : dir) + "/" + entry.name
                        if entry.type == .dir {
                            queue.append(path)
                        } else if let data = try? await fs.read(path) {
                            files += 1
                            let text = String(decoding: data, as: UTF8.self).lowercased()
                            #expect(!text.contains(hex), "\(path) contains the secret")
                            #expect(data.range(of: Data(secret)) == nil, "\(path) contains the raw secret")
                            #expect(!text.contains(Hex.encode(node)) && data.range(of: Data(node)) == nil, "\(path) contains the node secret")
                        }
                    }
                }
                #expect(files >= 10)
            }
        }
    }

    @Test func agentTokensSeeOnlyTheirOwnAgentUnderTheMountTable() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "a", kind: "echo", config: .object(["access": .object(["/goals": "disabled", "/inbox": "read-only"])]))
            _ = try await rt.createAgent(id: "b", kind: "echo")
            let a = rt.client(as: .agent("a"))
            #expect(try await a.list("/agents").map(\.name) == ["a"])
            await expectCode(.permissionDenied) { _ = try await a.read("/agents/b/status") }
            await expectCode(.permissionDenied) { try await a.write("/agents/b/inbox", "hi", mode: .append) }
            await expectCode(.permissionDenied) { try await a.remove("/agents/a") }
            // Mount table levels bind the agent: identity is sign-only, goals disabled by config, inbox read-only.
            _ = try await a.write("/agents/a/identity/sign", Data("x".utf8), mode: .append)
            _ = try await a.read("/agents/a/identity/pubkey")
            await expectCode(.permissionDenied) { _ = try await a.list("/agents/a/goals") }
            await expectCode(.permissionDenied) { try await a.write("/agents/a/goals/x.json", "{}") }
            await expectCode(.permissionDenied) { try await a.write("/agents/a/inbox", "hi", mode: .append) }
            await expectCode(.permissionDenied) { try await a.write("/agents/a/status", "{}") }
            #expect(try await a.readString("/agents/a/mounts").contains("/goals goals disabled"))
            #expect(try await rt.op.list("/agents/a/goals").isEmpty)  // the operator is not bound
            #expect(try await rt.statusOf("a")["queue_depth"] == 0)
        }
    }

    @Test func budgetedMountsSpendTheAgentsBudget() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "b", kind: "echo", config: .object([
                "access": .object(["/identity": "budgeted"]), "budget": .object(["limit": 2]),
            ]))
            let b = rt.client(as: .agent("b"))
            for _ in 0..<2 { _ = try await b.write("/agents/b/identity/sign", Data("x".utf8), mode: .append) }
            await expectCode(.budgetExceeded) { _ = try await b.write("/agents/b/identity/sign", Data("x".utf8), mode: .append) }
            let budget = try await rt.statusOf("b")["budget"]
            #expect(budget == .object(["limit": 2, "spent": 2, "remaining": 0]))
        }
    }

    /// Only writes that happen are paid for: refused budgeted writes (a goal that is not a JSON
    /// object) leave `budget.spent` as it was, and many writers at once never pass the limit.
    @Test func refusedBudgetedWritesCostNothingAndConcurrentOnesStayWithinTheLimit() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "r", kind: "echo", config: .object([
                "access": .object(["/goals": "budgeted"]), "budget": .object(["limit": 5]),
            ]))
            let r = rt.client(as: .agent("r"))
            await expectCode(.invalidInput) { _ = try await r.write("/agents/r/goals/bad.json", "[1, 2]") }
            _ = try await r.write("/agents/r/goals/good.json", "{\"a\": 1}")
            await expectCode(.invalidInput) { _ = try await r.write("/agents/r/goals/good.json", "\"not an object\"") }
            #expect(try await rt.statusOf("r")["budget"] == .object(["limit": 5, "spent": 1, "remaining": 4]))

            // 40 writers, half of them refused: exactly the 4 units left are spent, on good writes.
            let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
                for i in 0..<40 {
                    group.addTask {
                        do {
                            _ = try await r.write("/agents/r/goals/g\(i).json", i % 2 == 0 ? "{\"i\": \(i)}" : "[\(i)]")
                            return "ok"
                        } catch let e as FSError {
                            return e.code.rawValue
                        }
                    }
                }
                return try await group.reduce(into: [String: Int]()) { $0[$1, default: 0] += 1 }
            }
            let written = try await rt.op.list("/agents/r/goals").count - 1
            #expect(outcomes["ok"] == written)
            #expect(written <= 4)
            #expect(outcomes["invalid_input", default: 0] + outcomes["budget_exceeded", default: 0] + written == 40)
            let spent = try await rt.statusOf("r")["budget"]?["spent"]?.intValue
            #expect(spent == 1 + written, "spent \(String(describing: spent)) for \(written) writes after the first")
        }
    }
}
