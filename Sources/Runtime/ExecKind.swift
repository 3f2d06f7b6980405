import Crypto
public import Foundation
public import Namespace

/// An exec agent's program: at most `maxBytes`, identified by its SHA-256.
public enum ProgramLimits {
    public static let maxBytes = 1 << 20
    /// stderr lines kept in the trace per tick, and bytes per line.
    public static let maxStderrLines = 256
    public static let maxStderrLineBytes = 4096

    public static func sha256(_ data: Data) -> String { Hex.encode(Array(SHA256.hash(data: data))) }
}

/// What a tick of an exec agent may ask of the runtime: run the agent's program once.
public protocol TickExec: Sendable {
    func runProgram(stdin: Data, config: ExecConfig) async throws -> ProgramRun
}

/// An exec agent's own config keys: `timeout_ms` (the tick's wall time) and `limits` (the
/// sandbox's, under the agent's containers/policy maximum).
public struct ExecConfig: Sendable, Equatable {
    public var timeoutMs: Int64?
    public var limits: JSON?

    public init(_ config: JSON) throws(FSError) {
        switch config["timeout_ms"] {
        case nil, .null?: timeoutMs = nil
        case .integer(let t)? where t >= 1 && t <= 86_400_000: timeoutMs = t
        default: throw FSError.invalidInput("exec config: 'timeout_ms' is an integer in 1...86400000 (milliseconds a tick's program may run)")
        }
        switch config["limits"] {
        case nil, .null?: limits = nil
        case let l? where l.objectValue != nil:
            // Checked against the hard maximum here; the agent's policy is applied when it runs.
            _ = try SandboxLimits.defaults.applying(l, maximum: .maximum, what: "exec config 'limits'")
            limits = l
        default: throw FSError.invalidInput("exec config: 'limits' is an object of sandbox limits (memory_bytes, pids, cpu_ms, output_bytes, disk_bytes)")
        }
    }
}

extension ExecConfig {
    /// The sandbox limits a tick runs with under `policy` (invalid_input past its maximum).
    public func limits(under policy: ContainersPolicy) throws(FSError) -> SandboxLimits {
        var out = try policy.defaults.applying(limits, maximum: policy.maximum, what: "config.limits")
        if let t = timeoutMs {
            guard t <= policy.maximum.timeoutMs else {
                throw FSError.invalidInput("config.timeout_ms \(t) is above containers/policy's maximum timeout_ms (\(policy.maximum.timeoutMs))")
            }
            out.timeoutMs = t
        }
        return out
    }

    public func check(under policy: ContainersPolicy) throws(FSError) { _ = try limits(under: policy) }
}

/// How one run of the program went.
public struct ProgramRun: Sendable {
    public var stdout: String
    public var stderr: String
    public var exit: SandboxExit
    public var programVersion: Int64
    /// Stopped by agentd's shutdown: the tick is left to run again after the restart, as after
    /// a crash, and is not a failed attempt.
    public var abandoned = false

    public init(stdout: String, stderr: String, exit: SandboxExit, programVersion: Int64) {
        self.stdout = stdout
        self.stderr = stderr
        self.exit = exit
        self.programVersion = programVersion
    }
}

/// A tick that neither commits nor fails: agentd is stopping under it, and its envelopes and
/// alarms are left as they were for the next start (as a crash would leave them).
public struct TickAbandoned: Error, CustomStringConvertible {
    public var description: String { "the tick was stopped by agentd's shutdown" }
}

/// A failed tick that still has something to say in the trace (the program's stderr): the
/// records go into the failure's trace; nothing else of the tick is kept.
public struct TracedTickError: Error, CustomStringConvertible {
    public var message: String
    public var trace: [JSON]
    public var description: String { message }
}

/// Any program is an agent (SPEC "Exec agents"): each tick runs the agent's `program` once in
/// a sandbox, with the tick as one JSON object on stdin and its effects as JSON lines on
/// stdout. Exit 0 commits every effect with the tick; anything else commits none of them.
public struct ExecKind: AgentKind {
    public let name = "exec"
    public init() {}

    public func validate(config: JSON) throws { _ = try ExecConfig(config) }

