import AgentClient
import AsyncHTTPClient
import Foundation
import Glibc
import Namespace
import NIOCore
import Runtime
import Synchronization

// Exec agents against their same-run baselines: a real agentd (the release build beside this
// binary, a fresh data directory, a real port, its bubblewrap provider and its self mount)
// driven over HTTP, each reply seen on the agent's outbox through `?watch=1` (SSE); and
// bubblewrap spawned directly from this process as the sandbox user (uid 65534) with the exact
// command line agentd's bwrap was started with for a tick, read from /proc while one runs.
// Needs root (as agentd does for its sandbox).

// MARK: - Replies seen on outboxes

/// A millisecond wall-clock time (CLOCK_REALTIME, as agentd's `at` and `date +%s%N`).
func wallMs() -> Double { Date().timeIntervalSince1970 * 1000 }

/// Replies by the envelope they answer, as they arrive on the outboxes' SSE streams.
final class Replies: Sendable {
    struct Arrival: Sendable {
        let wall: Double
        let instant: ContinuousClock.Instant
    }
    struct State {
        var arrivals: [String: [Arrival]] = [:]
        var total = 0
        var waiters: [Int: (target: Int, c: CheckedContinuation<Bool, Never>)] = [:]
        var expired: Set<Int> = []
        var next = 0
    }
    let state = Mutex(State())

    func add(_ id: String) {
        let a = Arrival(wall: wallMs(), instant: .now)
        let ready = state.withLock { s -> [CheckedContinuation<Bool, Never>] in
            s.arrivals[id, default: []].append(a)
            s.total += 1
            let total = s.total
            let due = s.waiters.filter { $0.value.target <= total }
            for k in due.keys { s.waiters[k] = nil }
            return due.values.map(\.c)
        }
        for c in ready { c.resume(returning: true) }
    }

    var total: Int { state.withLock { $0.total } }
    func first(_ id: String) -> Arrival? { state.withLock { $0.arrivals[id]?.first } }
    func count(_ id: String) -> Int { state.withLock { $0.arrivals[id]?.count ?? 0 } }

    /// Waits until `target` replies have arrived in all; false after `timeout`.
    func wait(total target: Int, timeout: Duration) async -> Bool {
        let key = state.withLock { s -> Int in
            s.next += 1
            return s.next
        }
        let timer = Task {
            try? await Task.sleep(for: timeout)
            self.expire(key)
        }
        defer { timer.cancel() }
        return await withCheckedContinuation { (c: CheckedContinuation<Bool, Never>) in
            let now: Bool? = state.withLock { s in
                if s.total >= target { return true }
                if s.expired.contains(key) { return false }
                s.waiters[key] = (target, c)
                return nil
            }
            if let now { c.resume(returning: now) }
        }
    }

    private func expire(_ key: Int) {
        let w = state.withLock { s in
            let w = s.waiters.removeValue(forKey: key)
            if w == nil { s.expired.insert(key) }
            return w
        }
        w?.c.resume(returning: false)
    }
}

/// Follows an agent's outbox with `?watch=1` from its current end: every reply goes to `replies`.
func followReplies(_ fs: HTTPFileClient, _ agent: String, _ replies: Replies) async throws -> Task<Void, Never> {
    let path = "/agents/\(agent)/outbox"
    let (_, last) = try await fs.readWithLastEventID(path)
    let stream = try await fs.watch(path, after: last, reconnect: true)
    return Task {
        do {
            for try await r in stream {
                if let id = (try? JSON(parsing: r.data))?["in_reply_to"]?.stringValue { replies.add(id) }
            }
        } catch {}
    }
}

/// The JSON lines of a log.
func jsonLines(_ data: Data) -> [JSON] {
    String(decoding: data, as: UTF8.self).split(separator: "\n").compactMap { try? JSON(parsing: String($0)) }
}

extension BareRun {
    /// With cgroups: making them to the reap, without reading and removing them after (the
    /// provider removes an exec's groups off its path).
    var onPathMs: Double { setupMs + spawnMs }
}

extension BareBwrap {
    /// The same flags without the bind at `inside` (and the `--dir` made for it).
    func without(bindAt inside: String) -> BareBwrap {
        var f = flags
        if let i = f.indices.dropLast(2).first(where: { f[$0] == "--bind" && f[$0 + 2] == inside }) {
            f.removeSubrange(i...(i + 2))
            let parent = (inside as NSString).deletingLastPathComponent
            if i >= 2, f[i - 2] == "--dir", f[i - 1] == parent { f.removeSubrange((i - 2)..<i) }
        }
        return BareBwrap(flags: f, seccomp: seccomp)
    }
}

