// agentns-bench: figures for the runtime core, each with a baseline measured in the same run.
//
//   agentns-bench [--agents N] [--rounds R] [--scale N]    run everything (default 1000, 5, 100000)
//   agentns-bench --scheduler [--scale N]                   only the scheduler's startup-trigger figure
//   agentns-bench --compute [--jobs N] [--per-task N]       compute jobs against direct provider calls (from the repo root)
//   agentns-bench --containers [--sessions N] [--execs N] [--concurrent N] [--per-session N]
//                                                           containers/ over HTTP (a real agentd, as root) against bare bwrap
//   agentns-bench --exec [--rounds N] [--part-rounds N] [--agents N] [--messages N] [--connections N] [--threads N] [--load-rounds N]
//                                                           exec agents' ticks (a real agentd, as root) against bare bwrap
//   agentns-bench scale-child DB                            (internal) open a big database, report
//   agentns-bench raw-inserts DB N                          baseline for durable sends (rows/s)
//   agentns-bench http-ceiling PORT FILE                    Hummingbird alone: GET serves FILE, POST answers 202
import AgentNSTesting
import CSQLite
import Foundation
import Namespace
import Runtime
import RuntimeSQLite

func arg(_ name: String, _ fallback: Int) -> Int {
    let a = CommandLine.arguments
    if let i = a.firstIndex(of: name), i + 1 < a.count, let v = Int(a[i + 1]) { return v }
    return fallback
}

func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s.isEmpty ? 0 : s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func rssMB() -> Double {
    let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
    for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
        let kb = Double(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        return kb / 1024
    }
    return 0
}

/// User plus system CPU time of the whole process so far.
func cpuSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_SELF.rawValue, &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
}

func log(_ s: String) {
    print(s)
    fflush(nil)
}

// MARK: - Baseline: the same rows with raw SQLite, one transaction per send and per tick.

func rawSQLiteTicks(path: String, agents: Int) throws -> Double {
    var db: OpaquePointer?
    guard sqlite3_open(path, &db) == SQLITE_OK, let db else { throw FSError(.unavailable, "open") }
    defer { sqlite3_close(db) }
    func exec(_ sql: String) { sqlite3_exec(db, sql, nil, nil, nil) }
    exec("PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL;")
    exec("""
        CREATE TABLE agents(id TEXT PRIMARY KEY, state TEXT, tick_count INTEGER, queue_depth INTEGER) WITHOUT ROWID;
        CREATE TABLE inbox(seq INTEGER PRIMARY KEY AUTOINCREMENT, agent TEXT, env_id TEXT, body TEXT);
        CREATE INDEX inbox_agent ON inbox(agent, seq);
        CREATE TABLE logs(seq INTEGER PRIMARY KEY AUTOINCREMENT, agent TEXT, log TEXT, line TEXT);
        """)
    exec("BEGIN")
    for a in 0..<agents { exec("INSERT INTO agents VALUES('a\(a)', '{}', 0, 0)") }
    exec("COMMIT")
    var stmts: [String: OpaquePointer] = [:]
    func run(_ sql: String, _ args: [String]) {
        let s: OpaquePointer
        if let c = stmts[sql] { s = c } else {
            var p: OpaquePointer?
            sqlite3_prepare_v2(db, sql, -1, &p, nil)
            s = p!
            stmts[sql] = s
        }
        for (i, v) in args.enumerated() { sqlite3_bind_text(s, Int32(i + 1), v, -1, agentns_sqlite_transient()) }
        while sqlite3_step(s) == SQLITE_ROW {}
        sqlite3_reset(s)
    }
    let line = String(repeating: "x", count: 120)
    let start = ContinuousClock.now
    for a in 0..<agents {
        let id = "a\(a)"
        exec("BEGIN IMMEDIATE")  // send
        run("INSERT INTO inbox(agent, env_id, body) VALUES(?, ?, ?)", [id, "m\(a)", "hello"])
        run("UPDATE agents SET queue_depth = queue_depth + 1 WHERE id = ?", [id])
        exec("COMMIT")
        exec("BEGIN IMMEDIATE")  // tick: dequeue, outbox, trace x4, trajectory, state
        run("DELETE FROM inbox WHERE agent = ? AND seq = (SELECT min(seq) FROM inbox WHERE agent = ?)", [id, id])
        for log in ["outbox", "trace", "trace", "trace", "trace", "trajectory"] {
            run("INSERT INTO logs(agent, log, line) VALUES(?, ?, ?)", [id, log, line])
        }
        run("UPDATE agents SET state = ?, tick_count = tick_count + 1, queue_depth = queue_depth - 1 WHERE id = ?", ["{\"messages\":1}", id])
        exec("COMMIT")
    }
    let elapsed = seconds(ContinuousClock.now - start)
    for s in stmts.values { sqlite3_finalize(s) }
    return Double(agents) / elapsed
}

