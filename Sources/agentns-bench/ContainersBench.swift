import AgentClient
import AsyncHTTPClient
import Foundation
import Glibc
import Namespace
import NIOCore
import Synchronization

// containers/ against its same-run baselines: a real agentd (the release build beside this
// binary, a fresh data directory, a real port, its bubblewrap provider) driven over HTTP, and
// bubblewrap spawned directly from this process with the provider's own flags, as the provider's
// user (uid 65534), reading the output to its end. Needs root (as agentd does for its sandbox).

func containersBench() async throws {
    guard geteuid() == 0 else { throw FSError(.unavailable, "agentns-bench --containers runs as root (agentd's sandbox needs it, and so does the baseline)") }
    guard access("/usr/bin/bwrap", X_OK) == 0 else { throw FSError(.unavailable, "bubblewrap is missing: apt-get install bubblewrap") }
    let sequential = arg("--sessions", 200)
    let execs = arg("--execs", 300)
    let concurrent = arg("--concurrent", 16)
    let perSession = arg("--per-session", 50)

    let work = try benchDirectory("ctr")
    // The work directories beside the data directory (not agentd's default under /var/lib): one removal cleans up.
    let agentd = try await AgentdProcess.start(data: work + "/data", sandboxRoot: work + "/sandbox")
    var config = HTTPClient.Configuration()
    config.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: concurrent + 16)
    let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
    do {
        try await containersFigures(agentd: agentd, http: http, concurrent: concurrent, sequential: sequential, execs: execs, perSession: perSession)
    } catch {
        try? await http.shutdown()
        agentd.stop()
        throw error
    }
    try await http.shutdown()
    agentd.stop()
    try? FileManager.default.removeItem(atPath: work)
}

