import AgentNSTesting
import Foundation
import Namespace
import Runtime
import RuntimeSQLite
import Services
import Testing

/// containers/ through the in-process client, against a real SQLite file and a scripted sandbox
/// (the runtime's side: admission, budgets, output, notices, stop, recovery). The sandbox's
/// isolation and limits are SandboxTests', against bwrap itself.
@Suite struct ContainersTests {
    func withContainers(databasePath: String? = nil, sandbox: ScriptedSandbox = ScriptedSandbox(), create: Bool = true,
                        _ body: (Runtime, ScriptedSandbox) async throws -> Void) async throws {
        try await TestRuntime.with(databasePath: databasePath, sandbox: sandbox) { rt in
            if create { _ = try await rt.createAgent(id: "a", kind: "echo") }
            try await body(rt, sandbox)
        }
    }

    func call(_ rt: Runtime, _ path: String, _ body: String, as who: Principal = .operator) async throws -> JSON {
        try JSON(parsing: String(decoding: try await rt.client(as: who).write(path, Data(body.utf8), mode: .append), as: UTF8.self))
    }

    func newSession(_ rt: Runtime, _ body: String = "{}", agent: String = "a", as who: Principal = .operator) async throws -> String {
        try #require(try await call(rt, "/agents/\(agent)/containers/new", body, as: who)["session_id"]?.stringValue)
    }

    func exec(_ rt: Runtime, _ s: String, _ body: String, agent: String = "a") async throws -> JSON {
        try await call(rt, "/agents/\(agent)/containers/sessions/\(s)/exec/new", body)
    }

    func json(_ rt: Runtime, _ path: String) async throws -> JSON { try JSON(parsing: try await rt.op.readString(path)) }