private func loadAverage() -> String {
    ((try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)) ?? "?").split(separator: " ").prefix(3).joined(separator: " ")
}

// MARK: - The benchmark

func execBench() async throws {
    guard geteuid() == 0 else { throw FSError(.unavailable, "agentns-bench --exec runs as root (agentd's sandbox and self mount need it, and so does the baseline)") }
    guard access("/usr/bin/bwrap", X_OK) == 0 else { throw FSError(.unavailable, "bubblewrap is missing: apt-get install bubblewrap") }
    let options = ExecBenchOptions(
        rounds: arg("--rounds", 200), partRounds: arg("--part-rounds", 100), agents: arg("--agents", 100), messages: arg("--messages", 10),
        connections: arg("--connections", 16), threads: arg("--threads", 64), loadRounds: arg("--load-rounds", 3))
    let work = try benchDirectory("exec")
    // The work directories (and the self mount, <root>/.self) beside the data directory: one removal cleans up.
    let agentd = try await AgentdProcess.start(data: work + "/data", sandboxRoot: work + "/sandbox")
    var config = HTTPClient.Configuration()
    // One SSE stream per agent stays open, beside the senders' connections.
    config.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: options.agents + options.connections + 32)
    let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    do {
        try await execFigures(agentd: agentd, http: http, work: work, options: options)
    } catch {
        try? await http.shutdown()
        agentd.stop()
        throw error
    }
    try await http.shutdown()
    agentd.stop()
    // Never remove through a mount agentd left behind.
    let mounts = (try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8)) ?? ""
    if mounts.contains(" " + work + "/") {
        log("a mount is left under \(work) after agentd stopped; not removing it")
    } else {
        try? FileManager.default.removeItem(atPath: work)
    }
}

struct ExecBenchOptions {
    let rounds: Int
    let partRounds: Int
    let agents: Int
    let messages: Int
    let connections: Int
    /// Bare threads for part 2: agentd's tick concurrency (Runtime's maxConcurrentTicks, 64 by
    /// default; agentd does not change it).
    let threads: Int
    let loadRounds: Int
}

/// What one program's ticks took, and the bare runs interleaved with them.
struct TickFigures {
    let program: ExecProgram
    /// Send (POST) -> the reply seen on the outbox stream.
    var total: [Double] = []
    /// The POST of the message alone.
    var post: [Double] = []
    var bareTrue: [Double] = []
    var bareTrueCgroups: [Double] = []
    var bareTrueSelfCgroups: [Double] = []
    /// Reading and removing a bare run's cgroups (the provider does it off the exec's path).
    var cgroupTeardown: [Double] = []
    /// The same program, bare, with the self bind, fresh cgroups and a tick's stdin.
    var bareProgram: [Double] = []
    var agentdCPU = (own: 0.0, children: 0.0)
    // From the agent's trajectory and trace, by envelope.
    var sendToTickStart: [Double] = []
    var onTick: [Double] = []
    var providerRun: [Double] = []
    var providerCPU: [Double] = []
    var onTickOutsideRun: [Double] = []
    var onTickEndToClient: [Double] = []
    // With bench_stamps.
    var tickStartToProgram: [Double] = []
    var programBody: [Double] = []
    var programEndToOnTickEnd: [Double] = []
}

