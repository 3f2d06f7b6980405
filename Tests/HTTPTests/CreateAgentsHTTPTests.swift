import AgentHTTP
import AgentNSTesting
import Foundation
import HTTPTypes
import HummingbirdTesting
import Namespace
import NIOCore
import Runtime
import Testing

/// `POST /agents` with an array: a fleet created in one transaction, every agent or none.
@Suite struct CreateAgentsHTTPTests {
    static func body(_ ids: [String], kind: String = "echo") -> String {
        "[" + ids.map { #"{"id":"\#($0)","kind":"\#(kind)"}"# }.joined(separator: ",") + "]"
    }

    @Test func aBatchCreatesEveryAgentInOrderAndEachTicks() async throws {
        try await withServer { rt, client in
            let ids = (0..<1_000).map { "f-" + String(format: "%04d", $0) }.shuffled()
            let answer = try await client.execute(uri: "/agents", method: .post, headers: auth, body: Self.body(ids).buffer)
            #expect(answer.status == .created, "\(answer.text.prefix(300))")
            let rows = answer.json.arrayValue ?? []
            #expect(rows.compactMap { $0["id"]?.stringValue } == ids, "the rows answer the agents in the order given")
            #expect(rows.allSatisfy { $0["kind"] == "echo" && $0["tick_count"] == 0 && $0["state"] != nil })
            #expect(try await rt.listAgents(limit: 2_000).compactMap { $0["id"]?.stringValue } == ids.sorted())
            // Each is a whole agent: an identity, a trace that says it was created, and it ticks.
            for id in [ids[0], ids[499], ids[999]] {
                #expect(try await rt.lines(id, "logs/trace").first?["type"] == "created")
                #expect(try await rt.op.readString("/agents/\(id)/identity/pubkey").count >= 64)
                try await rt.send(id, "hi")
                #expect(try await rt.drained(id))
                #expect(try await rt.lines(id, "outbox").count == 1)
            }
            let keys = Set(try await [ids[0], ids[1], ids[2]].asyncMap { try await rt.op.readString("/agents/\($0)/identity/pubkey") })
            #expect(keys.count == 3, "every agent has its own key")
        }
    }

    /// Whatever is wrong with one agent of a batch, nothing of the batch is created, and the
    /// error names the agent.
    @Test func oneBadAgentCreatesNone() async throws {
        try await withServer { rt, client in
            _ = try await rt.createAgent(id: "taken", kind: "echo")
            let good = (0..<5).map { #"{"id":"g\#($0)","kind":"echo"}"# }
            func batch(_ bad: String, at i: Int = 3) -> String {
                var items = good
                items.insert(bad, at: i)
                return "[" + items.joined(separator: ",") + "]"
            }
            let cases: [(String, HTTPResponse.Status, String, String)] = [
                (batch(#"{"id":"taken","kind":"echo"}"#), .conflict, "already_exists", "taken"),
                (batch(#"{"id":"g1","kind":"echo"}"#), .badRequest, "invalid_input", "agent 3"),
                (batch(#"{"id":"x","kind":"nosuchkind"}"#), .badRequest, "invalid_input", "agent 3"),
                (batch(#"{"id":"UPPER","kind":"echo"}"#), .badRequest, "invalid_path", "agent 3"),
                (batch(#"{"id":"y","kind":"echo","config":[]}"#), .badRequest, "invalid_input", "agent 3"),
                (batch(#"{"id":"y","kind":"echo","program":7}"#), .badRequest, "invalid_input", "agent 3"),
                (batch(#"{"id":"y"}"#), .badRequest, "invalid_input", "agent 3"),
                (batch(#""y""#), .badRequest, "invalid_input", "agent 3"),
                (batch(#"{"id":"y","kind":"echo","config":{"inbox":{"max_depth":0}}}"#), .badRequest, "invalid_input", "agent 3"),
                ("[]", .badRequest, "invalid_input", "1 to 1000"),
                (Self.body((0..<1_001).map { "z\($0)" }), .badRequest, "invalid_input", "1 to 1000"),
                (#"[{"id":"y","kind":"echo"}"#, .badRequest, "invalid_input", "invalid JSON"),
            ]
            for (body, status, code, names) in cases {
                let answer = try await client.execute(uri: "/agents", method: .post, headers: auth, body: body.buffer)
                #expect(answer.status == status, "\(body.prefix(80)): \(answer.text)")
                #expect(answer.errorCode == code, "\(body.prefix(80)): \(answer.text)")
                #expect(answer.text.contains(names), "\(body.prefix(80)): the error names \(names): \(answer.text)")
                #expect(try await rt.listAgents().compactMap { $0["id"]?.stringValue } == ["taken"], "\(body.prefix(80)): nothing created")
            }
            // The same batch, fixed, goes in whole.
            let answer = try await client.execute(uri: "/agents", method: .post, headers: auth, body: batch(#"{"id":"ok","kind":"echo"}"#).buffer)
            #expect(answer.status == .created)
            #expect(try await rt.listAgents().count == 7)
        }
    }

    @Test func onlyTheOperatorCreatesAFleet() async throws {
        try await withServer { rt, client in
            _ = try await rt.createAgent(id: "a", kind: "echo")
            let token = try await rt.issueToken(for: "a")
            for headers in [bearer(token), HTTPFields(), bearer("op_wrong")] {
                let answer = try await client.execute(uri: "/agents", method: .post, headers: headers, body: Self.body(["b", "c"]).buffer)
                #expect(answer.status == .forbidden || answer.status == .unauthorized, "\(answer.status)")
            }
            #expect(try await rt.listAgents().count == 1)
        }
    }
}

extension Array {
    fileprivate func asyncMap<T>(_ f: (Element) async throws -> T) async rethrows -> [T] {
        var out: [T] = []
        for e in self { out.append(try await f(e)) }
        return out
    }
}