// MARK: - The runtime: send then tick, committed, across many agents at once.

func runtimeTicks(agents: Int, rounds: Int) async throws -> (perRound: [Double], commits: Int, writes: Int) {
    let dir = try TestRuntime.temporaryDirectory("bench-ticks")
    let store = try SQLiteStore(path: dir + "/agentd.sqlite")
    let runtime = Runtime(store: store, maxConcurrentTicks: 256)
    var rates: [Double] = []
    await withTaskGroup(of: Void.self) { group in
        group.addTask { await runtime.run() }
        do {
            try await withThrowingTaskGroup(of: Void.self) { g in
                for a in 0..<agents { g.addTask { _ = try await runtime.createAgent(id: "a\(a)", kind: "echo") } }
                try await g.waitForAll()
            }
            for round in 0..<rounds {
                let start = ContinuousClock.now
                try await withThrowingTaskGroup(of: Void.self) { g in
                    for a in 0..<agents {
                        g.addTask { _ = try await runtime.send(to: "a\(a)", Data("hello \(round)".utf8), from: .operator) }
                    }
                    try await g.waitForAll()
                }
                // Committed: every agent's tick count has moved.
                while true {
                    let done = try await store.listAgents(after: nil, limit: agents).allSatisfy { $0.tickCount == Int64(round + 1) }
                    if done { break }
                    try await Task.sleep(for: .milliseconds(2))
                }
                rates.append(Double(agents) / seconds(ContinuousClock.now - start))
            }
        } catch {
            log("runtime benchmark failed: \(error)")
        }
        group.cancelAll()
    }
    let stats = store.commitStats
    await store.close()
    return (rates, stats.commits, stats.writes)
}

// MARK: - Scale: many hibernated agents.

func buildScaleDatabase(count: Int) async throws -> String {
    let dir = try TestRuntime.temporaryDirectory("bench-scale")
    let path = dir + "/agentd.sqlite"
    let store = try SQLiteStore(path: path)
    let runtime = Runtime(store: store)
    let batch = 1000
    for start in stride(from: 0, to: count, by: batch) {
        try await withThrowingTaskGroup(of: Void.self) { g in
            for a in start..<min(count, start + batch) {
                g.addTask { _ = try await runtime.createAgent(id: "h\(a)", kind: "echo") }
            }
            try await g.waitForAll()
        }
        if start % 20_000 == 0 { log("  created \(start + batch) of \(count) agents") }
    }
    await store.close()
    var db: OpaquePointer?
    sqlite3_open(path, &db)
    sqlite3_exec(db, "UPDATE agents SET lifecycle = 'hibernated'", nil, nil, nil)
    sqlite3_close(db)
    return path
}

