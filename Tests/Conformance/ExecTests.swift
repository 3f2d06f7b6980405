import AgentNSTesting
import Foundation
import Namespace
import Runtime
import RuntimeSQLite
import Services
import Synchronization
import Testing

/// Exec agents, the runtime's side, against a real SQLite file and the scripted sandbox (which
/// runs a program as a tiny script: `out`, `err`, `stdin`, `exit`, `hold`, `killed`): the
/// program file, the tick's stdin, effects committed on exit 0 and none otherwise, retries and
/// dead letters, a program's own `ctl tick` mid-tick. The real sandbox and `/n/self` are
/// exercised by Tests/fire/exec_agents.py against agentd and bwrap.
@Suite struct ExecTests {
    func withExec(_ program: String, config: String = "{}", _ body: (Runtime, ScriptedSandbox) async throws -> Void) async throws {
        let sandbox = ScriptedSandbox()
        try await TestRuntime.with(sandbox: sandbox) { rt in
            _ = try await rt.createAgent(id: "x", kind: "exec", config: try JSON(parsing: config), program: Data(program.utf8))
            try await body(rt, sandbox)
        }
    }

    func trace(_ rt: Runtime, _ agent: String = "x") async throws -> [JSON] { try await rt.lines(agent, "logs/trace") }

    /// The records of a type in the trace.
    func records(_ rt: Runtime, _ type: String) async throws -> [JSON] { try await trace(rt).filter { $0["type"]?.stringValue == type } }

    @Test func exitZeroCommitsEveryEffectWithTheTick() async throws {
        let program = """
            err thinking
            out {"state": {"seen": 1}}
            out {"emit": {"type": "note", "n": 1}}
            out {"goal": {"id": "g1", "body": {"title": "find"}}}
            out {"alarm": {"id": "later", "in_ms": 3600000}}
            out {"trace": {"type": "plan", "steps": 2}}
            out

            """
        try await withExec(program) { rt, sandbox in
            try await rt.ctl("x", "tick")
            #expect(try await rt.stateOf("x") == .object(["seen": 1]))
            let outbox = try await rt.lines("x", "outbox")
            #expect(outbox == [.object(["type": "note", "n": 1])])
            #expect(try await rt.op.readString("/agents/x/goals/g1.json").contains("find"))
            #expect(try await records(rt, "stderr").map { $0["line"] } == ["thinking"])
            #expect(try await records(rt, "plan").first?["steps"] == .integer(2))
            #expect(try await records(rt, "program_exit").first?["exit_code"] == .integer(0))
            #expect(try await rt.statusOf("x")["tick_count"] == .integer(1))
            // The run: the program in the tick's own work directory, the agent's env.
            let run = try #require(sandbox.runs.first)
            #expect(run.argv == ["/work/program"] && run.env["AGENT_ID"] == "x")
        }
    }