func containersFigures(agentd: AgentdProcess, http: HTTPClient, concurrent: Int, sequential: Int, execs: Int, perSession: Int) async throws {
    var client = HTTPFileClient(url: "http://127.0.0.1:\(agentd.port)", token: agentd.token, http: http)
    client.timeout = .seconds(120)
    let fs = client
    let agent = "bench"
    let base = "/agents/\(agent)/containers"
    _ = try await fs.post("/agents", body: Data(#"{"id":"\#(agent)","kind":"echo","config":{"inbox":{"max_depth":100000}}}"#.utf8))
    _ = try await fs.write(base + "/policy", Data(#"{"max_sessions":\#(concurrent + 16),"max_running":\#(concurrent + 16)}"#.utf8), mode: .replace)
    let info = try await fs.read(base + "/providers/local/info", .all).data
    let agentdPid = agentd.process.processIdentifier
    log("agentd \(agentd.process.processIdentifier) on port \(agentd.port), data \(agentd.data); provider: \(String(decoding: info, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))")

    @Sendable func newSession() async throws -> String {
        let r = try JSON(parsing: try await fs.post(base + "/new", body: Data("{}".utf8)))
        guard let id = r["session_id"]?.stringValue else { throw FSError(.unavailable, "containers/new answered \(r)") }
        return id
    }
    @Sendable func execWait(_ sid: String, _ argv: [String]) async throws -> JSON {
        let body = JSON.object(["argv": .array(argv.map { .string($0) }), "wait": true]).description
        let r = try JSON(parsing: try await fs.post(base + "/sessions/\(sid)/exec/new", body: Data(body.utf8)))
        guard r["state"]?.stringValue == "exited", r["exit_code"]?.intValue == 0 else { throw FSError(.unavailable, "exec \(argv) answered \(r)") }
        return r
    }
    @Sendable func stop(_ sid: String) async throws {
        _ = try await fs.write(base + "/sessions/\(sid)/ctl", Data("stop".utf8), mode: .append)
    }
    /// Waits until the agent has answered every notice (its ticks would run during the next measurement).
    func settle() async throws {
        while try JSON(parsing: try await fs.get("/agents/\(agent)/status"))["queue_depth"]?.intValue ?? 0 > 0 { try await Task.sleep(for: .milliseconds(20)) }
        try await Task.sleep(for: .milliseconds(100))
    }

    // The baseline: the bwrap command line agentd runs, read while one of its execs runs.
    let keep = try await newSession()
    let probe = JSON.object(["argv": .array(["sleep", "1"]), "wait": false]).description
    let probeExec = try JSON(parsing: try await fs.post(base + "/sessions/\(keep)/exec/new", body: Data(probe.utf8)))["exec_id"]?.stringValue ?? ""
    var captured: BareBwrap?
    let deadline = ContinuousClock.now + .seconds(5)
    while captured == nil, ContinuousClock.now < deadline {
        captured = BareBwrap.capture(childOf: agentd.process.processIdentifier)
        if captured == nil { try await Task.sleep(for: .milliseconds(1)) }
    }
    guard let bare = captured, !bare.work.isEmpty else { throw FSError(.unavailable, "could not read the command line of agentd's bwrap") }
    while (try? await fs.read(base + "/sessions/\(keep)/exec/\(probeExec)/result", .all)) == nil { try await Task.sleep(for: .milliseconds(50)) }
    // <root>/<agent>/<session>/work: the other sessions' directories sit beside it.
    let sessionsRoot = ((bare.work as NSString).deletingLastPathComponent as NSString).deletingLastPathComponent
    @Sendable func workDir(_ sid: String) -> String { sessionsRoot + "/\(sid)/work" }
    let check = bare.run(["echo", "ready"])
    guard check.status == 0, check.stdout == "ready\n" else {
        throw FSError(.unavailable, "bare bwrap as uid 65534 failed (status \(check.status), output '\(check.stdout)'): bwrap " + bare.flags.joined(separator: " "))
    }
    log("baseline: fork, drop to uid 65534, exec bwrap " + bare.flags.joined(separator: " ") + " CMD; read its output to the end; reap"
        + (bare.seccomp.map { " (fd 3: agentd's seccomp program, \($0.count) bytes, in a fresh memfd per run)" } ?? ""))
    var rows: [GoalRow] = []

    // 1. create → exec echo ready (wait) → stop.
    do {
        for _ in 0..<10 {  // warm both paths
            _ = bare.run(["echo", "ready"])
            let s = try await newSession()
            let r = try await execWait(s, ["echo", "ready"])
            let out = try await fs.read(base + "/sessions/\(s)/exec/\(r["exec_id"]!.stringValue!)/output", .all).data
            guard String(decoding: out, as: UTF8.self).contains(#""data":"ready\n""#) else { throw FSError(.unavailable, "echo ready's output: \(String(decoding: out, as: UTF8.self))") }
            try await stop(s)
        }
        log("== 1. session create -> exec `echo ready` (wait) -> stop over HTTP, \(sequential) sequential; bare bwrap `echo ready` interleaved")
        var total: [Double] = [], create: [Double] = [], exec: [Double] = [], stopMs: [Double] = [], inProvider: [Double] = []
        var baseline: [Double] = [], cgRuns: [BareRun] = []
        for _ in 0..<sequential {
            baseline.append(bare.run(["echo", "ready"]).ms)
            cgRuns.append(bare.run(["echo", "ready"], cgroups: true))
            let t0 = ContinuousClock.now
            let s = try await newSession()
            let t1 = ContinuousClock.now
            let r = try await execWait(s, ["echo", "ready"])
            let t2 = ContinuousClock.now
            try await stop(s)
            let t3 = ContinuousClock.now
            total.append(seconds(t3 - t0) * 1000)
            create.append(seconds(t1 - t0) * 1000)
            exec.append(seconds(t2 - t1) * 1000)
            stopMs.append(seconds(t3 - t2) * 1000)
            inProvider.append(Double(r["duration_ms"]?.intValue ?? 0))
        }
        log("through agentd:            \(p5099(total)) (create \(p5099(create)); exec \(p5099(exec)); stop \(p5099(stopMs)))")
        log("  the provider's own spawn -> reap (the result's duration_ms, whole ms): \(p5099(inProvider))")
        log("bare bwrap:                \(p5099(baseline))")
        log("bare bwrap + the provider's fresh cgroups (made, joined, read, removed): \(p5099(cgRuns.map(\.ms)))")
        log("  " + parts(cgRuns))
        let ratio = median(total) / median(baseline)
        log(String(format: "ratio p50 agentd/bare: %.2f; p99: %.2f", ratio, percentile(total, 0.99) / percentile(baseline, 0.99)))
        rows.append(GoalRow(what: "create -> exec echo ready -> stop, p50", figure: ms(median(total)), baseline: "", ratio: "", goal: "<= 30 ms",
                            met: median(total) <= 30))
        rows.append(GoalRow(what: "create -> exec echo ready -> stop, p99", figure: ms(percentile(total, 0.99)), baseline: "", ratio: "", goal: "<= 60 ms",
                            met: percentile(total, 0.99) <= 60))
        rows.append(GoalRow(what: "create -> exec echo ready -> stop, p50 vs bare bwrap", figure: ms(median(total)), baseline: ms(median(baseline)),
                            ratio: String(format: "%.2f", ratio), goal: "<= 1.5x", met: ratio <= 1.5))
    }

    // 2. exec/new with wait, /bin/true, in one session.
    do {
        log("== 2. exec/new `/bin/true` (wait) in one session over HTTP, \(execs) sequential; bare bwrap `/bin/true` interleaved")
        for _ in 0..<10 {
            _ = bare.run(["/bin/true"])
            _ = try await execWait(keep, ["/bin/true"])
        }
        var viaHTTP: [Double] = [], baseline: [Double] = [], cgRuns: [BareRun] = [], inProvider: [Double] = [], alone: [Double] = []
        var statusRead: [Double] = []
        var bareCPU = 0.0, agentdCPU = (own: 0.0, children: 0.0), clientCPU = 0.0
        for _ in 0..<execs {
            let c0 = childrenCPUSeconds()
            baseline.append(bare.run(["/bin/true"]).ms)
            bareCPU += childrenCPUSeconds() - c0
            cgRuns.append(bare.run(["/bin/true"], cgroups: true))
            alone.append(bare.run(["/bin/true"], bwrapped: false).ms)
            let a0 = processCPUSeconds(agentdPid), s0 = cpuSeconds()
            let t = ContinuousClock.now
            let r = try await execWait(keep, ["/bin/true"])
            viaHTTP.append(seconds(ContinuousClock.now - t) * 1000)
            let a1 = processCPUSeconds(agentdPid)
            clientCPU += cpuSeconds() - s0
            agentdCPU.own += a1.own - a0.own
            agentdCPU.children += a1.children - a0.children
            inProvider.append(Double(r["duration_ms"]?.intValue ?? 0))
        }
        for _ in 0..<execs {
            let t = ContinuousClock.now
            _ = try await fs.read(base + "/sessions/\(keep)/status", .all)
            statusRead.append(seconds(ContinuousClock.now - t) * 1000)
        }
        log("through agentd:   \(p5099(viaHTTP))")
        log("  the provider's own spawn -> reap (duration_ms): \(p5099(inProvider)); one HTTP GET of the session's status: \(p5099(statusRead))")
        log("bare bwrap:       \(p5099(baseline))")
        log("bare bwrap + the provider's fresh cgroups: \(p5099(cgRuns.map(\.ms)))")
        log("  " + parts(cgRuns))
        log("/bin/true alone (fork, drop, exec, reap; no bwrap): \(p5099(alone))")
        let n = Double(execs)
        log(String(format: "CPU per exec: agentd's own threads %.1f ms, its children (bwrap and what it waits for) %.1f ms, this client %.1f ms; bare bwrap's children %.1f ms per run",
                   agentdCPU.own / n * 1000, agentdCPU.children / n * 1000, clientCPU / n * 1000, bareCPU / n * 1000))
        let status = (try? String(contentsOfFile: "/proc/\(agentdPid)/status", encoding: .utf8)) ?? ""
        let memory = status.split(separator: "\n").filter { $0.hasPrefix("VmRSS") || $0.hasPrefix("VmPTE") || $0.hasPrefix("VmSize") || $0.hasPrefix("Threads") }
            .map { $0.split(whereSeparator: { $0 == " " || $0 == "\t" }).joined(separator: " ") }
        log("agentd now (each exec forks it): " + memory.joined(separator: ", ") + String(format: "; this process: VmRSS %.0f MB", rssMB()))
        let ratio = median(viaHTTP) / median(baseline)
        log(String(format: "ratio p50 agentd/bare: %.2f", ratio))
        rows.append(GoalRow(what: "exec/new /bin/true (wait), p50", figure: ms(median(viaHTTP)), baseline: ms(median(baseline)),
                            ratio: String(format: "%.2f", ratio), goal: "<= 1.3x", met: ratio <= 1.3))
    }

    // 3. concurrent sessions, short execs.
    do {
        log("== 3. \(concurrent) sessions at once, \(perSession) execs `/bin/true` (wait) each, over HTTP; bare: \(concurrent) threads x \(perSession) runs (3 rounds each, alternating)")
        var sids: [String] = []
        for _ in 0..<concurrent { sids.append(try await newSession()) }
        let bares = sids.map { bare.binding(workDir($0)) }
        /// Runs per second of `concurrent` threads, each `perSession` bare runs in its own session's directory.
        func bareRate(cgroups: Bool) async throws -> Double {
            try await bareRunsPerSecond(bares.map { b in { b.run(["/bin/true"], cgroups: cgroups).status == 0 } }, runs: perSession)
        }
        var httpRates: [Double] = [], bareRates: [Double] = [], cgroupRates: [Double] = []
        var bareCPU = (own: 0.0, children: 0.0), agentdCPU = (own: 0.0, children: 0.0), clientCPU = 0.0
        for _ in 0..<3 {
            try await settle()
            let b0 = (cpuSeconds(), childrenCPUSeconds())
            bareRates.append(try await bareRate(cgroups: false))
            bareCPU.own += cpuSeconds() - b0.0
            bareCPU.children += childrenCPUSeconds() - b0.1
            try await settle()
            cgroupRates.append(try await bareRate(cgroups: true))
            try await settle()
            let a0 = processCPUSeconds(agentdPid), s0 = cpuSeconds()
            let start = ContinuousClock.now
            try await withThrowingTaskGroup(of: Void.self) { g in
                for s in sids { g.addTask { for _ in 0..<perSession { _ = try await execWait(s, ["/bin/true"]) } } }
                try await g.waitForAll()
            }
            httpRates.append(Double(concurrent * perSession) / seconds(ContinuousClock.now - start))
            try await settle()  // the agent's answers to the notices are the execs' cost too
            let a1 = processCPUSeconds(agentdPid)
            clientCPU += cpuSeconds() - s0
            agentdCPU.own += a1.own - a0.own
            agentdCPU.children += a1.children - a0.children
        }
        let n = Double(3 * concurrent * perSession)
        log(String(format: "CPU per exec: agentd's own threads %.1f ms, its children %.1f ms, this client %.1f ms; bare: the spawning threads %.1f ms, bwrap %.1f ms per run",
                   agentdCPU.own / n * 1000, agentdCPU.children / n * 1000, clientCPU / n * 1000, bareCPU.own / n * 1000, bareCPU.children / n * 1000))
        for s in sids { try await stop(s) }
        let ratio = median(httpRates) / median(bareRates)
        func list(_ xs: [Double]) -> String { xs.map { String(format: "%.0f", $0) }.joined(separator: " ") }
        log("through agentd: \(list(httpRates)) execs/s; bare bwrap: \(list(bareRates)) runs/s; bare bwrap + fresh cgroups: \(list(cgroupRates)) runs/s")
        log(String(format: "medians: agentd %.0f execs/s, bare %.0f runs/s, bare + cgroups %.0f runs/s; ratio agentd/bare %.2f (agentd/bare + cgroups %.2f)",
                   median(httpRates), median(bareRates), median(cgroupRates), ratio, median(httpRates) / median(cgroupRates)))
        rows.append(GoalRow(what: "\(concurrent) sessions x \(perSession) execs, execs/s", figure: String(format: "%.0f/s", median(httpRates)),
                            baseline: String(format: "%.0f/s", median(bareRates)), ratio: String(format: "%.2f", ratio), goal: ">= 0.8x", met: ratio >= 0.8))
    }

    // 4. a 10 MiB session file over HTTP against read(2) of it on the host.
    do {
        let size = 10 << 20
        let chunk = 1 << 20
        let rounds = 20
        log("== 4. a 10 MiB session file: GET over HTTP (whole, and 1 MiB ranges) against read(2) of the host file (page cache; \(rounds) rounds each, medians)")
        _ = try await execWait(keep, ["sh", "-c", "head -c \(size) /dev/urandom > big.bin"])
        let hostPath = workDir(keep) + "/big.bin"
        let file = base + "/sessions/\(keep)/files/big.bin"
        let expected = try Data(contentsOf: URL(fileURLWithPath: hostPath))
        guard expected.count == size else { throw FSError(.unavailable, "big.bin has \(expected.count) bytes") }
        let whole = try await fs.read(file, .all).data
        guard whole == expected else { throw FSError(.unavailable, "GET of big.bin differs from the host file") }
        var ranged = Data()
        for off in stride(from: 0, to: size, by: chunk) { ranged += try await fs.read(file, try ByteRange(offset: Int64(off), count: Int64(chunk))).data }
        guard ranged == expected else { throw FSError(.unavailable, "ranged GETs of big.bin differ from the host file") }

        func mbps(_ secs: Double) -> Double { Double(size) / 1e6 / secs }
        var disk: [Double] = [], getWhole: [Double] = [], getRanges: [Double] = [], ceiling: [Double] = [], rawAgentd: [Double] = [], rawCeiling: [Double] = []
        let buffer = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 4096)
        defer { buffer.deallocate() }
        // Hummingbird alone serving the same bytes from memory (`agentns-bench http-ceiling`): what the HTTP stack and this client reach.
        let ceilingPort = try freePort()
        let child = Process()
        child.executableURL = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath()
        child.arguments = ["http-ceiling", String(ceilingPort), hostPath]
        child.standardError = FileHandle.nullDevice
        try child.run()
        defer { kill(child.processIdentifier, SIGKILL); child.waitUntilExit() }
        let bare = HTTPFileClient(url: "http://127.0.0.1:\(ceilingPort)", token: nil, http: http)
        let filePath = HTTPFileClient.encode(file)
        for _ in 0..<100 {
            if (try? await bare.get("/x")) != nil { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        for _ in 0..<rounds {
            var t = ContinuousClock.now
            let fd = open(hostPath, O_RDONLY | O_CLOEXEC)
            var total = 0
            while true {
                let n = read(fd, buffer, chunk)
                if n <= 0 { break }
                total += n
            }
            close(fd)
            precondition(total == size)
            disk.append(mbps(seconds(ContinuousClock.now - t)))
            t = ContinuousClock.now
            let d = try await fs.read(file, .all).data
            precondition(d.count == size)
            getWhole.append(mbps(seconds(ContinuousClock.now - t)))
            t = ContinuousClock.now
            var got = 0
            for off in stride(from: 0, to: size, by: chunk) { got += try await fs.read(file, try ByteRange(offset: Int64(off), count: Int64(chunk))).data.count }
            precondition(got == size)
            getRanges.append(mbps(seconds(ContinuousClock.now - t)))
            t = ContinuousClock.now
            let c = try await bare.get("/x")
            precondition(c.count == size)
            ceiling.append(mbps(seconds(ContinuousClock.now - t)))
            // The same GETs from a bare socket client (no client-side copies): the servers alone.
            t = ContinuousClock.now
            precondition(rawGet(port: agentd.port, path: filePath, token: agentd.token, buffer: buffer, capacity: chunk) == size)
            rawAgentd.append(mbps(seconds(ContinuousClock.now - t)))
            t = ContinuousClock.now
            precondition(rawGet(port: ceilingPort, path: "/x", token: nil, buffer: buffer, capacity: chunk) == size)
            rawCeiling.append(mbps(seconds(ContinuousClock.now - t)))
        }
        log(String(format: "read(2) of the host file, 1 MiB reads: %.0f MB/s", median(disk)))
        log(String(format: "GET whole through agentd: %.0f MB/s (ratio %.2f); 10 GETs of 1 MiB ranges: %.0f MB/s (ratio %.2f)",
                   median(getWhole), median(getWhole) / median(disk), median(getRanges), median(getRanges) / median(disk)))
        log(String(format: "Hummingbird alone serving the same 10 MiB from memory, same client: %.0f MB/s (%.2f x read(2); agentd whole is %.2f x it)",
                   median(ceiling), median(ceiling) / median(disk), median(getWhole) / median(ceiling)))
        log(String(format: "a bare socket client (read(2) into one 1 MiB buffer, no copies): agentd GET whole %.0f MB/s (%.2f x read(2)); Hummingbird alone %.0f MB/s (%.2f x read(2))",
                   median(rawAgentd), median(rawAgentd) / median(disk), median(rawCeiling), median(rawCeiling) / median(disk)))
        // agentd's read path for the body, replayed here: the provider's Data(count:) and pread, then the responder's ByteBuffer copy.
        var replay: [Double] = []
        for _ in 0..<rounds {
            let t = ContinuousClock.now
            let fd = open(hostPath, O_RDONLY | O_CLOEXEC)
            var d = Data(count: size)
            var got = 0
            while got < size {
                let n = d.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, size - got, off_t(got)) }
                if n <= 0 { break }
                got += n
            }
            close(fd)
            let buffer = ByteBuffer(bytes: d)
            precondition(buffer.readableBytes == size)
            replay.append(seconds(ContinuousClock.now - t) * 1000)
        }
        log(String(format: "per 10 MiB with the bare client: agentd %.1f ms, Hummingbird alone %.1f ms; agentd's body copies replayed here (Data(count:), pread, ByteBuffer(bytes:)): %.1f ms; read(2) alone %.1f ms",
                   Double(size) / 1e3 / median(rawAgentd), Double(size) / 1e3 / median(rawCeiling), median(replay), Double(size) / 1e3 / median(disk)))
        for (what, v) in [("GET of a 10 MiB session file, whole", median(getWhole)), ("GET of a 10 MiB session file, 1 MiB ranges", median(getRanges))] {
            rows.append(GoalRow(what: what, figure: String(format: "%.0f MB/s", v), baseline: String(format: "%.0f MB/s", median(disk)),
                                ratio: String(format: "%.2f", v / median(disk)), goal: ">= 0.5x", met: v / median(disk) >= 0.5))
        }
    }
    try await stop(keep)

    printGoals("containers", rows)
}