func scaleChild(path: String) async throws {
    let before = rssMB()
    let start = ContinuousClock.now
    let store = try SQLiteStore(path: path)
    let runtime = Runtime(store: store)
    let count = try await store.agentCount()
    let opened = seconds(ContinuousClock.now - start)
    await withTaskGroup(of: Void.self) { group in
        group.addTask { await runtime.run() }
        do {
            try await Task.sleep(for: .milliseconds(200))  // let the engine's start-up scan run
            let wakeStart = ContinuousClock.now
            _ = try await runtime.send(to: "h77", Data("wake".utf8), from: .operator)
            while try await store.agent("h77")?.tickCount != 1 { try await Task.sleep(for: .microseconds(200)) }
            let woke = seconds(ContinuousClock.now - wakeStart)
            let state = try await store.agent("h77")?.lifecycle.rawValue ?? "?"
            print("agents=\(count) open_s=\(opened) wake_ms=\(woke * 1000) rss_mb=\(rssMB()) rss_before_open_mb=\(before) woken_state=\(state)")
        } catch {
            print("error \(error)")
        }
        group.cancelAll()
    }
    await store.close()
}

// MARK: - Main

/// The durable-sends baseline: one row per transaction at synchronous=FULL, as fast as SQLite
/// goes from one writer. Prints rows per second.
func rawInserts(path: String, count: Int) throws {
    var db: OpaquePointer?
    guard sqlite3_open(path, &db) == SQLITE_OK, let db else { throw FSError(.unavailable, "open") }
    defer { sqlite3_close(db) }
    sqlite3_exec(db, "PRAGMA journal_mode=WAL; PRAGMA synchronous=FULL; CREATE TABLE IF NOT EXISTS inbox(seq INTEGER PRIMARY KEY, agent TEXT, body TEXT);", nil, nil, nil)
    var stmt: OpaquePointer?
    sqlite3_prepare_v2(db, "INSERT INTO inbox(agent, body) VALUES('a', 'hello')", -1, &stmt, nil)
    let start = ContinuousClock.now
    for _ in 0..<count {
        sqlite3_exec(db, "BEGIN IMMEDIATE", nil, nil, nil)
        sqlite3_step(stmt)
        sqlite3_reset(stmt)
        sqlite3_exec(db, "COMMIT", nil, nil, nil)
    }
    sqlite3_finalize(stmt)
    print(String(format: "%.0f", Double(count) / seconds(ContinuousClock.now - start)))
}

if CommandLine.arguments.count >= 4, CommandLine.arguments[1] == "raw-inserts" {
    try rawInserts(path: CommandLine.arguments[2], count: Int(CommandLine.arguments[3]) ?? 2000)
    exit(0)
}
if CommandLine.arguments.count >= 4, CommandLine.arguments[1] == "http-ceiling", let port = Int(CommandLine.arguments[2]) {
    try await runCeilingServer(port: port, bodyFile: CommandLine.arguments[3])
    exit(0)
}
if CommandLine.arguments.count >= 3, CommandLine.arguments[1] == "scale-child" {
    try await scaleChild(path: CommandLine.arguments[2])
    exit(0)
}
if CommandLine.arguments.contains("--help") {
    print("""
        usage: agentns-bench [--agents N] [--rounds R] [--scale N]
               agentns-bench --watchers N [--ticks T]
               agentns-bench --containers [--sessions N] [--execs N] [--concurrent N] [--per-session N]
               agentns-bench --exec [--rounds N] [--part-rounds N] [--agents N] [--messages N] [--connections N] [--threads N] [--load-rounds N]

        Prints, in one run:
          ticks/s of the echo kind across N agents (send then tick, committed), median of R rounds,
          against raw SQLite writing the same rows one transaction per send and per tick (same
          durability: WAL, synchronous=FULL), and the ratio;
          for a database of --scale hibernated agents: time to open the runtime, time to wake one,
          and the resident memory of the whole process (measured in a child process).
        With --watchers: N SSE clients follow one agent's trace over real sockets while it ticks T
        times; prints delivered events/s and commit-to-receipt p50/p99, against 1 watcher.
        With --containers (as root, agentd built beside it): a real agentd's containers/ over HTTP
        against bubblewrap run directly with the provider's flags (latency, execs/s, file MB/s).
        With --exec (as root, agentd built beside it, from the repository root for examples/echo.sh):
        exec agents' ticks through a real agentd (send -> reply on the outbox stream, p50/p99; 100
        agents x 10 messages, ticks/s; where a tick's time goes) against bubblewrap run directly
        with a tick's own flags (/bin/true, and the same programs with a tick on stdin).
        """)
    exit(0)
}