    @Test func anExecRunsStreamsItsOutputSettlesAndTellsItsAgent() async throws {
        try await withContainers { rt, sandbox in
            try await rt.op.write("/agents/a/containers/policy", #"{"price_per_cpu_second": 1000}"#)
            let s = try await newSession(rt, #"{"limits": {"cpu_ms": 2000}, "files": {"main.py": "print(1)"}}"#)
            let r = try await exec(rt, s, #"{"argv": ["echo", "hello", "there"], "wait": true}"#)
            let e = try #require(r["exec_id"]?.stringValue)
            #expect(r["exit_code"] == .integer(0) && r["state"] == "exited" && r["truncated"] == .bool(false))
            let base = "/agents/a/containers/sessions/\(s)"
            #expect(try await rt.op.readString("\(base)/exec/\(e)/output") == #"{"data":"hello there\n","stream":"stdout"}"# + "\n")
            #expect(try await rt.op.readString("\(base)/output") == #"{"data":"hello there\n","exec":"\#(e)","stream":"stdout"}"# + "\n")
            let status = try await json(rt, "\(base)/exec/\(e)/status")
            // Reserved: the whole CPU limit (2 s at 1,000 micro-USD a second); charged: 1 ms of CPU.
            #expect(status["state"] == "exited" && status["reserved"] == .integer(2000) && status["cost"] == .integer(1))
            #expect(sandbox.runs.first?.limits.cpuMs == 2000)
            let usage = try await json(rt, "/agents/a/containers/usage")
            #expect(usage["spent"] == .integer(1) && usage["reserved"] == .integer(0) && usage["sessions"] == .integer(1) && usage["cpu_ms"] == .integer(1))
            // The files of the request are in the work directory.
            #expect(try await rt.op.readString("\(base)/files/main.py") == "print(1)")
            // The notice woke the echo agent, which answered it with the envelope SPEC describes.
            #expect(try await TestRuntime.eventually { try await rt.op.readString("/agents/a/outbox").contains(e) })
            let outbox = try await rt.op.readString("/agents/a/outbox")
            #expect(outbox.contains(#""from":"containers""#) || outbox.contains(#""exit_code":0"#))
            let trace = try await rt.op.readString("/agents/a/logs/trace")
            #expect(trace.contains("containers_session") && trace.contains("containers_exec") && trace.contains("containers_exec_end"))
        }
    }

    @Test func withoutWaitTheCallAnswersAtOnceAndTheResultComesLater() async throws {
        try await withContainers { rt, sandbox in
            let s = try await newSession(rt)
            let r = try await exec(rt, s, #"{"argv": ["hold"]}"#)
            let e = try #require(r["exec_id"]?.stringValue)
            #expect(r == .object(["exec_id": .string(e), "state": "running"]))
            let base = "/agents/a/containers/sessions/\(s)/exec/\(e)"
            await expectCode(.notFound) { _ = try await rt.op.readString("\(base)/result") }
            #expect(try await rt.op.list("/agents/a/containers/sessions/\(s)/exec/\(e)").map(\.name) == ["output", "status"])
            #expect(await TestRuntime.eventually { sandbox.runs.count == 1 })
            sandbox.release()
            #expect(try await TestRuntime.eventually { (try? await rt.op.readString("\(base)/result")) != nil })
            #expect(try await json(rt, "\(base)/status")["state"] == "exited")
        }
    }

    @Test func limitsAboveThePolicyAndUnknownKeysAreRefusedAndWriteNothing() async throws {
        try await withContainers { rt, _ in
            try await rt.op.write("/agents/a/containers/policy", #"{"maximum": {"memory_bytes": 134217728}}"#)
            await expectCode(.invalidInput) { _ = try await newSession(rt, #"{"limits": {"memory_bytes": 268435456}}"#) }
            await expectCode(.invalidInput) { _ = try await newSession(rt, #"{"limits": {"memory": 1}}"#) }
            await expectCode(.invalidInput) { _ = try await newSession(rt, #"{"colour": "red"}"#) }
            await expectCode(.invalidPath) { _ = try await newSession(rt, #"{"files": {"../x": "y"}}"#) }
            await expectCode(.invalidPath) { _ = try await newSession(rt, #"{"files": {"/etc/x": "y"}}"#) }
            #expect(try await rt.op.list("/agents/a/containers/sessions").isEmpty)
            // The session's defaults come from the policy, clamped to its maximum.
            let s = try await newSession(rt)
            #expect(try await json(rt, "/agents/a/containers/sessions/\(s)/status")["limits"]?["memory_bytes"] == .integer(134_217_728))
            await expectCode(.invalidInput) { _ = try await exec(rt, s, #"{"argv": []}"#) }
            await expectCode(.invalidInput) { _ = try await exec(rt, s, #"{"argv": ["echo"], "env": {"A B": "x"}}"#) }
            await expectCode(.invalidInput) { _ = try await exec(rt, s, #"{"argv": ["echo"], "limits": {"memory_bytes": 268435456}}"#) }
            await expectCode(.invalidInput) { try await rt.op.write("/agents/a/containers/policy", #"{"max_sessions": 0}"#) }
            #expect(try await rt.op.readString("/agents/a/logs/trace").contains("containers_exec") == false)
        }
    }

    @Test func aSandboxThatCannotEnforceALimitRefusesSessions() async throws {
        try await withContainers(sandbox: ScriptedSandbox(enforceable: [.timeout, .output])) { rt, _ in
            do {
                _ = try await newSession(rt)
                Issue.record("a session was created without its limits")
            } catch let e as FSError {
                #expect(e.code == .unavailable && e.message.contains("memory") && e.message.contains("cannot enforce"))
            }
        }
    }

    /// SPEC: spent + reserved never passes a limit. 32 execs at once, room for 10.
    @Test func budgetsHoldUnderThirtyTwoConcurrentExecs() async throws {
        try await withContainers { rt, sandbox in
            // Each exec reserves 1,000 ms × 1,000 micro-USD/s = 1,000; the life limit holds 10.
            try await rt.op.write("/agents/a/containers/policy", #"{"limit": 10000, "price_per_cpu_second": 1000, "max_running": 64, "defaults": {"cpu_ms": 1000}}"#)
            let s = try await newSession(rt)
            let outcomes = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<32 {
                    group.addTask {
                        do {
                            _ = try await exec(rt, s, #"{"argv": ["hold"]}"#)
                            return "admitted"
                        } catch let e as FSError { return e.code.rawValue }
                    }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(outcomes.filter { $0 == "admitted" }.count == 10)
            #expect(outcomes.filter { $0 == "budget_exceeded" }.count == 22)
            let during = try await json(rt, "/agents/a/containers/usage")
            #expect(during["reserved"] == .integer(10_000) && during["spent"] == .integer(0))
            #expect(await TestRuntime.eventually { sandbox.runs.count == 10 })
            sandbox.release()
            #expect(try await TestRuntime.eventually { try await json(rt, "/agents/a/containers/usage")["reserved"] == .integer(0) })
            // Each held exec reported 1 ms of CPU: charged 1 micro-USD each.
            #expect(try await json(rt, "/agents/a/containers/usage")["spent"] == .integer(10))
            await expectCode(.invalidInput) { _ = try await exec(rt, s, #"{"argv": ["echo"], "limits": {"cpu_ms": 99999999}}"#) }
        }
    }

    @Test func stopKillsRunningExecsDeletesTheFilesAndRefusesMoreExecs() async throws {
        try await withContainers { rt, sandbox in
            let s = try await newSession(rt, #"{"files": {"a/b.txt": "x"}}"#)
            let e = try #require(try await exec(rt, s, #"{"argv": ["hold"]}"#)["exec_id"]?.stringValue)
            try await rt.op.write("/agents/a/containers/sessions/\(s)/ctl", "stop")
            let status = try await json(rt, "/agents/a/containers/sessions/\(s)/exec/\(e)/status")
            #expect(status["state"] == "killed")
            #expect(try await json(rt, "/agents/a/containers/sessions/\(s)/status")["state"] == "stopped")
            #expect(await sandbox.sessionExists(SandboxSession(agent: "a", id: s)) == false)
            await expectCode(.notFound) { _ = try await rt.op.readString("/agents/a/containers/sessions/\(s)/files/a/b.txt") }
            await expectCode(.invalidInput) { _ = try await exec(rt, s, #"{"argv": ["echo"]}"#) }
            await expectCode(.invalidInput) { try await rt.op.write("/agents/a/containers/sessions/\(s)/ctl", "stop") }
            await expectCode(.invalidInput) { try await rt.op.write("/agents/a/containers/sessions/\(s)/ctl", "explode") }
            #expect(try await json(rt, "/agents/a/containers/usage")["reserved"] == .integer(0))
        }
    }

    @Test func maxSessionsIsQueueFull() async throws {
        try await withContainers { rt, _ in
            try await rt.op.write("/agents/a/containers/policy", #"{"max_sessions": 2}"#)
            let first = try await newSession(rt)
            _ = try await newSession(rt)
            await expectCode(.queueFull) { _ = try await newSession(rt) }
            try await rt.op.write("/agents/a/containers/sessions/\(first)/ctl", "stop")
            _ = try await newSession(rt)
        }
    }

    @Test func filesAreReadWrittenListedAndRemovedInsideTheWorkDirectory() async throws {
        try await withContainers { rt, _ in
            let s = try await newSession(rt, #"{"limits": {"disk_bytes": 64}}"#)
            let f = "/agents/a/containers/sessions/\(s)/files"
            try await rt.op.write("\(f)/src/main.py", "print(6*7)\n")
            try await rt.op.write("\(f)/src/main.py", "# end\n", mode: .append)
            #expect(try await rt.op.readString("\(f)/src/main.py") == "print(6*7)\n# end\n")
            #expect(String(decoding: try await rt.op.read("\(f)/src/main.py", try ByteRange(offset: 6, count: 3)).data, as: UTF8.self) == "6*7")
            #expect(try await rt.op.list(f).map(\.name) == ["src"])
            #expect(try await rt.op.list("\(f)/src").map(\.name) == ["main.py"])
            #expect(try await rt.op.stat("\(f)/src/main.py").size == 17)
            await expectCode(.budgetExceeded) { try await rt.op.write("\(f)/big", String(repeating: "x", count: 100)) }
            await expectCode(.invalidPath) { _ = try await rt.op.readString("\(f)/../../../status") }
            try await rt.op.remove("\(f)/src/main.py")
            await expectCode(.notFound) { _ = try await rt.op.readString("\(f)/src/main.py") }
        }
    }

    @Test func anAgentTokenSeesOnlyItsOwnSessionsAndCannotWriteThePolicy() async throws {
        try await withContainers { rt, _ in
            _ = try await rt.createAgent(id: "b", kind: "echo")
            let mine = try await newSession(rt, as: .agent("a"))
            let theirs = try await newSession(rt, agent: "b")
            #expect(try await rt.client(as: .agent("a")).list("/agents/a/containers/sessions").map(\.name) == [mine])
            await expectCode(.notFound) { _ = try await rt.client(as: .agent("a")).list("/agents/a/containers/sessions/\(theirs)") }
            do {
                _ = try await rt.client(as: .agent("a")).list("/agents/b/containers/sessions")
                Issue.record("agent a listed agent b's sessions")
            } catch let e as FSError { #expect(e.code == .permissionDenied || e.code == .notFound) }
            await expectCode(.permissionDenied) { try await rt.client(as: .agent("a")).write("/agents/a/containers/policy", #"{"limit": 999999999}"#) }
            let policy = try await rt.client(as: .agent("a")).readString("/agents/a/containers/policy")
            #expect(policy.hasPrefix("{}"))
        }
    }

    /// A restart finds the exec a previous process left running: it is reported killed, its
    /// reservation released once, its agent told once; the session and its files are kept.
    @Test func execsRunningWhenTheProcessStoppedAreReportedKilledOnce() async throws {
        let path = try TestRuntime.temporaryDirectory() + "/agentd.sqlite"
        let sandbox = ScriptedSandbox()
        let ids = try await TestRuntime.with(databasePath: path, sandbox: sandbox) { rt in
            _ = try await rt.createAgent(id: "a", kind: "echo")
            let s = try await newSession(rt, #"{"files": {"keep.txt": "kept"}}"#)
            let e = try #require(try await exec(rt, s, #"{"argv": ["hold"]}"#)["exec_id"]?.stringValue)
            #expect(try await json(rt, "/agents/a/containers/usage")["reserved"] != .integer(0))
            return [s, e]
        }
        let (sid, eid) = (ids[0], ids[1])
        for _ in 0..<2 {
            try await withContainers(databasePath: path, sandbox: sandbox, create: false) { (rt: Runtime, _: ScriptedSandbox) async throws in
                let base = "/agents/a/containers/sessions/\(sid)"
                #expect(try await TestRuntime.eventually { try await json(rt, "\(base)/exec/\(eid)/status")["state"] == "killed" })
                #expect(try await json(rt, "\(base)/exec/\(eid)/result")["error"]?.stringValue?.hasPrefix("killed: agentd stopped") == true)
                #expect(try await json(rt, "/agents/a/containers/usage")["reserved"] == .integer(0))
                #expect(try await json(rt, "\(base)/status")["state"] == "running")
                #expect(try await rt.op.readString("\(base)/files/keep.txt") == "kept")
                #expect(try await TestRuntime.eventually { try await rt.op.readString("/agents/a/outbox").contains(eid) })
            }
        }
        // One notice across both restarts.
        try await withContainers(databasePath: path, sandbox: sandbox, create: false) { rt, _ in
            try? await Task.sleep(for: .milliseconds(200))
            let outbox = try await rt.op.readString("/agents/a/outbox")
            #expect(outbox.components(separatedBy: eid + "\"").count - 1 >= 1)
            #expect(outbox.split(separator: "\n").filter { $0.contains(eid) }.count == 1)
        }
    }

    @Test func manyOutputLinesReadWholeInRangesAndWatchable() async throws {
        try await withContainers { rt, _ in
            let s = try await newSession(rt)
            let r = try await exec(rt, s, #"{"argv": ["lines", "500"], "wait": true}"#)
            let e = try #require(r["exec_id"]?.stringValue)
            let path = "/agents/a/containers/sessions/\(s)/exec/\(e)/output"
            let whole = try await rt.op.read(path)
            let lines = String(decoding: whole, as: UTF8.self).split(separator: "\n")
            // Lines may be batched into fewer records, never lost or reordered.
            let text = lines.compactMap { try? JSON(parsing: String($0))["data"]?.stringValue }.joined()
            #expect(text == (0..<500).map { "line \($0)\n" }.joined())
            var chunked = Data()
            var offset: Int64 = 0
            while true {
                let slice = try await rt.op.read(path, try ByteRange(offset: offset, count: 1000))
                if slice.data.isEmpty { break }
                chunked.append(slice.data)
                offset += Int64(slice.data.count)
            }
            #expect(chunked == whole)
            #expect(try await rt.op.stat(path).size == Int64(whole.count))
        }
    }
}
