import AgentNSTesting
import Foundation
import Namespace
import Runtime
import Services
import Testing

/// The `llm` kind: a message becomes a job keyed by its envelope, the job's notice the reply.
@Suite struct LLMKindTests {
    func withLLM(_ config: String, _ body: (Runtime, ScriptedProvider) async throws -> Void) async throws {
        let provider = ScriptedProvider()
        try await TestRuntime.with(providers: provider) { rt in
            try await rt.op.write("/runtime/providers/p.json", #"{"base_url":"http://127.0.0.1:9/v1","models":["fixed","echo","hold"],"price":{"input":0,"output":1000000}}"#)
            _ = try await rt.createAgent(id: "bot", kind: "llm", config: try JSON(parsing: config))
            try await body(rt, provider)
        }
    }

    func replies(_ rt: Runtime, count: Int) async throws -> [JSON] {
        _ = try await TestRuntime.eventually { try await rt.lines("bot", "outbox").count >= count }
        return try await rt.lines("bot", "outbox")
    }

    @Test func aMessageIsAnsweredByTheModelThroughOneJob() async throws {
        try await withLLM(#"{"model":"fixed","system":"Be brief.","max_tokens":8}"#) { rt, provider in
            let receipt = try await rt.send("bot", #"{"id":"m1","from":"ann","body":"hello"}"#)
            #expect(receipt["status"] == "queued")
            let out = try await replies(rt, count: 1)
            #expect(out.count == 1)
            #expect(out[0]["to"] == "ann" && out[0]["in_reply_to"] == "m1" && out[0]["body"] == "Hello world")
            #expect(provider.calls == 1)
            let request = try #require(provider.requests.first)
            #expect(request.messages == [ChatMessage(role: "system", content: "Be brief."), ChatMessage(role: "user", content: "hello")])
            #expect(request.maxTokens == 8)
            let jobs = try await rt.op.list("/agents/bot/compute/jobs")
            let status = try JSON(parsing: try await rt.op.readString("/agents/bot/compute/jobs/\(try #require(jobs.first).name)/status"))
            #expect(status["idempotency_key"] == "env:m1" && status["state"] == "succeeded")
            #expect(try await rt.drained("bot"))
            #expect(try await rt.stateOf("bot")["pending"] == .object([:]))
            #expect(try await rt.statusOf("bot")["deadletter_count"] == .integer(0))
        }
    }

    @Test func memoryCarriesTheLastTurns() async throws {
        try await withLLM(#"{"model":"echo","memory":1}"#) { rt, provider in
            for (i, text) in ["one", "two", "three"].enumerated() {
                try await rt.send("bot", #"{"id":"m\#(i)","from":"ann","body":"\#(text)"}"#)
                _ = try await replies(rt, count: i + 1)
            }
            let asked = provider.requests.map { $0.messages.map(\.content) }
            #expect(asked == [["one"], ["one", "one", "two"], ["two", "two", "three"]])
            #expect(try await rt.stateOf("bot")["history"]?.arrayValue?.count == 2)
        }
    }

    @Test func aSpentBudgetIsAnsweredNotRetried() async throws {
        try await withLLM(#"{"model":"fixed","max_tokens":8}"#) { rt, provider in
            try await rt.op.write("/agents/bot/compute/policy", #"{"limit": 1}"#)
            try await rt.send("bot", #"{"id":"m1","from":"ann","body":"hello"}"#)
            let out = try await replies(rt, count: 1)
            #expect(out[0]["in_reply_to"] == "m1" && out[0]["body"]?["code"] == "budget_exceeded")
            #expect(provider.calls == 0)
            #expect(try await rt.drained("bot"))
            #expect(try await rt.statusOf("bot")["deadletter_count"] == .integer(0))
            let errors = try await rt.lines("bot", "logs/trace").filter { $0["type"] == "error" }
            #expect(errors.isEmpty)
        }
    }

    /// More messages than open jobs allowed wait in state for a slot, never failing a tick.
    @Test func messagesBeyondMaxRunningWaitForASlot() async throws {
        try await withLLM(#"{"model":"hold"}"#) { rt, provider in
            try await rt.op.write("/agents/bot/compute/policy", #"{"max_running": 1}"#)
            for i in 0..<3 { try await rt.send("bot", #"{"id":"m\#(i)","from":"ann","body":"q\#(i)"}"#) }
            #expect(try await rt.drained("bot"))
            #expect(provider.calls == 1)
            #expect(try await rt.stateOf("bot")["deferred"]?.arrayValue?.count == 2)
            provider.release()
            let out = try await replies(rt, count: 3)
            #expect(out.map { $0["in_reply_to"]?.stringValue ?? "" } == ["m0", "m1", "m2"])
            #expect(out.allSatisfy { $0["body"] == "… done" })
            #expect(provider.calls == 3)
            #expect(try await rt.statusOf("bot")["deadletter_count"] == .integer(0))
            #expect(try await rt.lines("bot", "logs/trace").filter { $0["type"] == "error" }.isEmpty)
        }
    }

    @Test func aNoticeCannotBeForged() async throws {
        try await withLLM(#"{"model":"fixed"}"#) { rt, _ in
            await expectCode(.invalidInput) { try await rt.send("bot", #"{"from":"compute","kind":"job","body":{"job_id":"jx","state":"succeeded"}}"#) }
        }
    }

    @Test func badConfigIsRefused() async throws {
        try await withLLM(#"{"model":"fixed"}"#) { rt, _ in
            await expectCode(.invalidInput) { try await rt.op.write("/agents/bot/config", #"{"memory": -1}"#) }
            await expectCode(.invalidInput) { try await rt.op.write("/agents/bot/config", #"{"max_tokens": "many"}"#) }
            await expectCode(.invalidInput) { _ = try await rt.createAgent(id: "bot2", kind: "llm", config: .object(["temperature": 5])) }
        }
    }
}
