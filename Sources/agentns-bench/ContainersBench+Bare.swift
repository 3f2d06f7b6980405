import AgentClient
import AsyncHTTPClient
import Foundation
import Glibc
import Namespace
import NIOCore
import Synchronization

// MARK: - Bare bubblewrap, spawned from here

/// glibc functions Swift's Glibc module does not show (they need _GNU_SOURCE).
private let pipe2Fn = unsafeBitCast(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "pipe2")!,
                                    to: (@convention(c) (UnsafeMutablePointer<Int32>, Int32) -> Int32).self)
private let memfdCreateFn = unsafeBitCast(dlsym(UnsafeMutableRawPointer(bitPattern: 0), "memfd_create")!,
                                         to: (@convention(c) (UnsafePointer<CChar>, UInt32) -> Int32).self)
private let closeRangeFn = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "close_range").map {
    unsafeBitCast($0, to: (@convention(c) (UInt32, UInt32, Int32) -> Int32).self)
}

/// bwrap run the way the provider (Sources/SandboxBubblewrap/Bubblewrap.swift) runs it, without
/// agentd: the command line agentd's own bwrap was started with (read from /proc while an exec
/// runs, so the flags cannot drift from the provider's), the same environment for bwrap itself,
/// forked and dropped to the sandbox user like `ans_spawn` (rlimits, stdin/stdout/stderr pipes,
/// every other descriptor closed), the output read to its end, reaped. Left out: the child's
/// parent-death signal and signal resets (a few system calls).
struct BareBwrap: Sendable {
    /// bwrap's arguments up to and including `--`, with the work directory's bind.
    let flags: [String]
    /// The seccomp program agentd hands bwrap at fd 3 (`--seccomp 3`), read from agentd's memfd.
    var seccomp: Data? = nil
    let uid: UInt32 = 65534
    let gid: UInt32 = 65534
    let bwrap = "/usr/bin/bwrap"

    /// The work directory bound at /work.
    var work: String {
        for i in flags.indices.dropLast(2) where flags[i] == "--bind" && flags[i + 2] == "/work" { return flags[i + 1] }
        return ""
    }

    /// The same flags with another session's work directory.
    func binding(_ dir: String) -> BareBwrap {
        var f = flags
        for i in f.indices.dropLast(2) where f[i] == "--bind" && f[i + 2] == "/work" { f[i + 1] = dir }
        return BareBwrap(flags: f, seccomp: seccomp)
    }

    /// The parent of a process, from /proc.
    static func parent(of pid: Int32) -> Int32? {
        guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.range(of: ")", options: .backwards) else { return nil }
        let fields = stat[close.upperBound...].split(separator: " ")
        return fields.count > 2 ? Int32(fields[1]) : nil
    }