    @Test func theTickIsOnStdinAndRepliesGoToItsEnvelopes() async throws {
        try await withExec("stdin\n", config: #"{"name": "Scout"}"#) { rt, _ in
            let receipt = try await rt.send("x", "hello")
            #expect(try await rt.drained("x"))
            let input = try #require(try await rt.lines("x", "outbox").first)
            #expect(input["agent"] == "x" && input["tick"] == .integer(1) && input["cause"] == "message")
            #expect(input["config"]?["name"] == "Scout" && input["state"] == .object([:]))
            let envelope = try #require(input["envelopes"]?.arrayValue?.first)
            #expect(envelope["id"] == receipt["id"] && envelope["body"] == "hello" && envelope["from"] == "operator")
        }
        // A reply names an envelope of the tick by id.
        try await withExec(#"out {"reply": {"to": "m1", "body": "got it"}}"# + "\n") { rt, _ in
            try await rt.send("x", #"{"id": "m1", "body": "hi"}"#)
            #expect(try await rt.drained("x"))
            let reply = try #require(try await rt.lines("x", "outbox").first)
            #expect(reply["type"] == "reply" && reply["in_reply_to"] == "m1" && reply["body"] == "got it" && reply["to"] == "operator")
        }
    }

    /// An answer made in a later tick names the envelope and its sender.
    @Test func aReplyToAnEarlierEnvelopeNamesItsSender() async throws {
        try await withExec(#"out {"reply": {"to": "m0", "from": "scout", "body": "later"}}"# + "\n") { rt, _ in
            try await rt.ctl("x", "tick")
            let reply = try #require(try await rt.lines("x", "outbox").first)
            #expect(reply["type"] == "reply" && reply["in_reply_to"] == "m0" && reply["to"] == "scout" && reply["body"] == "later")
        }
        try await withExec(#"out {"reply": {"to": "M 0", "from": "scout", "body": "later"}}"# + "\n") { rt, _ in
            try await rt.ctl("x", "tick")
            #expect(try await records(rt, "error").first?["error"]?.stringValue?.contains("envelope id") == true)
            #expect(try await rt.op.readString("/agents/x/outbox").isEmpty)
        }
    }

    /// Each way a program can fail: nothing of the tick is committed, the trace says why (and
    /// keeps the program's stderr), and the envelope is retried, then dead-lettered.
    @Test(arguments: [
        ("out {\"state\": {\"n\": 1}}\nout {\"emit\": 1}\nerr oops\nexit 1\n", "exited with status 1"),
        ("out {\"state\": {\"n\": 1}}\nout {\"emit\": 1}\nerr oops\nout not json\n", "effect line 3"),
        ("out {\"state\": {\"n\": 1}}\nerr oops\nout {\"launch\": 1}\n", "unknown effect 'launch'"),
        ("out {\"state\": {\"n\": 1}}\nerr oops\nout {\"reply\": {\"to\": \"nobody\"}}\n", "no envelope of this tick"),
        ("out {\"state\": {\"n\": 1}}\nerr oops\nout {\"alarm\": {\"id\": \"a\", \"in_ms\": -5}}\n", "alarm 'a'"),
        ("out {\"state\": {\"n\": 1}}\nerr oops\nout {\"trace\": {\"type\": \"tick_end\", \"outcome\": \"ok\"}}\n", "the runtime's own"),
        ("out {\"state\": {\"n\": 1}}\nerr oops\nout {\"alarm\": {\"id\": \"a\", \"at\": 99999999999999999}}\n", "out of range"),
        ("out {\"state\": {\"n\": 1}}\nerr oops\nout {\"state\": 1, \"emit\": 2}\n", "one key"),
        ("out {\"state\": {\"n\": 1}}\nerr oops\nkilled timeout\n", "timeout_ms"),
        ("out {\"state\": {\"n\": 1}}\nerr oops\nkilled memory\n", "memory limit"),
    ])
    func aFailedProgramCommitsNothingAndIsRetriedThenDeadLettered(program: String, why: String) async throws {
        try await withExec(program, config: #"{"retry": {"max_attempts": 2, "backoff_ms": 0}}"#) { rt, _ in
            try await rt.send("x", #"{"id": "m1", "body": "hi"}"#)
            #expect(try await TestRuntime.eventually { try await rt.statusOf("x")["deadletter_count"] == .integer(1) })
            #expect(try await rt.stateOf("x") == .object([:]))
            #expect(try await rt.op.readString("/agents/x/outbox").isEmpty)
            // Each attempt is a tick of its own, recorded as failed.
            #expect(try await rt.lines("x", "logs/trajectory").map { $0["outcome"] } == ["error", "error"])
            let errors = try await records(rt, "error")
            #expect(errors.count == 2 && errors.allSatisfy { $0["error"]?.stringValue?.contains(why) == true }, "\(errors)")
            // The program's stderr stays in a failed tick's trace, once per attempt.
            #expect(try await records(rt, "stderr").map { $0["line"] } == ["oops", "oops"])
            #expect(try await rt.op.readString("/agents/x/deadletter/list").contains("m1"))
        }
    }

    @Test func theProgramFileIsTheOperatorsAndVersioned() async throws {
        try await withExec("exit 0\n") { rt, _ in
            #expect(try await rt.op.readString("/agents/x/program") == "exit 0\n")
            #expect(try await rt.statusOf("x")["program"]?["version"] == .integer(1))
            try await rt.op.write("/agents/x/program", "out {\"emit\": 2}\n")
            let status = try await rt.statusOf("x")
            let size = Int64("out {\"emit\": 2}\n".utf8.count)
            #expect(status["program"]?["version"] == .integer(2) && status["program"]?["bytes"] == .integer(size))
            #expect(try await rt.op.stat("/agents/x/program").size == size)
            // The agent's own token reads it and may not write it.
            let own = rt.client(as: .agent("x"))
            #expect(try await own.readString("/agents/x/program") == "out {\"emit\": 2}\n")
            await #expect(throws: FSError.self) { try await own.write("/agents/x/program", "exit 1\n") }
            #expect(try await rt.op.readString("/agents/x/program") == "out {\"emit\": 2}\n")
            // Refused: an append (a program is replaced whole), empty, too large; nothing changes.
            await #expect(throws: FSError.self) { try await rt.op.write("/agents/x/program", Data("# more\n".utf8), mode: .append) }
            await #expect(throws: FSError.self) { try await rt.op.write("/agents/x/program", "") }
            await #expect(throws: FSError.self) { try await rt.op.write("/agents/x/program", Data(count: ProgramLimits.maxBytes + 1), mode: .replace) }
            #expect(try await rt.statusOf("x")["program"]?["version"] == .integer(2))
            // The new version is what the next tick runs.
            try await rt.ctl("x", "tick")
            #expect(try await rt.lines("x", "outbox") == [.integer(2)])
            #expect(try await records(rt, "program_exit").first?["version"] == .integer(2))
            // Other kinds have no program file.
            _ = try await rt.createAgent(id: "e", kind: "echo")
            await #expect(throws: FSError.self) { try await rt.op.readString("/agents/e/program") }
            await #expect(throws: FSError.self) { try await rt.op.write("/agents/e/program", "exit 0\n") }
            await #expect(throws: FSError.self) { _ = try await rt.createAgent(id: "e2", kind: "echo", program: Data("exit 0\n".utf8)) }
            #expect(try await !rt.op.list("/agents/e").map(\.name).contains("program"))
            #expect(try await rt.op.list("/agents/x").map(\.name).contains("program"))
        }
    }

    @Test func anAgentWithoutAProgramFailsItsTicksSayingWhatToDo() async throws {
        try await TestRuntime.with(sandbox: ScriptedSandbox()) { rt in
            _ = try await rt.createAgent(id: "x", kind: "exec")
            #expect(try await rt.op.readString("/agents/x/program").isEmpty)
            #expect(try await rt.statusOf("x")["program"] == .null)
            try await rt.ctl("x", "tick")
            let error = try #require(try await records(rt, "error").first?["error"]?.stringValue)
            #expect(error.contains("no program yet") && error.contains("x/program"))
        }
    }

    /// A runtime whose self mount is not up refuses exec ticks rather than run them without
    /// /n/self (agentd could not mount it, or it ended).
    @Test func withoutItsSelfMountAnExecTickFailsSayingSo() async throws {
        try await TestRuntime.with(sandbox: ScriptedSandbox(), selfMount: "/nowhere/.self") { rt in
            _ = try await rt.createAgent(id: "x", kind: "exec", program: Data("out {\"emit\": 1}\n".utf8))
            try await rt.ctl("x", "tick")
            #expect(try await records(rt, "error").first?["error"]?.stringValue?.contains("self mount") == true)
            #expect(try await rt.op.readString("/agents/x/outbox").isEmpty)
            rt.selfMount(isUp: true)
            try await rt.ctl("x", "tick")
            #expect(try await rt.lines("x", "outbox") == [.integer(1)])
        }
    }

    @Test func badConfigIsRefusedAtCreationAndPatch() async throws {
        try await withExec("exit 0\n") { rt, _ in
            for bad in [#"{"timeout_ms": 0}"#, #"{"timeout_ms": "1s"}"#, #"{"limits": {"memory_bytes": -1}}"#, #"{"limits": {"gpus": 1}}"#, #"{"limits": 3}"#] {
                await #expect(throws: FSError.self) { _ = try await rt.createAgent(id: "y", kind: "exec", config: try JSON(parsing: bad)) }
                await #expect(throws: FSError.self) { try await rt.op.write("/agents/x/config", bad) }
            }
            let config = try await rt.op.readString("/agents/x/config")
            #expect(config.hasPrefix("{}"))
            // Within the hard maximum but past the agent's containers/policy: refused at the patch.
            try await rt.op.write("/agents/x/containers/policy", #"{"maximum": {"timeout_ms": 5000, "memory_bytes": 67108864}}"#)
            await #expect(throws: FSError.self) { try await rt.op.write("/agents/x/config", #"{"timeout_ms": 6000}"#) }
            await #expect(throws: FSError.self) { try await rt.op.write("/agents/x/config", #"{"limits": {"memory_bytes": 134217728}}"#) }
            try await rt.op.write("/agents/x/config", #"{"timeout_ms": 4000}"#)
            #expect(try await rt.op.readString("/agents/x/config").contains("4000"))
        }
    }

    /// A program writing `tick` to its own ctl while its tick runs: the write returns (the
    /// tick it asks for cannot start until this one ends) and that tick follows.
    @Test func aProgramsOwnCtlTickQueuesTheNextTickAndReturns() async throws {
        try await withExec("hold\nout {\"emit\": 1}\n") { rt, sandbox in
            let first = Task { try await rt.ctl("x", "tick") }
            #expect(try await TestRuntime.eventually { sandbox.runs.count == 1 })
            // As the program would through /n/self: its own principal.
            let done = Done()
            let asked = Task {
                defer { done.set() }
                try await rt.client(as: .agent("x")).write("/agents/x/ctl", "tick\n")
            }
            #expect(await TestRuntime.eventually(5) { done.value }, "the agent's own ctl tick waited for the tick it runs in")
            #expect(try await rt.statusOf("x")["tick_count"] == .integer(0))
            sandbox.release()
            try await first.value
            // The tick it asked for follows.
            #expect(try await TestRuntime.eventually { sandbox.runs.count == 2 })
            sandbox.release()
            #expect(try await TestRuntime.eventually { try await rt.statusOf("x")["tick_count"] == .integer(2) })
            _ = try await asked.value
        }
    }

    @Test func deletingAnAgentEndsItsRunningProgram() async throws {
        try await withExec("hold\nout {\"emit\": 1}\n") { rt, sandbox in
            try await rt.send("x", "hi")
            #expect(try await TestRuntime.eventually { sandbox.runs.count == 1 })
            try await rt.deleteAgent("x")
            // The run was cancelled (the scripted hold returns only then), and nothing landed.
            #expect(try await TestRuntime.eventually { rt.programRunsCount == 0 })
            await #expect(throws: FSError.self) { try await rt.statusOf("x") }
        }
    }
}

final class Done: Sendable {
    let flag = Mutex(false)
    func set() { flag.withLock { $0 = true } }
    var value: Bool { flag.withLock { $0 } }
}