    public func onTick(_ context: TickContext) async throws {
        guard let exec = context.exec else {
            throw FSError(.unavailable, "this runtime runs no exec agents: it has no sandbox (agentd needs bubblewrap and root; see docs/exec.md)")
        }
        let config = try ExecConfig(context.config)
        let input: JSON = .object([
            "agent": .string(context.agentID), "tick": .int64(context.tick), "cause": .string(context.cause.rawValue),
            "envelopes": .array(context.envelopes.map(\.json)),
            "alarms": .array(context.alarms.map { a in
                .object(["id": .string(a.id), "due_at": .string(Timestamp.iso(a.dueAt)), "every_ms": a.everyMs.map { .int64($0) } ?? .null,
                         "source": .string(a.source.rawValue)])
            }),
            "state": context.state, "config": context.config,
        ])
        let run = try await exec.runProgram(stdin: Data((input.description + "\n").utf8), config: config)
        var trace = Self.stderrRecords(run.stderr, at: context.now)
        let exit = run.exit
        var exitFields: [String: JSON] = ["version": .int64(run.programVersion), "duration_ms": .int64(exit.durationMs), "cpu_ms": .int64(exit.cpuMs),
                                          "max_rss_kb": .int64(exit.maxRSSKB)]
        exitFields["exit_code"] = exit.exitCode.map { .int(Int($0)) } ?? .null
        if let s = exit.signal { exitFields["signal"] = .int(Int(s)) }
        if let k = exit.killedBy { exitFields["killed_by"] = .string(k.rawValue) }
        trace.append(Trace.record("program_exit", at: context.now, exitFields))
        func fail(_ message: String) -> TracedTickError { TracedTickError(message: message, trace: trace) }
        if let killed = exit.killedBy {
            let what = killed == .timeout ? "ran past its timeout_ms (\(exit.durationMs) ms)" : "passed its \(killed.rawValue) limit"
            throw fail("the program \(what); nothing of the tick was committed")
        }
        if exit.cancelled {
            if run.abandoned { throw TickAbandoned() }
            throw fail("the program was stopped (the agent was deleted)")
        }
        guard exit.exitCode == 0 else {
            let how = exit.exitCode.map { "exited with status \($0)" } ?? "was killed by signal \(exit.signal ?? 0)"
            throw fail("the program \(how); nothing of the tick was committed (its stderr is in the trace)")
        }
        if exit.truncated { throw fail("the program's output passed its output_bytes limit; nothing of the tick was committed") }
        for t in trace { context.append(trace: t) }
        if let problem = ProgramEffects.problem(applying: run.stdout, to: context) { throw fail(problem) }
    }

    static func stderrRecords(_ text: String, at now: Int64) -> [JSON] {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
        if lines.last == "" { lines.removeLast() }
        var out: [JSON] = []
        for line in lines.prefix(ProgramLimits.maxStderrLines) {
            let kept = line.utf8.count <= ProgramLimits.maxStderrLineBytes ? line
                : String(decoding: line.utf8.prefix(ProgramLimits.maxStderrLineBytes), as: UTF8.self)
            out.append(Trace.record("stderr", at: now, ["line": .string(kept)]))
        }
        if lines.count > ProgramLimits.maxStderrLines {
            out.append(Trace.record("stderr_dropped", at: now, ["lines": .int(lines.count - ProgramLimits.maxStderrLines)]))
        }
        return out
    }
}

/// The effect lines a program prints, applied to its tick's context. A line that is not one
/// of the effects is refused with its number, and the tick with it.
enum ProgramEffects {
    /// Trace records only the runtime writes: a program cannot forge them.
    static let runtimeTypes: Set<String> = [
        "tick_start", "tick_end", "error", "state_change", "created", "imported", "config_change", "program_change", "program_exit",
        "stderr", "stderr_dropped", "reply", "message", "dead_lettered", "dropped", "replayed", "discarded", "alarm_given_up",
        "compute_submit", "compute_first_token", "compute_finish", "containers_session", "containers_session_end", "containers_exec",
        "containers_exec_end",
    ]

    /// Applies every effect line; the first refused line's message, or nil.
    static func problem(applying stdout: String, to context: TickContext) -> String? {
        do {
            try apply(stdout, to: context)
            return nil
        } catch {
            return error.message
        }
    }

