import CSandbox
import Foundation
import Glibc
import Namespace
import Runtime
import Synchronization

/// One exec: the cgroups, the process, its pipes, the limits, on one thread from fork to reap.
final class ExecMonitor: Sendable {
    let provider: Bubblewrap
    let session: SandboxSession
    let argv: [String]
    let exec: SandboxExec
    let handoff: OutputHandoff
    let cancelled = Atomic<Bool>(false)

    init(provider: Bubblewrap, session: SandboxSession, argv: [String], exec: SandboxExec, handoff: OutputHandoff) {
        self.provider = provider
        self.session = session
        self.argv = argv
        self.exec = exec
        self.handoff = handoff
    }

    func cancel() { cancelled.store(true, ordering: .relaxed) }

    static func readFile(_ path: String) -> String? {
        guard let d = FileManager.default.contents(atPath: path) else { return nil }
        return String(decoding: d, as: UTF8.self)
    }

    static func writeFile(_ path: String, _ text: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return text.withCString { Glibc.write(fd, $0, strlen($0)) } >= 0
    }

    func run(_ emit: (SandboxOutput) -> Void) -> Result<SandboxExit, any Error> {
        let limits = exec.limits
        let tag = (exec.label.map { $0 + "." } ?? "x") + String(UInt64.random(in: 0...UInt64.max), radix: 36)
        let cg = provider.cgroupRoot
        let groups = [("memory", "\(cg)/memory/agentns/\(tag)"), ("pids", "\(cg)/pids/agentns/\(tag)"), ("cpuacct", "\(cg)/cpuacct/agentns/\(tag)")]
        var made: [String] = []
        defer {
            // Off the exec's path: a PID namespace's count can linger for a while after it ends.
            let dirs = made
            if !dirs.isEmpty { Thread { for dir in dirs { Self.removeCgroup(dir) } }.start() }
        }
        for (_, dir) in groups {
            guard mkdir(dir, 0o755) == 0 else { return .failure(FSError(.unavailable, "cannot make the cgroup \(dir): \(String(cString: strerror(errno)))")) }
            made.append(dir)
        }
        let (memDir, pidsDir, cpuDir) = (groups[0].1, groups[1].1, groups[2].1)
        guard Self.writeFile(memDir + "/memory.limit_in_bytes", String(limits.memoryBytes)),
              Self.writeFile(pidsDir + "/pids.max", String(limits.pids + 2))  // bwrap and its init
        else { return .failure(FSError(.unavailable, "the kernel refused the exec's memory or process limit")) }
        _ = Self.writeFile(memDir + "/memory.memsw.limit_in_bytes", String(limits.memoryBytes))
        var cgroupFds: [Int32] = []
        defer { for fd in cgroupFds { close(fd) } }
        for (_, dir) in groups {
            let fd = open(dir + "/cgroup.procs", O_WRONLY | O_CLOEXEC)
            guard fd >= 0 else { return .failure(FSError(.unavailable, "cannot open \(dir)/cgroup.procs")) }
            cgroupFds.append(fd)
        }
        var inPipe: [Int32] = [0, 0], outPipe: [Int32] = [0, 0], errPipe: [Int32] = [0, 0]
        guard ans_pipe(&inPipe) == 0, ans_pipe(&outPipe) == 0, ans_pipe(&errPipe) == 0 else {
            return .failure(FSError(.unavailable, "cannot make pipes: \(String(cString: strerror(errno)))"))
        }
        let diskNow = Bubblewrap.usage(provider.workDir(session))
        // One byte past what is left: a file that reaches it is cut there (SIGXFSZ), and the
        // directory is then over its limit, which the size check sees (killed_by disk).
        let fsize = max(0, limits.diskBytes - diskNow) + 1
        let start = ContinuousClock.now
        let cArgs: [UnsafeMutablePointer<CChar>?] = argv.map { strdup($0) } + [nil]
        let env: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/bin:/bin"), nil]
        defer {
            for p in cArgs { free(p) }
            for p in env { free(p) }
        }
        let cpuSeconds = Int((limits.cpuMs + 999) / 1000) + 1
        // The seccomp filter, at fd 3 in the child (`--seccomp 3`).
        let seccompFd = ans_seccomp_fd()
        guard seccompFd >= 0 else {
            for fd in inPipe + outPipe + errPipe { close(fd) }
            return .failure(FSError(.unavailable, "cannot make the seccomp filter: \(String(cString: strerror(-seccompFd)))"))
        }
        defer { close(seccompFd) }
        let pid = cArgs.withUnsafeBufferPointer { a in
            env.withUnsafeBufferPointer { e in
                ans_spawn(provider.bwrap, a.baseAddress, e.baseAddress, inPipe[0], outPipe[1], errPipe[1], seccompFd, cgroupFds, Int32(cgroupFds.count),
                          cpuSeconds, Int64(fsize), Int32(provider.uid), Int32(provider.gid), pidsDir + "/cgroup.procs")
            }
        }
        close(inPipe[0]); close(outPipe[1]); close(errPipe[1])
        guard pid > 0 else {
            close(inPipe[1]); close(outPipe[0]); close(errPipe[0])
            return .failure(FSError(.unavailable, "cannot start bwrap: \(String(cString: strerror(-pid)))"))
        }
        // stdin: written as the program reads it; closed when all is written.
        var stdinLeft = exec.stdin
        _ = fcntl(inPipe[1], F_SETFL, O_NONBLOCK)
        var stdinFd: Int32 = inPipe[1]
        if stdinLeft.isEmpty { close(stdinFd); stdinFd = -1 }
        var outFds = [outPipe[0], errPipe[0]]
        var decoders = [OutputDecoder(), OutputDecoder()]
        var budget = OutputBudget(limits.outputBytes)
        var killedBy: SandboxLimit?
        var wasCancelled = false
        var lastDisk = ContinuousClock.now
        var buffer = [UInt8](repeating: 0, count: 65536)
        var status: Int32 = 0
        var reaped = false
        // The exec's processes (bwrap and all it started) are in its pids cgroup; the supervisor
        // (`pid`) exits as soon as bwrap has.
        func killTree() {
            if let procs = Self.readFile(pidsDir + "/cgroup.procs") {
                for line in procs.split(separator: "\n") { if let p = Int32(line) { kill(p, SIGKILL) } }
            }
        }
        func deliver(_ which: Int, _ bytes: [UInt8], final: Bool) {
            // Past the cap the pipes are still read (the program is not blocked), and dropped.
            guard budget.left > 0 else {
                budget.dropped(bytes.count + (final ? decoders[which].carry.count : 0))
                return
            }
            let text = budget.take(decoders[which].decode(bytes, final: final))
            for piece in OutputDecoder.pieces(text) { emit(SandboxOutput(stream: which == 0 ? .stdout : .stderr, data: piece)) }
        }
        while true {
            if outFds.allSatisfy({ $0 < 0 }) && stdinFd < 0 { break }
            var fds: [pollfd] = [pollfd(fd: handoff.wakeRead, events: Int16(POLLIN), revents: 0)]
            // The consumer is `capacity` pieces behind: the pipes wait (and so does the program).
            if !handoff.isFull { fds += outFds.filter { $0 >= 0 }.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) } }
            if stdinFd >= 0 { fds.append(pollfd(fd: stdinFd, events: Int16(POLLOUT), revents: 0)) }
            _ = poll(&fds, nfds_t(fds.count), 20)
            // Pieces a program writes together (print's text and its newline) become one record.
            if fds.contains(where: { $0.fd != handoff.wakeRead && $0.revents & Int16(POLLIN) != 0 }) { usleep(2000) }
            for f in fds where f.revents != 0 {
                if f.fd == handoff.wakeRead {
                    handoff.drainWakeups()
                    continue
                }
                if f.fd == stdinFd {
                    let n = stdinLeft.withUnsafeBytes { Glibc.write(stdinFd, $0.baseAddress, $0.count) }
                    if n > 0 { stdinLeft = stdinLeft.dropFirst(n) }
                    if n < 0 && errno != EAGAIN || stdinLeft.isEmpty { close(stdinFd); stdinFd = -1 }
                    continue
                }
                let which = f.fd == outFds[0] ? 0 : 1
                let n = read(f.fd, &buffer, buffer.count)
                if n > 0 {
                    deliver(which, Array(buffer[0..<n]), final: false)
                } else if n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN) {
                    deliver(which, [], final: true)
                    close(f.fd)
                    outFds[which] = -1
                }
            }
            let elapsed = ContinuousClock.now - start
            if killedBy == nil, !wasCancelled {
                if cancelled.load(ordering: .relaxed) { wasCancelled = true; killTree() }
                else if elapsed > .milliseconds(limits.timeoutMs) { killedBy = .timeout; killTree() }
                else if let cpu = Self.readFile(cpuDir + "/cpuacct.usage").flatMap({ Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) }),
                        cpu / 1_000_000 >= limits.cpuMs { killedBy = .cpu; killTree() }
                else if ContinuousClock.now - lastDisk > .milliseconds(200) {
                    lastDisk = ContinuousClock.now
                    if Bubblewrap.usage(provider.workDir(session)) > limits.diskBytes { killedBy = .disk; killTree() }
                }
            }
            // The program ended but something it left holds the pipes open: the tree goes with it.
            if !reaped, waitpid(pid, &status, WNOHANG) == pid {
                reaped = true
                killTree()
            }
        }
        if stdinFd >= 0 { close(stdinFd) }
        if !reaped {
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
        }
        killTree()
        let duration = Int64((ContinuousClock.now - start) / .milliseconds(1))
        let cpuMs = (Self.readFile(cpuDir + "/cpuacct.usage").flatMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0) / 1_000_000
        let rss = (Self.readFile(memDir + "/memory.max_usage_in_bytes").flatMap { Int64($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0) / 1024
        var exitCode: Int32?
        var signal: Int32?
        if status & 0x7f == 0 {
            let code = (status >> 8) & 0xff
            if code > 128 && code < 128 + 65 { signal = code - 128 } else { exitCode = code }
        } else {
            signal = status & 0x7f
        }
        if killedBy == nil, !wasCancelled {
            let oom = Self.readFile(memDir + "/memory.oom_control")?.split(separator: "\n").first { $0.hasPrefix("oom_kill ") }
                .flatMap { Int($0.split(separator: " ").last ?? "0") } ?? 0
            let failcnt = Int(Self.readFile(memDir + "/memory.failcnt")?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "0") ?? 0
            let pidsMax = Self.readFile(pidsDir + "/pids.events")?.split(separator: " ").last.flatMap { Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) } ?? 0
            if oom > 0 || (failcnt > 0 && signal == SIGKILL) { killedBy = .memory }
            else if signal == SIGXCPU || (signal == SIGKILL && cpuMs >= limits.cpuMs) { killedBy = .cpu }
            // Cut at the file size limit, or ended with the directory past its limit (many files,
            // each under the per-file limit, written between two size checks).
            else if signal == SIGXFSZ || Bubblewrap.usage(provider.workDir(session)) > limits.diskBytes { killedBy = .disk }
            else if pidsMax > 0 && exitCode != 0 { killedBy = .pids }
        }
        return .success(SandboxExit(exitCode: exitCode, signal: signal, durationMs: duration, cpuMs: cpuMs, maxRSSKB: rss, killedBy: killedBy,
                                    truncated: budget.truncated, cancelled: wasCancelled))
    }

    /// Removes the exec groups a previous process left (killed before it removed them: kill -9
    /// of agentd, a test run's end): those empty and older than `age`. A live exec's group is
    /// never both (it is empty only in the moment between its mkdir and the child joining it).
    static func removeStaleCgroups(_ cgroupRoot: String, olderThan age: Int = 120) {
        let now = time(nil)
        for controller in ["memory", "pids", "cpuacct"] {
            let base = "\(cgroupRoot)/\(controller)/agentns"
            guard let names = try? FileManager.default.contentsOfDirectory(atPath: base) else { continue }
            for name in names where name.hasPrefix("x") || name.hasPrefix("tick.") {
                var st = Glibc.stat()
                guard lstat(base + "/" + name, &st) == 0, st.st_mode & S_IFMT == S_IFDIR, now - st.st_ctim.tv_sec > age else { continue }
                _ = rmdir(base + "/" + name)  // EBUSY while it has processes
            }
        }
    }

    /// Kills what is left in a cgroup and removes it (a PID namespace's count can linger).
    static func removeCgroup(_ dir: String) {
        for _ in 0..<200 {
            if let procs = readFile(dir + "/cgroup.procs") {
                for line in procs.split(separator: "\n") { if let p = Int32(line) { kill(p, SIGKILL) } }
            }
            if rmdir(dir) == 0 || errno == ENOENT { return }
            usleep(5000)
        }
    }
}
