import AgentNSTesting
import Foundation
import Namespace
import Runtime
import RuntimeSQLite
import Services
import Testing

/// compute/ through the in-process client, against a real SQLite file and a scripted provider.
@Suite struct ComputeTests {
    /// A provider `p` priced 1 micro-USD per input token and 1,000 per output token, and an agent `a`.
    func withCompute(databasePath: String? = nil, provider: ScriptedProvider = ScriptedProvider(), clock: any AgentClock = SystemClock(),
                     create: Bool = true, _ body: (Runtime, ScriptedProvider) async throws -> Void) async throws {
        try await TestRuntime.with(databasePath: databasePath, clock: clock, providers: provider) { rt in
            if create {
                try await rt.op.write("/runtime/providers/p.json",
                                      #"{"kind":"openai","base_url":"http://127.0.0.1:9/v1","api_key":"sk-hidden","models":["fixed","nousage","hold","fail","echo"],"price":{"input":1000000,"output":1000000000}}"#)
                _ = try await rt.createAgent(id: "a", kind: "echo")
            }
            try await body(rt, provider)
        }
    }

    func submit(_ rt: Runtime, _ body: String, agent: String = "a", as who: Principal = .operator) async throws -> JSON {
        try JSON(parsing: String(decoding: try await rt.client(as: who).write("/agents/\(agent)/compute/new", Data(body.utf8), mode: .append),
                                 as: UTF8.self))
    }

    func status(_ rt: Runtime, _ job: String, agent: String = "a") async throws -> JSON {
        try JSON(parsing: try await rt.op.readString("/agents/\(agent)/compute/jobs/\(job)/status"))
    }

    func finished(_ rt: Runtime, _ job: String, agent: String = "a") async throws -> JSON {
        _ = try await TestRuntime.eventually {
            ["succeeded", "failed", "cancelled"].contains(try await status(rt, job, agent: agent)["state"]?.stringValue ?? "")
        }
        return try await status(rt, job, agent: agent)
    }

    func usage(_ rt: Runtime, agent: String = "a") async throws -> JSON {
        try JSON(parsing: try await rt.op.readString("/agents/\(agent)/compute/usage"))
    }

    @Test func aJobStreamsFinishesChargesItsUsageAndTellsItsAgent() async throws {
        try await withCompute { rt, provider in
            let answer = try await submit(rt, #"{"model":"fixed","prompt":"hi","max_tokens":10}"#)
            let id = try #require(answer["job_id"]?.stringValue)
            #expect(answer["state"] == "running")  // admitted and started in one commit
            let s = try await finished(rt, id)
            #expect(s["state"] == "succeeded" && s["provider"] == "p" && s["model"] == "fixed")
            // Worst case: prompt bound (16 + 2 + 4 + 16 = 38 tokens) × 1 + 10 × 1,000; charged: 10 × 1 + 2 × 1,000.
            #expect(s["reserved"] == .integer(38 + 10_000) && s["cost"] == .integer(2010))
            #expect(s["usage"] == .object(["prompt_tokens": 10, "completion_tokens": 2]))
            #expect(try await rt.op.readString("/agents/a/compute/jobs/\(id)/stream") == "{\"delta\":\"Hello\"}\n{\"delta\":\" world\"}\n")
            let result = try JSON(parsing: try await rt.op.readString("/agents/a/compute/jobs/\(id)/result"))
            #expect(result == .object(["text": "Hello world", "finish_reason": "stop", "usage": .object(["prompt_tokens": 10, "completion_tokens": 2])]))
            let u = try await usage(rt)
            #expect(u["spent"] == .integer(2010) && u["reserved"] == .integer(0) && u["per_day"]?["spent"] == .integer(2010))
            #expect(provider.calls == 1)
            // The notice woke the echo agent, which answered it: the envelope SPEC describes.
            #expect(try await rt.drained("a"))
            let reply = try #require(try await rt.lines("a", "outbox").last)
            #expect(reply["to"] == "compute" && reply["body"] == .object(["job_id": .string(id), "state": "succeeded"]))
            let trace = try await rt.lines("a", "logs/trace")
            // Every trace line is a record with a type (a null line slipped in once).
            #expect(trace.allSatisfy { $0["type"]?.stringValue != nil }, "\(trace)")
            let types = trace.compactMap { $0["type"]?.stringValue }
            #expect(types.contains("compute_submit") && types.contains("compute_first_token") && types.contains("compute_finish"))
            #expect(try await rt.op.list("/agents/a/compute/jobs").map(\.name) == [id])
            #expect(Set(try await rt.op.list("/agents/a/compute/jobs/\(id)").map(\.name)) == ["status", "result", "stream", "ctl"])
        }
    }

    @Test func watchersOfAStreamGetEachDeltaAsItIsCommitted() async throws {
        try await withCompute { rt, provider in
            let id = try #require(try await submit(rt, #"{"model":"hold","prompt":"hi"}"#)["job_id"]?.stringValue)
            let stream = try await rt.op.watch("/agents/a/compute/jobs/\(id)/stream", after: 0)
            var it = stream.makeAsyncIterator()
            #expect(try await it.next()?.data == #"{"delta":"…"}"#)
            provider.release()
            #expect(try await it.next()?.data == #"{"delta":" done"}"#)
        }
    }

    @Test func deletingAnAgentStopsItsProviderCalls() async throws {
        try await withCompute { rt, provider in
            let id = try #require(try await submit(rt, #"{"model":"hold","prompt":"hi"}"#)["job_id"]?.stringValue)
            #expect(try await TestRuntime.eventually { try await rt.op.readString("/agents/a/compute/jobs/\(id)/stream").contains("…") })
            try await rt.deleteAgent("a")
            #expect(try await TestRuntime.eventually { provider.cancelled == 1 && rt.compute.runningCount == 0 })
        }
    }

    @Test func withoutUsageTheReservationIsCharged() async throws {
        try await withCompute { rt, _ in
            let id = try #require(try await submit(rt, #"{"model":"nousage","prompt":"hi","max_tokens":3}"#)["job_id"]?.stringValue)
            let s = try await finished(rt, id)
            #expect(s["state"] == "succeeded" && s["cost"] == s["reserved"] && s["cost"] == .integer(38 + 3000))
            #expect(try await usage(rt)["spent"] == .integer(3038))
        }
    }

    @Test func aFailedJobIsReleasedAndSaysWhy() async throws {
        try await withCompute { rt, _ in
            let id = try #require(try await submit(rt, #"{"model":"fail","prompt":"hi"}"#)["job_id"]?.stringValue)
            let s = try await finished(rt, id)
            #expect(s["state"] == "failed" && s["cost"] == .integer(0) && s["error"] == "the provider answered 500: boom")
            await expectCode(.notFound) { _ = try await rt.op.readString("/agents/a/compute/jobs/\(id)/result") }
            let u = try await usage(rt)
            #expect(u["reserved"] == .integer(0) && u["spent"] == .integer(0))
        }
    }

    @Test func cancelMidStreamReleasesTheReservation() async throws {
        try await withCompute { rt, provider in
            let id = try #require(try await submit(rt, #"{"model":"hold","prompt":"hi","max_tokens":5}"#)["job_id"]?.stringValue)
            #expect(try await TestRuntime.eventually { try await rt.op.readString("/agents/a/compute/jobs/\(id)/stream").contains("…") })
            #expect(try await usage(rt)["reserved"] == .integer(38 + 5000))
            try await rt.op.write("/agents/a/compute/jobs/\(id)/ctl", "cancel\n")
            let s = try await finished(rt, id)
            #expect(s["state"] == "cancelled" && s["cost"] == .integer(0))
            let u = try await usage(rt)
            #expect(u["reserved"] == .integer(0) && u["spent"] == .integer(0))
            #expect(provider.cancelled == 1)
            // A job without a result lists no `result`, and stat agrees with read.
            #expect(Set(try await rt.op.list("/agents/a/compute/jobs/\(id)").map(\.name)) == ["status", "stream", "ctl"])
            await expectCode(.notFound) { _ = try await rt.op.stat("/agents/a/compute/jobs/\(id)/result") }
            await expectCode(.invalidInput) { try await rt.op.write("/agents/a/compute/jobs/\(id)/ctl", "cancel") }
            await expectCode(.invalidInput) { try await rt.op.write("/agents/a/compute/jobs/\(id)/ctl", "stop") }
        }
    }

    @Test func anIdempotencyKeyReturnsTheFirstJobAndNeverCallsTwice() async throws {
        try await withCompute { rt, provider in
            let body = #"{"model":"fixed","prompt":"hi","idempotency_key":"k1"}"#
            let answers = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<16 { group.addTask { try await submit(rt, body)["job_id"]?.stringValue ?? "" } }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(answers.count == 1)
            _ = try await finished(rt, try #require(answers.first))
            #expect(try await submit(rt, body)["job_id"]?.stringValue == answers.first)
            #expect(provider.calls == 1)
            #expect(try await rt.op.list("/agents/a/compute/jobs").count == 1)
        }
    }

    /// The LiteLLM failure: concurrent requests passing one admission check before any spend is
    /// recorded. Here admission and reservation are one step: never past the limit, and every
    /// refusal is budget_exceeded before any provider call.
    @Test func concurrentSubmittersNeverPassThePerDayLimit() async throws {
        try await withCompute { rt, provider in
            // Each job reserves 38 + 2 × 1,000 = 2,038 and is charged 2,010: 10 fit in 20,400 at once.
            try await rt.op.write("/agents/a/compute/policy", #"{"per_day": 20400, "max_running": 64}"#)
            let limit: Int64 = 20400
            let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
                for i in 0..<64 {
                    group.addTask {
                        do {
                            _ = try await submit(rt, #"{"model":"hold","prompt":"hi","max_tokens":2,"idempotency_key":"s\#(i)"}"#)
                            let u = try await usage(rt)
                            let total = (u["per_day"]?["spent"]?.int64Value ?? 0) + (u["reserved"]?.int64Value ?? 0)
                            return total <= limit ? "ok" : "over: \(total)"
                        } catch let e as FSError {
                            return e.code.rawValue
                        }
                    }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(!outcomes.contains { $0.hasPrefix("over") })
            #expect(outcomes.filter { $0 == "ok" }.count == 10)
            #expect(outcomes.filter { $0 == FSError.Code.budgetExceeded.rawValue }.count == 54)
            _ = try await TestRuntime.eventually { provider.calls == 10 }
            provider.release()
            for job in try await rt.op.list("/agents/a/compute/jobs") { _ = try await finished(rt, job.name) }
            let u = try await usage(rt)
            #expect(provider.calls == 10)
            #expect(u["reserved"] == .integer(0) && u["spent"] == .integer(10 * 2010) && u["spent"]!.int64Value! <= limit)
        }
    }

    @Test func limitsPerJobAndMaxCostAndThePolicysValidation() async throws {
        try await withCompute { rt, provider in
            try await rt.op.write("/agents/a/compute/policy", #"{"per_job": 5000}"#)
            await expectCode(.budgetExceeded) { _ = try await submit(rt, #"{"model":"fixed","prompt":"hi","max_tokens":10}"#) }
            // max_cost lowers max_tokens to what it covers: (3,038 - 38) / 1,000 = 3 tokens.
            let id = try #require(try await submit(rt, #"{"model":"fixed","prompt":"hi","max_tokens":10,"max_cost":3038}"#)["job_id"]?.stringValue)
            #expect(try await finished(rt, id)["reserved"] == .integer(3038))
            await expectCode(.budgetExceeded) { _ = try await submit(rt, #"{"model":"fixed","prompt":"hi","max_cost":37}"#) }
            #expect(provider.calls == 1)
            for bad in [#"{"per_day": -1}"#, #"{"per_day": "1"}"#, #"{"bogus": 1}"#, #"{"max_tokens": 0}"#, "[1]"] {
                await expectCode(.invalidInput) { try await rt.op.write("/agents/a/compute/policy", bad) }
            }
            #expect(try JSON(parsing: try await rt.op.readString("/agents/a/compute/policy")) == .object(["per_job": 5000]))
            for bad in [#"{}"#, #"{"prompt": 1}"#, #"{"prompt":"x","max_tokens":0}"#, #"{"prompt":"x","model":"nope"}"#,
                        #"{"messages":[{"role":"robot","content":"x"}]}"#, #"{"prompt":"x","temperature":9}"#, "not json"] {
                await expectCode(.invalidInput) { _ = try await submit(rt, bad) }
            }
            await expectCode(.notFound) { _ = try await submit(rt, #"{"provider":"zz","prompt":"x"}"#) }
        }
    }

    @Test func thePerTickWindowMovesWithTheAgentsTicks() async throws {
        try await withCompute { rt, _ in
            try await rt.op.write("/agents/a/compute/policy", #"{"per_tick": 2100}"#)
            let id = try #require(try await submit(rt, #"{"model":"fixed","prompt":"hi","max_tokens":2}"#)["job_id"]?.stringValue)
            _ = try await finished(rt, id)
            #expect(try await rt.drained("a"))  // the notice's tick moved the window
            try await rt.ctl("a", "pause")  // and no tick moves it again
            let next = try #require(try await submit(rt, #"{"model":"fixed","prompt":"hi","max_tokens":2}"#)["job_id"]?.stringValue)
            #expect(try await finished(rt, next)["state"] == "succeeded")
            await expectCode(.budgetExceeded) { _ = try await submit(rt, #"{"model":"fixed","prompt":"hi","max_tokens":2}"#) }
        }
    }

    @Test func agentTokensSeeTheirOwnJobsAndNeverAKey() async throws {
        try await withCompute { rt, _ in
            _ = try await rt.createAgent(id: "b", kind: "echo")
            let a = Principal.agent("a")
            let id = try #require(try await submit(rt, #"{"model":"fixed","prompt":"hi"}"#, as: a)["job_id"]?.stringValue)
            _ = try await finished(rt, id)
            let agentA = rt.client(as: a)
            #expect(try await agentA.readString("/agents/a/compute/jobs/\(id)/status").contains(id))
            await expectCode(.notFound) { _ = try await rt.op.readString("/agents/b/compute/jobs/\(id)/status") }
            await expectCode(.permissionDenied) { _ = try await agentA.readString("/agents/b/compute/jobs") }
            await expectCode(.permissionDenied) { try await agentA.write("/agents/a/compute/policy", #"{"limit": 999999999}"#) }
            await expectCode(.permissionDenied) { _ = try await agentA.readString("/runtime/providers/p.json") }
            await expectCode(.permissionDenied) { try await agentA.write("/runtime/providers/q.json", #"{"base_url":"http://x/v1"}"#) }
            #expect(try await agentA.list("/agents/a/compute/providers").map(\.name) == ["p"])
            let info = try await agentA.readString("/agents/a/compute/providers/p/info")
            #expect(!info.contains("sk-hidden") && !info.contains("127.0.0.1") && info.contains("fixed"))
            let health = try JSON(parsing: try await agentA.readString("/agents/a/compute/providers/p/health"))
            #expect(health["ok"] == true)
            let shown = try await rt.op.readString("/runtime/providers/p.json")
            #expect(shown.contains(#""api_key":"***""#) && !shown.contains("sk-hidden"))
            // Writing back what was read keeps the key.
            try await rt.op.write("/runtime/providers/p.json", Data(shown.utf8), mode: .replace)
            #expect(try await rt.store.providers().first?.apiKey == "sk-hidden")
            await expectCode(.invalidInput) { try await rt.op.write("/runtime/providers/p.json", #"{"base_url":"ftp://x"}"#) }
            await expectCode(.invalidPath) { try await rt.op.write("/runtime/providers/p.txt", "{}") }
            try await rt.op.remove("/runtime/providers/p.json")
            #expect(try await rt.op.list("/runtime/providers").isEmpty)
            await expectCode(.unavailable) { _ = try await submit(rt, #"{"prompt":"hi"}"#) }
        }
    }

    /// A job running when the runtime stops is `interrupted` at the next start, its reservation
    /// settled once, its provider never called again; a queued one runs.
    @Test func jobsOpenAtAStopAreReportedInterruptedAndNeverCalledAgain() async throws {
        let db = try TestRuntime.temporaryDirectory() + "/agentd.sqlite"
        var id = ""
        let first = ScriptedProvider()
        try await withCompute(databasePath: db, provider: first) { rt, provider in
            id = try #require(try await submit(rt, #"{"model":"hold","prompt":"hi","max_tokens":5,"idempotency_key":"once"}"#)["job_id"]?.stringValue)
            #expect(try await TestRuntime.eventually { try await status(rt, id)["state"] == "running" })
        }
        let second = ScriptedProvider()
        try await withCompute(databasePath: db, provider: second, create: false) { rt, provider in
            let s = try await finished(rt, id)
            #expect(s["state"] == "failed" && (s["error"]?.stringValue ?? "").hasPrefix("interrupted"))
            let u = try await usage(rt)
            #expect(u["reserved"] == .integer(0) && u["spent"] == .integer(0))
            #expect(try await submit(rt, #"{"model":"hold","prompt":"hi","max_tokens":5,"idempotency_key":"once"}"#)["job_id"]?.stringValue == id)
            #expect(provider.calls == 0)
            #expect(try await TestRuntime.eventually { try await rt.lines("a", "outbox").filter { $0["to"] == "compute" }.count == 1 })
        }
    }
}