    static func apply(_ stdout: String, to context: TickContext) throws(FSError) {
        var number = 0
        for raw in stdout.split(separator: "\n", omittingEmptySubsequences: false) {
            number += 1
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty { continue }
            func bad(_ why: String) -> FSError {
                let shown = line.utf8.count <= 200 ? line : String(decoding: line.utf8.prefix(200), as: UTF8.self) + "..."
                return FSError.invalidInput("effect line \(number): \(why): \(shown)")
            }
            guard let effect = try? JSON(parsing: String(line)), case .object(let o) = effect else {
                throw bad("not a JSON object")
            }
            guard o.count == 1, let (name, value) = o.first else {
                throw bad("an effect is an object with one key (reply, emit, state, goal, goal_remove, alarm, trace)")
            }
            do {
                try apply(name, value, to: context)
            } catch {
                throw bad(error.message)
            }
        }
    }

    static func apply(_ name: String, _ value: JSON, to context: TickContext) throws(FSError) {
        switch name {
        case "reply":
            guard let to = value["to"]?.stringValue else { throw FSError.invalidInput("reply needs \"to\": the id of the envelope it answers") }
            if let envelope = context.envelopes.first(where: { $0.id == to }) {
                context.reply(to: envelope, body: value["body"] ?? .null)
            } else if let from = value["from"]?.stringValue {
                // An envelope of an earlier tick (kept in state while the answer was made): its
                // sender comes with it.
                guard AgentID.isValid(to), !from.isEmpty, from.utf8.count <= 256 else {
                    throw FSError.invalidInput("reply to '\(to)': \"to\" is an envelope id and \"from\" its sender")
                }
                context.reply(to: Envelope(id: to, from: from, kind: "message", body: .null, sentAt: context.now), body: value["body"] ?? .null)
            } else {
                throw FSError.invalidInput("reply to '\(to)': no envelope of this tick has that id (to answer an earlier one, give its sender as \"from\")")
            }
        case "emit":
            context.emit(value)
        case "state":
            context.state = value
        case "goal":
            guard let id = value["id"]?.stringValue else { throw FSError.invalidInput("goal needs a string \"id\"") }
            do { try context.setGoal(id, value["body"] ?? .null) } catch let e as FSError { throw e } catch { throw FSError.invalidInput("\(error)") }
        case "goal_remove":
            guard let id = value.stringValue, AgentID.isValid(id) else { throw FSError.invalidInput("goal_remove takes a goal id") }
            context.removeGoal(id)
        case "alarm":
            guard let id = value["id"]?.stringValue else { throw FSError.invalidInput("alarm needs a string \"id\"") }
            let at: Int64
            switch (value["at"], value["in_ms"]) {
            case (.integer(let ms)?, nil): at = ms
            case (.string(let iso)?, nil):
                guard let ms = Timestamp.parse(iso) else { throw FSError.invalidInput("alarm '\(id)': \"at\" is milliseconds since the epoch or an ISO 8601 time") }
                at = ms
            case (nil, .integer(let ms)?) where ms >= 0 && ms <= Alarm.maxTime: at = context.now + ms
            default: throw FSError.invalidInput("alarm '\(id)' needs one of \"at\" (ms since the epoch or ISO 8601) and \"in_ms\" (a non-negative integer)")
            }
            var every: Int64?
            switch value["every_ms"] {
            case nil, .null?: every = nil
            case .integer(let e)?: every = e
            default: throw FSError.invalidInput("alarm '\(id)': \"every_ms\" is an integer")
            }
            do { try context.schedule(alarm: id, at: at, everyMs: every) } catch let e as FSError { throw e } catch { throw FSError.invalidInput("\(error)") }
        case "trace":
            guard case .object(var fields) = value else { throw FSError.invalidInput("trace takes a JSON object") }
            let type = fields.removeValue(forKey: "type")?.stringValue ?? "trace"
            guard !ProgramEffects.runtimeTypes.contains(type) else {
                throw FSError.invalidInput("trace type '\(type)' is the runtime's own; name the record something else")
            }
            fields["at"] = nil
            context.trace(type, fields)
        default:
            throw FSError.invalidInput("unknown effect '\(name)'")
        }
    }
}