func execFigures(agentd: AgentdProcess, http: HTTPClient, work: String, options: ExecBenchOptions) async throws {
    var client = HTTPFileClient(url: "http://127.0.0.1:\(agentd.port)", token: agentd.token, http: http)
    client.timeout = .seconds(120)
    let fs = client
    let agentdPid = agentd.process.processIdentifier

    @Sendable func create(_ id: String, _ program: ExecProgram, config: JSON = .object([:])) async throws {
        let body = JSON.object(["id": .string(id), "kind": "exec", "config": config, "program": .string(program.text)]).description
        _ = try await fs.post("/agents", body: Data(body.utf8))
    }
    @Sendable func send(_ agent: String, _ id: String, _ body: String) async throws {
        let b = JSON.object(["id": .string(id), "body": .string(body)]).description
        _ = try await fs.post("/agents/\(agent)/inbox", body: Data(b.utf8))
    }
    func recent(_ agent: String) async -> String {
        let trace = jsonLines((try? await fs.read("/agents/\(agent)/logs/trace", .all).data) ?? Data())
        return trace.suffix(6).map(\.description).joined(separator: "\n")
    }

    // The baseline: the bwrap command line of a tick, read while the probe's program sleeps, and
    // the tick it was given (its stdin).
    try await create("probe", ExecPrograms.probe)
    let info = try await fs.read("/agents/probe/containers/providers/local/info", .all).data
    log("agentd \(agentdPid) on port \(agentd.port), data \(agentd.data); load average \(loadAverage()); provider: "
        + String(decoding: info, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
    try await send("probe", "probe-1", "ping")
    var captured: BareBwrap?
    let deadline = ContinuousClock.now + .seconds(10)
    while captured == nil, ContinuousClock.now < deadline {
        captured = BareBwrap.capture(childOf: agentdPid)
        if captured == nil { try await Task.sleep(for: .milliseconds(1)) }
    }
    guard let tickBwrap = captured, tickBwrap.flags.contains("/n/self") else {
        throw FSError(.unavailable, "could not read the command line of a tick's bwrap (with /n/self): \(captured?.flags ?? []); trace:\n\(await recent("probe"))")
    }
    var tickStdin: Data?
    while tickStdin == nil, ContinuousClock.now < deadline + .seconds(10) {
        let outbox = jsonLines(try await fs.read("/agents/probe/outbox", .all).data)
        if let t = outbox.first?["tick"] { tickStdin = Data((t.description + "\n").utf8) }
        else { try await Task.sleep(for: .milliseconds(50)) }
    }
    guard let tickStdin else { throw FSError(.unavailable, "the probe's tick did not emit its stdin; trace:\n\(await recent("probe"))") }
    // A work directory of the bench's own, like the tick's (the sandbox user's, 0700), with the programs.
    let bareWork = work + "/bare/work"
    mkdir(work + "/bare", 0o711)
    mkdir(bareWork, 0o700)
    chown(bareWork, 65534, 65534)
    let echo = ExecPrograms.echo()
    let programs = [ExecPrograms.sh, echo, ExecPrograms.python, ExecPrograms.selfRead, ExecPrograms.stamped].compactMap { $0 }
    for p in programs {
        let path = bareWork + "/" + p.name
        guard FileManager.default.createFile(atPath: path, contents: Data(p.text.utf8)) else { throw FSError(.unavailable, "cannot write \(path)") }
        chmod(path, 0o755)
        chown(path, 65534, 65534)
    }
    // The tick's flags with the bench's work directory, and the same without the /n/self bind.
    // The self mount serves /<agent> only to processes in cgroups labelled tick.<agent>, and only
    // while that agent's program runs: the runs with the bind bind agent hold's, whose program
    // sleeps through its tick, and join fresh cgroups labelled tick.hold (as the provider makes them).
    let plain = tickBwrap.binding(bareWork).without(bindAt: "/n/self")
    let selfHost = tickBwrap.flags.indices.dropLast(2).first { tickBwrap.flags[$0] == "--bind" && tickBwrap.flags[$0 + 2] == "/n/self" }.map { tickBwrap.flags[$0 + 1] } ?? ""
    let withSelf = BareBwrap(flags: tickBwrap.binding(bareWork).flags.map { $0 == selfHost ? (selfHost as NSString).deletingLastPathComponent + "/hold" : $0 },
                             seccomp: tickBwrap.seccomp)
    @Sendable func bareSelf(_ argv: [String], stdin: Data? = nil) -> BareRun {
        withSelf.run(argv, cgroups: true, stdin: stdin, label: Runtime.programLabel("hold"))
    }
    guard plain.run(["/bin/true"]).status == 0 else {
        throw FSError(.unavailable, "bare bwrap /bin/true failed as uid 65534: bwrap " + plain.flags.joined(separator: " "))
    }
    try await create("hold", ExecPrograms.hold, config: .object(["timeout_ms": .int64(3_600_000)]))
    try await send("hold", "hold-1", "hold")
    var held = false
    for _ in 0..<500 where !held {
        held = bareSelf(["/bin/true"]).status == 0
        if !held { try await Task.sleep(for: .milliseconds(20)) }
    }
    guard held else { throw FSError(.unavailable, "bare bwrap with /n/self bound failed while hold's program ran: bwrap " + withSelf.flags.joined(separator: " ")) }
    for p in programs {
        let r = bareSelf(["/work/" + p.name], stdin: tickStdin)
        guard r.status == 0, r.stdout.contains("reply"), r.stdout.contains(#""probe-1""#) else {
            throw FSError(.unavailable, "bare \(p.name) failed (status \(r.status), stdout '\(r.stdout)'); its stdin: \(String(decoding: tickStdin, as: UTF8.self))")
        }
    }
    log("a tick's bwrap (read from /proc while the probe's program ran): bwrap " + tickBwrap.flags.joined(separator: " ") + " /work/program")
    log("baselines: fork, drop to uid 65534, exec bwrap with those flags and this bench's own work directory, read the output to the end, reap;"
        + " 'bare' leaves out the /n/self bind, '+cgroups' joins fresh memory/pids/cpuacct groups as the provider does (their removal is not timed:"
        + " the provider removes them off the exec's path), '+self' keeps the bind, of agent hold's /n/self while its program runs (in cgroups labelled"
        + " tick.hold, the only processes it serves /hold to); the bare programs get the probe's real tick on stdin (\(tickStdin.count) bytes)")
    if echo == nil { log("examples/echo.sh not found (from the repository root?): its row is left out") }
    var rows: [GoalRow] = []

    /// `rounds` ticks of each program (one message each, sequential, the reply seen on the
    /// outbox's stream), the programs' ticks and the bare runs interleaved round by round (so a
    /// change in the machine's load falls on all of them alike), then the parts from the logs.
    func ticks(_ programs: [ExecProgram], rounds: Int, tag: String) async throws -> [TickFigures] {
        let agents = programs.map { "\(tag)-" + $0.name.replacingOccurrences(of: ".", with: "-") }
        let replies = programs.map { _ in Replies() }
        var follows: [Task<Void, Never>] = []
        defer { for t in follows { t.cancel() } }
        for (j, p) in programs.enumerated() {
            try await create(agents[j], p)
            follows.append(try await followReplies(fs, agents[j], replies[j]))
        }
        var f = programs.map { TickFigures(program: $0) }
        var sentAt: [String: Double] = [:]
        func one(_ j: Int, _ id: String) async throws -> (total: Double, post: Double) {
            let before = replies[j].total
            sentAt[id] = wallMs()
            let t0 = ContinuousClock.now
            try await send(agents[j], id, "ping")
            let t1 = ContinuousClock.now
            guard await replies[j].wait(total: before + 1, timeout: .seconds(60)), let a = replies[j].first(id) else {
                throw FSError(.unavailable, "\(agents[j]): no reply to \(id) within 60 s; the trace ends:\n\(await recent(agents[j]))")
            }
            return (seconds(a.instant - t0) * 1000, seconds(t1 - t0) * 1000)
        }
        for i in 0..<10 {  // warm both paths
            for (j, p) in programs.enumerated() {
                _ = bareSelf(["/work/" + p.name], stdin: tickStdin)
                _ = try await one(j, "\(agents[j])-warm-\(i)")
            }
        }
        var bareTrue: [Double] = [], bareTrueCgroups: [Double] = [], bareTrueSelfCgroups: [Double] = [], cgroupTeardown: [Double] = []
        for i in 0..<rounds {
            // The bare runs in a rotating order (none always follows the same one), then the ticks, rotating too.
            let bares = 3 + programs.count
            for k in 0..<bares {
                switch (i + k) % bares {
                case 0: bareTrue.append(plain.run(["/bin/true"]).ms)
                case 1:
                    let cg = plain.run(["/bin/true"], cgroups: true)
                    bareTrueCgroups.append(cg.onPathMs)
                    cgroupTeardown.append(cg.teardownMs)
                case 2: bareTrueSelfCgroups.append(bareSelf(["/bin/true"]).onPathMs)
                case let n:
                    let p = bareSelf(["/work/" + programs[n - 3].name], stdin: tickStdin)
                    guard p.status == 0 else { throw FSError(.unavailable, "bare \(programs[n - 3].name) exited with status \(p.status)") }
                    f[n - 3].bareProgram.append(p.onPathMs)
                }
            }
            for k in 0..<programs.count {
                let j = (i + k) % programs.count
                let id = "\(agents[j])-\(i)"
                let a0 = processCPUSeconds(agentdPid)
                let (total, post) = try await one(j, id)
                let a1 = processCPUSeconds(agentdPid)
                f[j].agentdCPU.own += a1.own - a0.own
                f[j].agentdCPU.children += a1.children - a0.children
                f[j].total.append(total)
                f[j].post.append(post)
            }
        }
        for j in programs.indices {
            f[j].bareTrue = bareTrue
            f[j].bareTrueCgroups = bareTrueCgroups
            f[j].bareTrueSelfCgroups = bareTrueSelfCgroups
            f[j].cgroupTeardown = cgroupTeardown
            // The parts, by envelope: the trajectory's `at` (the tick's start, whole ms) and
            // duration_ms (the kind's onTick: the program's run and what the runtime does around
            // it), program_exit's duration_ms and cpu_ms (the provider's spawn -> reap), the stamps.
            var tickAt: [String: Double] = [:], onTick: [String: Double] = [:]
            for t in jsonLines(try await fs.read("/agents/\(agents[j])/logs/trajectory", .all).data) {
                guard t["outcome"]?.stringValue == "ok", let e = t["envelopes"]?.arrayValue?.first?.stringValue,
                      let at = t["at"]?.stringValue.flatMap(Timestamp.parse), let d = t["duration_ms"]?.doubleValue else { continue }
                tickAt[e] = Double(at)
                onTick[e] = d
            }
            var run: [String: (ms: Double, cpu: Double)] = [:], stamps: [String: (start: Double, end: Double)] = [:]
            var current: String?
            for r in jsonLines(try await fs.read("/agents/\(agents[j])/logs/trace", .all).data) {
                switch r["type"]?.stringValue {
                case "tick_start": current = r["envelopes"]?.arrayValue?.first?.stringValue
                case "program_exit":
                    if let c = current, let d = r["duration_ms"]?.doubleValue { run[c] = (d, r["cpu_ms"]?.doubleValue ?? 0) }
                case "bench_stamps":
                    if let c = current, let s = r["start_ns"]?.doubleValue, let e = r["end_ns"]?.doubleValue { stamps[c] = (s / 1e6, e / 1e6) }
                default: break
                }
            }
            for i in 0..<rounds {
                let id = "\(agents[j])-\(i)"
                guard let at = tickAt[id], let d = onTick[id], let sent = sentAt[id], let reply = replies[j].first(id)?.wall else { continue }
                f[j].sendToTickStart.append(at - sent)
                f[j].onTick.append(d)
                f[j].onTickEndToClient.append(reply - (at + d))
                if let r = run[id] {
                    f[j].providerRun.append(r.ms)
                    f[j].providerCPU.append(r.cpu)
                    f[j].onTickOutsideRun.append(d - r.ms)
                }
                if let s = stamps[id] {
                    f[j].tickStartToProgram.append(s.start - at)
                    f[j].programBody.append(s.end - s.start)
                    f[j].programEndToOnTickEnd.append(at + d - s.end)
                }
            }
        }
        return f
    }

    // 1. One tick, send -> reply committed and seen, against bare /bin/true.
    log("== 1. one exec-agent tick: POST a message -> its reply seen on the outbox (?watch=1), \(options.rounds) sequential per program, the programs'"
        + " ticks and the bare runs interleaved round by round")
    let part1 = try await ticks([ExecPrograms.sh, echo, ExecPrograms.python].compactMap { $0 }, rounds: options.rounds, tag: "tick")
    log("  bare bwrap /bin/true: \(p5099(part1[0].bareTrue)); bare+cgroups: \(p5099(part1[0].bareTrueCgroups)); bare+self+cgroups: \(p5099(part1[0].bareTrueSelfCgroups))"
        + " (with cgroups: making them to the reap; reading and removing them after, off the provider's path, p50 \(ms(median(part1[0].cgroupTeardown))))")
    for f in part1 {
        let p = f.program
        let n = Double(f.total.count)
        log("-- \(p.name): \(p.what)")
        log("  through agentd: \(p5099(f.total)) (the POST alone \(p5099(f.post)))")
        log("  bare+self+cgroups running \(p.name) with a tick on stdin: \(p5099(f.bareProgram))")
        log(String(format: "  ratio p50 tick/bare /bin/true: %.2f (p99 tick / p50 bare %.2f); tick/bare+self+cgroups /bin/true: %.2f; ",
                   median(f.total) / median(f.bareTrue), percentile(f.total, 0.99) / median(f.bareTrue), median(f.total) / median(f.bareTrueSelfCgroups))
            + "tick/bare+self+cgroups \(p.name): " + String(format: "%.2f", median(f.total) / median(f.bareProgram)))
        log(String(format: "  agentd's CPU per tick: its own threads %.1f ms, its children (supervisor, bwrap, the program) %.1f ms",
                   f.agentdCPU.own / n * 1000, f.agentdCPU.children / n * 1000))
        log("  parts (p50 of \(f.onTick.count) ticks, from the trajectory and trace): send -> tick start \(ms(median(f.sendToTickStart))) (whole ms);"
            + " onTick \(ms(median(f.onTick))), of which the provider's spawn -> reap \(ms(median(f.providerRun))) (whole ms; cpu_ms \(ms(median(f.providerCPU))))"
            + " and around it \(ms(median(f.onTickOutsideRun))) (the tick directory, the program file, policy, effects);"
            + " onTick's end -> the reply at this client \(ms(median(f.onTickEndToClient))) (commit, change feed, SSE)")
        rows.append(GoalRow(what: "one tick (\(p.name)), send -> reply, p50", figure: ms(median(f.total)) + " (p99 " + ms(percentile(f.total, 0.99)) + ")",
                            baseline: "bare /bin/true " + ms(median(f.bareTrue)) + " (+self+cgroups " + ms(median(f.bareTrueSelfCgroups)) + ")",
                            ratio: String(format: "%.2f (%.2f)", median(f.total) / median(f.bareTrue), median(f.total) / median(f.bareTrueSelfCgroups)),
                            goal: "<= 2x", met: median(f.total) / median(f.bareTrue) <= 2))
    }
    log("  load average \(loadAverage())")

    // 2. Where a tick's time goes: stamps from inside the program, a cat through /n/self, the sandbox's parts.
    log("== 2. where a tick's time goes, \(options.partRounds) rounds: sh again, sh with a cat of /n/self/status, sh with its own wall clock at its start and end"
        + " (interleaved as in 1); then the sandbox's and the self mount's parts, bare")
    let part2 = try await ticks([ExecPrograms.sh, ExecPrograms.selfRead, ExecPrograms.stamped], rounds: options.partRounds, tag: "part")
    let (plainSh, selfRead, stamped) = (part2[0], part2[1], part2[2])
    log("-- \(ExecPrograms.stamped.name): \(ExecPrograms.stamped.what)")
    log("  through agentd \(p5099(stamped.total)); bare+self+cgroups the same program \(p5099(stamped.bareProgram)); bare /bin/true \(p5099(stamped.bareTrue))")
    log("  p50 of \(stamped.tickStartToProgram.count) ticks: POST \(ms(median(stamped.post))); send -> tick start \(ms(median(stamped.sendToTickStart)));"
        + " tick start -> the program's first line \(ms(median(stamped.tickStartToProgram))) (tick directory, program file, fork, bwrap, cgroups, sh, one date);"
        + " the program \(ms(median(stamped.programBody))) (mostly the second date);"
        + " its last line -> onTick's end \(ms(median(stamped.programEndToOnTickEnd))) (exit, reap, tick directory removed, effects parsed);"
        + " onTick's end -> the reply at this client \(ms(median(stamped.onTickEndToClient))) (commit, change feed, SSE)")
    log("-- \(ExecPrograms.selfRead.name): \(ExecPrograms.selfRead.what)")
    log("  through agentd \(p5099(selfRead.total)) against sh's \(p5099(plainSh.total)) in the same rounds: the cat of /n/self/status adds"
        + " \(ms(median(selfRead.total) - median(plainSh.total))) at p50; bare+self+cgroups \(p5099(selfRead.bareProgram)) against sh's \(p5099(plainSh.bareProgram))"
        + " (\(ms(median(selfRead.bareProgram) - median(plainSh.bareProgram))))")
    // The sandbox's own parts, bare /bin/true in a rotating order: the cgroups, their label, the bind.
    let sandboxParts: [(String, @Sendable () -> BareRun)] = [
        ("bwrap", { plain.run(["/bin/true"]) }),
        ("+cgroups", { plain.run(["/bin/true"], cgroups: true) }),
        ("+cgroups labelled tick.hold", { plain.run(["/bin/true"], cgroups: true, label: Runtime.programLabel("hold")) }),
        ("+cgroups labelled +self", { bareSelf(["/bin/true"]) }),
    ]
    var partRuns = Array(repeating: [BareRun](), count: sandboxParts.count)
    for i in 0..<options.partRounds {
        for k in 0..<sandboxParts.count {
            let j = (i + k) % sandboxParts.count
            let r = sandboxParts[j].1()
            guard r.status == 0 else { throw FSError(.unavailable, "bare \(sandboxParts[j].0) /bin/true exited with status \(r.status)") }
            partRuns[j].append(r)
        }
    }
    log("  bare /bin/true, p50 of \(options.partRounds) (rotating order; cgroups made to the reap): "
        + sandboxParts.indices.map { "\(sandboxParts[$0].0) \(ms(median(partRuns[$0].map(\.onPathMs))))" }.joined(separator: ", "))
    for j in 1..<sandboxParts.count { log("    \(sandboxParts[j].0): " + parts(partRuns[j])) }
    // The FUSE calls alone: bare runs (bare+self+cgroups) of sh doing nothing, a stat, cat of a
    // host file, of status (made per request) and of config (stored JSON); sh's read builtin, which
    // reads a byte per read(2): the self mount is direct_io, so each is a request to agentd; and
    // the same status over HTTP.
    // Each probe's delta is taken against the probe that differs from it only by the FUSE part
    // (base): a stat against sh doing nothing, a cat of /n/self against a cat of a host file,
    // sh's byte-wise read against its stat (both sh builtins, no process).
    let probes: [(name: String, command: String, base: Int)] = [
        ("nothing", ":", 0), ("stat status", "[ -e /n/self/status ]", 0), ("cat /etc/passwd", "cat /etc/passwd > /dev/null", 0),
        ("cat status", "cat /n/self/status > /dev/null", 2), ("cat config", "cat /n/self/config > /dev/null", 2),
        ("sh read of status's first line", "read -r s < /n/self/status", 1),
    ]
    var fuse = Array(repeating: [Double](), count: probes.count), statusGET: [Double] = []
    for round in 0..<options.partRounds {
        for k in probes.indices {
            let i = (round + k) % probes.count, p = probes[i]
            let r = bareSelf(["/bin/sh", "-c", p.command])
            guard r.status == 0 else { throw FSError(.unavailable, "bare sh -c '\(p.command)' with /n/self exited with status \(r.status)") }
            fuse[i].append(r.onPathMs)
        }
        let t = ContinuousClock.now
        _ = try await fs.read("/agents/hold/status", .all)
        statusGET.append(seconds(ContinuousClock.now - t) * 1000)
    }
    log("  bare+self+cgroups sh -c, p50 of \(options.partRounds) (rotating order; +x: against the run it differs from by the FUSE part): "
        + probes.indices.map { i in
            "\(probes[i].name) \(ms(median(fuse[i])))" + (probes[i].base == i ? "" : " (+\(ms(median(fuse[i]) - median(fuse[probes[i].base]))) against \(probes[probes[i].base].name))")
        }.joined(separator: ", ") + "; GET /agents/hold/status over HTTP \(p5099(statusGET))")
    let statusLine = try await fs.read("/agents/hold/status", .all).data.prefix { $0 != 0x0a }.count
    log("  (sh's read takes the first line a byte per read(2), and the self mount is direct_io: status's line is \(statusLine) bytes, so about"
        + " \(statusLine + 1) FUSE read requests: \(String(format: "%.3f", (median(fuse[5]) - median(fuse[1])) / Double(statusLine + 1))) ms each)")

    // 3. Many exec agents at once (hold's tick would take one of agentd's tick slots).
    try await fs.remove("/agents/hold")
    let agents = options.agents, per = options.messages
    let perThread = (agents * per + options.threads - 1) / options.threads
    log("== 3. \(agents) exec agents (\(ExecPrograms.sh.name)) x \(per) messages, sent by \(options.connections) connections at once; bare: \(options.threads) threads x \(perThread) runs"
        + " (\(options.loadRounds) rounds, alternating)")
    let names = (0..<agents).map { String(format: "load-%03d", $0) }
    let replies = Replies()
    var follows: [Task<Void, Never>] = []
    for chunk in stride(from: 0, to: agents, by: options.connections) {
        let batch = Array(names[chunk..<min(agents, chunk + options.connections)])
        try await withThrowingTaskGroup(of: Task<Void, Never>.self) { g in
            for a in batch {
                g.addTask {
                    try await create(a, ExecPrograms.sh)
                    return try await followReplies(fs, a, replies)
                }
            }
            for try await t in g { follows.append(t) }
        }
    }
    defer { for t in follows { t.cancel() } }
    @Sendable func tickCount() async throws -> Int {
        try await withThrowingTaskGroup(of: Int.self) { g in
            var total = 0, next = 0
            for _ in 0..<min(options.connections, names.count) {
                let a = names[next]
                next += 1
                g.addTask { try JSON(parsing: try await fs.get("/agents/\(a)"))["tick_count"]?.intValue ?? 0 }
            }
            while let n = try await g.next() {
                total += n
                if next < names.count {
                    let a = names[next]
                    next += 1
                    g.addTask { try JSON(parsing: try await fs.get("/agents/\(a)"))["tick_count"]?.intValue ?? 0 }
                }
            }
            return total
        }
    }
    var tickRates: [Double] = [], messageRates: [Double] = [], answeredIn: [Double] = [], sentIn: [Double] = []
    var bareRates: [Double] = [], bareProgramRates: [Double] = []
    var agentdCPU = (own: 0.0, children: 0.0), bareCPU = 0.0, bareProgramCPU = 0.0
    var totalTicks = 0
    for round in 0..<options.loadRounds {
        var c0 = childrenCPUSeconds()
        bareRates.append(try await bareRunsPerSecond((0..<options.threads).map { _ in { plain.run(["/bin/true"]).status == 0 } }, runs: perThread))
        bareCPU += childrenCPUSeconds() - c0
        c0 = childrenCPUSeconds()
        bareProgramRates.append(try await bareRunsPerSecond((0..<options.threads).map { _ in
            { let r = plain.run(["/work/" + ExecPrograms.sh.name], cgroups: true, stdin: tickStdin); return r.status == 0 && r.stdout.hasPrefix(#"{"reply""#) }
        }, runs: perThread))
        bareProgramCPU += childrenCPUSeconds() - c0
        let ticksBefore = try await tickCount()
        let target = replies.total + agents * per
        let a0 = processCPUSeconds(agentdPid)
        let start = ContinuousClock.now
        try await withThrowingTaskGroup(of: Void.self) { g in
            for w in 0..<options.connections {
                g.addTask {
                    for a in stride(from: w, to: agents, by: options.connections) {
                        for k in 0..<per { try await send(names[a], "\(names[a])-r\(round)-\(k)", "m\(k)") }
                    }
                }
            }
            try await g.waitForAll()
        }
        sentIn.append(seconds(ContinuousClock.now - start))
        guard await replies.wait(total: target, timeout: .seconds(600)) else {
            throw FSError(.unavailable, "\(target - replies.total) of \(agents * per) messages unanswered after 600 s")
        }
        let took = seconds(ContinuousClock.now - start)
        let a1 = processCPUSeconds(agentdPid)
        agentdCPU.own += a1.own - a0.own
        agentdCPU.children += a1.children - a0.children
        let ticks = try await tickCount() - ticksBefore
        totalTicks += ticks
        var wrong: [String] = []
        for a in names { for k in 0..<per where replies.count("\(a)-r\(round)-\(k)") != 1 { wrong.append("\(a)-r\(round)-\(k): \(replies.count("\(a)-r\(round)-\(k)"))") } }
        guard wrong.isEmpty else { throw FSError(.unavailable, "not answered exactly once: \(wrong.prefix(5))") }
        answeredIn.append(took)
        tickRates.append(Double(ticks) / took)
        messageRates.append(Double(agents * per) / took)
        log(String(format: "  round %d: bare /bin/true %.0f runs/s, bare+cgroups sh with a tick on stdin %.0f runs/s; agentd: %d ticks, every message answered once"
                   + " in %.2f s (all sent in %.2f s): %.0f ticks/s", round + 1, bareRates.last!, bareProgramRates.last!, ticks, took,
                   sentIn.last!, tickRates.last!) + "; load average " + loadAverage())
    }
    var failed = 0
    for a in names {
        failed += jsonLines(try await fs.read("/agents/\(a)/logs/trajectory", .all).data).filter { $0["outcome"]?.stringValue != "ok" }.count
    }
    let bareRuns = Double(options.loadRounds * options.threads * perThread)
    log(String(format: "CPU per tick: agentd's own threads %.1f ms, its children %.1f ms; per bare run: /bin/true %.1f ms, sh+cgroups %.1f ms (bwrap and what it runs; the spawning threads not counted)",
               agentdCPU.own / Double(totalTicks) * 1000, agentdCPU.children / Double(totalTicks) * 1000, bareCPU / bareRuns * 1000, bareProgramCPU / bareRuns * 1000))
    let ratio = median(tickRates) / median(bareRates)
    log(String(format: "medians: agentd %.0f ticks/s (%.0f messages/s, all answered in %.2f s; %d failed ticks retried), bare /bin/true %.0f runs/s, bare+cgroups sh %.0f runs/s;"
               + " ratio agentd/bare %.2f (agentd/bare+cgroups sh %.2f)", median(tickRates), median(messageRates), median(answeredIn), failed,
               median(bareRates), median(bareProgramRates), ratio, median(tickRates) / median(bareProgramRates)))
    rows.append(GoalRow(what: "\(agents) agents x \(per) messages, ticks/s", figure: String(format: "%.0f/s (answered in %.1f s)", median(tickRates), median(answeredIn)),
                        baseline: String(format: "%d threads bare /bin/true %.0f/s", options.threads, median(bareRates)),
                        ratio: String(format: "%.2f", ratio), goal: ">= 0.6x", met: ratio >= 0.6))
    log("load average at the end: \(loadAverage())")
    printGoals("exec agents", rows)
}