if CommandLine.arguments.contains("--read-loop") {
    // The cost of one status read through the runtime, without HTTP: where a GET's time goes.
    let dir = try TestRuntime.temporaryDirectory("bench-read")
    let store = try SQLiteStore(path: dir + "/agentd.sqlite")
    let runtime = Runtime(store: store)
    _ = try await runtime.createAgent(id: "a", kind: "echo", config: .object(["inbox": .object(["max_depth": .int64(1_000_000)])]))
    let fs = runtime.client(as: .operator)
    let n = arg("--reads", 20000)
    // Off the main actor, so the loop does not pay two executor hops per call.
    let (read, row) = try await Task.detached {
        var start = ContinuousClock.now
        for _ in 0..<n { _ = try await fs.read("/agents/a/status") }
        let read = seconds(ContinuousClock.now - start) / Double(n)
        start = ContinuousClock.now
        for _ in 0..<n { _ = try await store.agent("a") }
        return (read, seconds(ContinuousClock.now - start) / Double(n))
    }.value
    log(String(format: "in-process read of status: %.1f µs each (%.0f/s on one task)", read * 1e6, 1 / read))
    log(String(format: "one agent row (cached while nothing commits): %.2f µs each", row * 1e6))
    // Sends without HTTP: 64 tasks, each waiting for its commit, like wrk's 64 connections.
    try await fs.write("/agents/a/ctl", Data("pause".utf8), mode: .replace)
    let perTask = arg("--sends", 40000) / 64
    let sendStart = ContinuousClock.now
    let cpuStart = cpuSeconds()
    try await withThrowingTaskGroup(of: Void.self) { group in
        for _ in 0..<64 {
            group.addTask {
                for _ in 0..<perTask { _ = try await fs.write("/agents/a/inbox", Data("hello".utf8), mode: .append) }
            }
        }
        try await group.waitForAll()
    }
    let sendRate = Double(perTask * 64) / seconds(ContinuousClock.now - sendStart)
    let cpuPerSend = (cpuSeconds() - cpuStart) / Double(perTask * 64)
    log(String(format: "in-process sends from 64 tasks (committed and flushed): %.0f/s, %.1f µs of CPU each (all threads)", sendRate, cpuPerSend * 1e6))
    await store.close()
    exit(0)
}
if CommandLine.arguments.contains("--watch-only") || CommandLine.arguments.contains("--watchers") {
    let n = arg("--watchers", 1000)
    let ticks = arg("--ticks", 100)
    // The watchers' SSE clients run in this process, on the same 2 cores as agentd's side.
    // At a paced tick rate latency is what a watcher sees; at saturation (a message every
    // 10 ms, more deliveries than the machine can make) it is queueing, and grows with the run.
    for interval in [arg("--interval-ms", 100), 10] {
        log("== SSE fan-out: one agent's trace, \(ticks) ticks, a message every \(interval) ms, over real sockets")
        let one = try await watchBench(watchers: 1, ticks: ticks, intervalMs: interval)
        log(String(format: "1 watcher:     %.0f events/s delivered, commit-to-receipt p50 %.1f ms, p99 %.1f ms, %.1f µs of CPU per event", one.0, one.1, one.2, one.3 * 1e6))
        let many = try await watchBench(watchers: n, ticks: ticks, intervalMs: interval)
        log(String(format: "%d watchers: %.0f events/s delivered, commit-to-receipt p50 %.1f ms, p99 %.1f ms, %.1f µs of CPU per event", n, many.0, many.1, many.2, many.3 * 1e6))
        // The 1-watcher p99 is floored at 0.1 ms so that a sub-resolution figure cannot inflate the ratio.
        log(String(format: "ratio %d/1: p99 %.1f (goal <= 10), CPU per event %.2f (goal <= 2)", n, many.2 / max(one.2, 0.1), many.3 / max(one.3, 1e-9)))
    }
    exit(0)
}