    /// The flags of a bwrap agentd (process `agentd`) runs now for an exec, directly or through
    /// a supervisor process of its own: the bwrap's /proc cmdline up to `--`.
    static func capture(childOf agentd: Int32) -> BareBwrap? {
        guard let entries = try? FileManager.default.contentsOfDirectory(atPath: "/proc") else { return nil }
        for e in entries {
            guard let pid = Int32(e), pid != agentd, let up = parent(of: pid) else { continue }
            var p: Int32? = up
            var levels = 0
            while let q = p, q != agentd, q > 1, levels < 3 { p = parent(of: q); levels += 1 }
            guard p == agentd, let cmd = FileManager.default.contents(atPath: "/proc/\(e)/cmdline") else { continue }
            let argv = cmd.split(separator: 0, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
            guard argv.first == "/usr/bin/bwrap", let dash = argv.firstIndex(of: "--") else { continue }
            var found = BareBwrap(flags: Array(argv[1...dash]))
            if let i = found.flags.firstIndex(of: "--seccomp") {
                guard found.flags[i + 1] == "3" else { return nil }
                // The filter's memfd stays open in agentd (or its supervisor) while the exec runs.
                for holder in Set([agentd, up]) {
                    let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(holder)/fd")) ?? []
                    for fd in fds {
                        let target = (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(holder)/fd/\(fd)")) ?? ""
                        if target.hasPrefix("/memfd:agentns-seccomp"), let bytes = FileManager.default.contents(atPath: "/proc/\(holder)/fd/\(fd)"), !bytes.isEmpty {
                            found.seccomp = bytes
                        }
                    }
                }
                guard found.seccomp != nil else { return nil }
            }
            return found
        }
        return nil
    }

    /// One run: milliseconds from fork to reap (cgroups made and removed included when asked),
    /// stdout, and the wait status. With `cgroups`, a fresh memory, pids and cpuacct cgroup v1 is
    /// made, limited, joined by the child before exec, read and removed after, as the provider does.
    /// `stdin` (at most a pipe's buffer, 64 KiB) is written before the output is read; without it
    /// the program's stdin is closed at once. `label` names the cgroups as the provider names a
    /// labelled exec's (`<label>.<random>`: the self mount admits `tick.<agent>` runs to `/<agent>`).
    func run(_ argv: [String], cgroups: Bool = false, bwrapped: Bool = true, stdin: Data? = nil, label: String? = nil) -> BareRun {
        let full = bwrapped ? [bwrap] + flags + argv : argv
        let cArgs: [UnsafeMutablePointer<CChar>?] = full.map { strdup($0) } + [nil]
        let env: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/bin:/bin"), nil]
        let path = strdup(full[0])!
        defer {
            for p in cArgs { free(p) }
            for p in env { free(p) }
            free(path)
        }
        let start = ContinuousClock.now
        var dirs: [String] = []
        var cgFds: [Int32] = []
        if cgroups {
            let tag = (label.map { $0 + "." } ?? "bench") + String(UInt64.random(in: 0...UInt64.max), radix: 36)
            dirs = ["memory", "pids", "cpuacct"].map { "/sys/fs/cgroup/\($0)/agentns/\(tag)" }
            for d in dirs { mkdir(d, 0o755) }
            _ = Self.write(dirs[0] + "/memory.limit_in_bytes", String(256 << 20))
            _ = Self.write(dirs[0] + "/memory.memsw.limit_in_bytes", String(256 << 20))
            _ = Self.write(dirs[1] + "/pids.max", "66")
            cgFds = dirs.map { open($0 + "/cgroup.procs", O_WRONLY | O_CLOEXEC) }.filter { $0 >= 0 }
        }
        let spawned = ContinuousClock.now
        defer {
            for fd in cgFds { close(fd) }
        }
        // The filter in a fresh memfd per run, as the provider makes one per exec.
        var filterFd: Int32 = -1
        if bwrapped, let seccomp {
            filterFd = memfdCreateFn("agentns-seccomp", 1 /* MFD_CLOEXEC */)
            _ = seccomp.withUnsafeBytes { Glibc.write(filterFd, $0.baseAddress, $0.count) }
            lseek(filterFd, 0, SEEK_SET)
        }
        defer { if filterFd >= 0 { close(filterFd) } }
        var inP: [Int32] = [0, 0], outP: [Int32] = [0, 0], errP: [Int32] = [0, 0]
        _ = pipe2Fn(&inP, O_CLOEXEC)
        _ = pipe2Fn(&outP, O_CLOEXEC)
        _ = pipe2Fn(&errP, O_CLOEXEC)
        let digits = UnsafeMutablePointer<UInt8>.allocate(capacity: 16)
        defer { digits.deallocate() }
        let (uid, gid) = (uid, gid)
        let pid = cArgs.withUnsafeBufferPointer { a in
            env.withUnsafeBufferPointer { e in
                cgFds.withUnsafeBufferPointer { cg in
                    let pid = fork()
                    if pid == 0 {
                        // The child: only plain system calls until execve (as ans_spawn).
                        var me = getpid()
                        var n = 0
                        repeat { digits[15 - n] = UInt8(48 + me % 10); me /= 10; n += 1 } while me > 0
                        for fd in cg { _ = Glibc.write(fd, digits + 16 - n, n) }
                        var rl = rlimit(rlim_cur: 0, rlim_max: 0)
                        setrlimit(__rlimit_resource_t(RLIMIT_CORE.rawValue), &rl)
                        rl = rlimit(rlim_cur: 11, rlim_max: 12)
                        setrlimit(__rlimit_resource_t(RLIMIT_CPU.rawValue), &rl)
                        rl = rlimit(rlim_cur: 64 << 20, rlim_max: 64 << 20)
                        setrlimit(__rlimit_resource_t(RLIMIT_FSIZE.rawValue), &rl)
                        var none = sigset_t()
                        sigemptyset(&none)
                        sigprocmask(SIG_SETMASK, &none, nil)
                        if dup2(inP[0], 0) < 0 || dup2(outP[1], 1) < 0 || dup2(errP[1], 2) < 0 { _exit(126) }
                        if filterFd >= 0 {
                            if filterFd == 3 ? fcntl(3, F_SETFD, 0) < 0 : dup2(filterFd, 3) < 0 { _exit(126) }
                            _ = closeRangeFn?(4, UInt32.max, 0)
                        } else {
                            _ = closeRangeFn?(3, UInt32.max, 0)
                        }
                        if setgroups(0, nil) != 0 || setgid(gid) != 0 || setuid(uid) != 0 { _exit(125) }
                        execve(path, a.baseAddress!, e.baseAddress!)
                        _exit(127)
                    }
                    return pid
                }
            }
        }
        close(inP[0]); close(outP[1]); close(errP[1])
        if let stdin {
            precondition(stdin.count <= 65536, "a bare run's stdin fits the pipe's buffer")
            _ = stdin.withUnsafeBytes { Glibc.write(inP[1], $0.baseAddress, $0.count) }
        }
        close(inP[1])
        var out = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 65536)
        var live = [outP[0], errP[0]]
        while live.contains(where: { $0 >= 0 }) {
            var fds = live.filter { $0 >= 0 }.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            _ = poll(&fds, nfds_t(fds.count), 20)
            for f in fds where f.revents != 0 {
                let n = read(f.fd, &buffer, buffer.count)
                if n > 0 {
                    if f.fd == outP[0] { out += buffer[0..<n] }
                } else if n == 0 || errno != EINTR {
                    close(f.fd)
                    live = live.map { $0 == f.fd ? -1 : $0 }
                }
            }
        }
        var status: Int32 = 0
        if pid > 0 { while waitpid(pid, &status, 0) < 0 && errno == EINTR {} } else { status = 127 << 8 }
        let reaped = ContinuousClock.now
        var retries = 0
        if cgroups {
            // What the provider reads at the end, then the removal (retried while a count lingers).
            _ = FileManager.default.contents(atPath: dirs[1] + "/cgroup.procs")
            _ = FileManager.default.contents(atPath: dirs[2] + "/cpuacct.usage")
            _ = FileManager.default.contents(atPath: dirs[0] + "/memory.max_usage_in_bytes")
            for d in dirs {
                for _ in 0..<200 {
                    if rmdir(d) == 0 || errno == ENOENT { break }
                    retries += 1
                    usleep(5000)
                }
            }
        }
        let end = ContinuousClock.now
        return BareRun(ms: seconds(end - start) * 1000, stdout: String(decoding: out, as: UTF8.self), status: status,
                       setupMs: seconds(spawned - start) * 1000, spawnMs: seconds(reaped - spawned) * 1000,
                       teardownMs: seconds(end - reaped) * 1000, rmdirRetries: retries)
    }

    static func write(_ path: String, _ text: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return text.withCString { Glibc.write(fd, $0, strlen($0)) } >= 0
    }
}

/// One bare run: the whole time, and with cgroups its parts (making them, fork to reap, reading
/// and removing them, and how often a removal was retried 5 ms later).
struct BareRun {
    let ms: Double
    let stdout: String
    let status: Int32
    let setupMs: Double
    let spawnMs: Double
    let teardownMs: Double
    let rmdirRetries: Int
}

/// p50 of the parts of runs with cgroups.
func parts(_ runs: [BareRun]) -> String {
    String(format: "making the cgroups p50 %.2f ms; fork -> reap (joining them included) p50 %.1f ms; reading and removing them p50 %.2f ms, p99 %.1f ms; %d of %d runs retried a removal",
           median(runs.map(\.setupMs)), median(runs.map(\.spawnMs)), median(runs.map(\.teardownMs)), percentile(runs.map(\.teardownMs), 0.99),
           runs.filter { $0.rmdirRetries > 0 }.count, runs.count)
}

final class FailureCount: Sendable {
    let n = Atomic<Int>(0)
}

/// Runs per second of one thread per element of `runners`, each calling its runner `runs` times
/// (a run returns whether it succeeded); throws if any run failed.
func bareRunsPerSecond(_ runners: [@Sendable () -> Bool], runs: Int) async throws -> Double {
    let start = ContinuousClock.now
    let failures = FailureCount()
    let done = DispatchSemaphore(value: 0)
    for runner in runners {
        let t = Thread {
            for _ in 0..<runs where !runner() { failures.n.add(1, ordering: .relaxed) }
            done.signal()
        }
        t.stackSize = 1 << 20
        t.start()
    }
    await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
        DispatchQueue.global().async {
            for _ in runners { done.wait() }
            c.resume()
        }
    }
    let rate = Double(runners.count * runs) / seconds(ContinuousClock.now - start)
    guard failures.n.load(ordering: .relaxed) == 0 else { throw FSError(.unavailable, "bare bwrap failed \(failures.n.load(ordering: .relaxed)) times") }
    return rate
}