/// Startup triggers every agent with pending work at once (up to 100,000): the scheduler's
/// trigger path must stay linear. Baseline: the same ids into a Set (one hash each).
func schedulerFigure(agents n: Int) {
    log("== startup triggers: \(n) agents into the tick scheduler (64 slots), each triggered twice")
    let names = (0..<n).map { "agent-\($0)" }
    var setTimes: [Double] = []
    var schedulerTimes: [Double] = []
    for _ in 0..<3 {
        var start = ContinuousClock.now
        var set = Set<String>()
        for a in names { set.insert(a) }
        for a in names { set.insert(a) }
        setTimes.append(seconds(ContinuousClock.now - start))
        var machine = TickScheduler(maxConcurrent: 64)
        start = ContinuousClock.now
        for a in names { _ = machine.trigger(a, .message) }
        for a in names { _ = machine.trigger(a, .alarm) }
        schedulerTimes.append(seconds(ContinuousClock.now - start))
        precondition(set.count == n && machine.readyCount == max(0, n - 64))
    }
    log(String(format: "baseline Set<String>: %.1f ms; scheduler: %.1f ms (median of 3); ratio %.1f",
               median(setTimes) * 1000, median(schedulerTimes) * 1000, median(schedulerTimes) / max(median(setTimes), 1e-9)))
}

if CommandLine.arguments.contains("--compute") {
    try await computeBench()
    exit(0)
}

if CommandLine.arguments.contains("--containers") {
    do {
        try await containersBench()
    } catch {
        log("agentns-bench --containers: \(error)")
        exit(1)
    }
    exit(0)
}

if CommandLine.arguments.contains("--exec") {
    do {
        try await execBench()
    } catch {
        log("agentns-bench --exec: \(error)")
        exit(1)
    }
    exit(0)
}

if CommandLine.arguments.contains("--scheduler") {
    for n in [10_000, arg("--scale", 100_000)] { schedulerFigure(agents: n) }
    exit(0)
}

let agents = arg("--agents", 1000)
let rounds = arg("--rounds", 5)
let scale = arg("--scale", 100_000)

log("== ticks: echo kind, \(agents) agents, send then tick, committed and flushed (WAL)")
let baseline = try rawSQLiteTicks(path: try TestRuntime.temporaryDirectory("bench-raw") + "/raw.sqlite", agents: agents)
log(String(format: "baseline raw SQLite (1 txn per send, 1 per tick): %.0f ticks/s", baseline))
let (rates, commits, writes) = try await runtimeTicks(agents: agents, rounds: rounds)
let med = median(rates)
log("agentns rounds: " + rates.map { String(format: "%.0f", $0) }.joined(separator: " ") + " ticks/s")
log(String(format: "agentns median: %.0f ticks/s; %d commits carried %d writes (%.1f per commit)", med, commits, writes,
           Double(writes) / Double(max(commits, 1))))
log(String(format: "ratio agentns/baseline: %.2f (goal >= 0.7)", med / baseline))

if scale > 0 {
    log("== scale: \(scale) hibernated agents")
    let path = try await buildScaleDatabase(count: scale)
    let child = Process()
    child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0]).standardizedFileURL
    if !FileManager.default.isExecutableFile(atPath: child.executableURL!.path) {
        child.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
    }
    child.arguments = ["scale-child", path]
    let pipe = Pipe()
    child.standardOutput = pipe
    try child.run()
    child.waitUntilExit()
    let line = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    log(line)
    log("goals: rss_mb <= 300, open_s <= 2")
}

if scale > 0 { schedulerFigure(agents: scale) }

try await computeBench()