/// One `GET path` over a fresh connection (`Connection: close`), read to its end into `buffer`;
/// returns the body's length (-1 on a failure or a status other than 200).
func rawGet(port: Int, path: String, token: String?, buffer: UnsafeMutableRawPointer, capacity: Int) -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { return -1 }
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = UInt16(port).bigEndian
    let connected = withUnsafePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
    }
    guard connected else { return -1 }
    let request = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n" + (token.map { "Authorization: Bearer \($0)\r\n" } ?? "") + "Connection: close\r\n\r\n"
    guard request.withCString({ send(fd, $0, strlen($0), 0) }) > 0 else { return -1 }
    var head = [UInt8]()
    var total = 0
    var headerEnd = -1
    while true {
        let n = read(fd, buffer, capacity)
        if n < 0, errno == EINTR { continue }
        if n <= 0 { break }
        if headerEnd < 0 {
            head += UnsafeRawBufferPointer(start: buffer, count: n)
            if let r = head.firstRange(of: Array("\r\n\r\n".utf8)) { headerEnd = r.upperBound; total = head.count - headerEnd }
        } else {
            total += n
        }
    }
    guard headerEnd > 0, head.starts(with: Array("HTTP/1.1 200".utf8)) else { return -1 }
    return total
}

/// User plus system CPU seconds of this process's reaped children so far.
func childrenCPUSeconds() -> Double {
    var u = rusage()
    getrusage(RUSAGE_CHILDREN.rawValue, &u)
    return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
}

/// Another process's CPU seconds from /proc: its own threads, and its reaped children.
func processCPUSeconds(_ pid: Int32) -> (own: Double, children: Double) {
    guard let stat = try? String(contentsOfFile: "/proc/\(pid)/stat", encoding: .utf8), let close = stat.range(of: ")", options: .backwards) else { return (0, 0) }
    let f = stat[close.upperBound...].split(separator: " ").map { Double($0) ?? 0 }
    // After the name: state is f[0]; utime, stime, cutime, cstime are fields 14-17 of the line.
    guard f.count > 15 else { return (0, 0) }
    let tick = Double(sysconf(Int32(_SC_CLK_TCK)))
    return ((f[11] + f[12]) / tick, (f[13] + f[14]) / tick)
}

/// A TCP port nobody listens on now.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    addr.sin_port = 0
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let ok = withUnsafeMutablePointer(to: &addr) { p in
        p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, len) == 0 && getsockname(fd, $0, &len) == 0 }
    }
    guard ok else { throw FSError(.unavailable, "no free port") }
    return Int(UInt16(bigEndian: addr.sin_port))
}
