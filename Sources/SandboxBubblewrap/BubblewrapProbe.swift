import CSandbox
import Foundation
import Glibc
public import Runtime

/// What the bubblewrap provider can enforce on this machine, found by trying: bwrap present and
/// able to make its namespaces as the sandbox user, and each cgroup v1 controller usable (a
/// group made, a limit written, the group removed). `Bubblewrap.init` runs it; a caller can run
/// it first (`Bubblewrap.probe()`).
public struct BubblewrapProbe: Sendable {
    public var enforceable: Set<SandboxLimit>
    /// Why a limit cannot be enforced (empty when all can).
    public var problems: [String]

    /// The limit each controller enforces (cpuacct: CPU time, read and enforced by the monitor).
    static let controllerLimits: [(String, SandboxLimit)] = [("memory", .memory), ("pids", .pids), ("cpuacct", .cpu)]

    public static func run(bwrap: String, cgroupRoot: String, uid: UInt32, gid: UInt32) -> BubblewrapProbe {
        guard geteuid() == 0 else {
            return BubblewrapProbe(enforceable: [], problems: ["agentd is not root: it cannot make cgroups or drop to the sandbox user"])
        }
        guard access(bwrap, X_OK) == 0 else {
            return BubblewrapProbe(enforceable: [], problems: ["\(bwrap) is missing (apt-get install bubblewrap)"])
        }
        if let failure = tryBwrap(bwrap, uid: uid, gid: gid) {
            return BubblewrapProbe(enforceable: [], problems: ["bwrap cannot make its namespaces as uid \(uid) (user namespaces disabled?): \(failure)"])
        }
        var probe = BubblewrapProbe(enforceable: [.timeout, .output, .disk], problems: [])
        for (controller, limit) in controllerLimits {
            if let failure = tryCgroup(cgroupRoot, controller) {
                probe.problems.append("the cgroup v1 \(controller) controller cannot be used at \(cgroupRoot)/\(controller): \(failure)")
            } else {
                probe.enforceable.insert(limit)
            }
        }
        return probe
    }

    /// nil if a group can be made under `<root>/<controller>/agentns`, limited and removed.
    static func tryCgroup(_ root: String, _ controller: String) -> String? {
        let base = "\(root)/\(controller)/agentns"
        if mkdir(base, 0o755) != 0, errno != EEXIST { return String(cString: strerror(errno)) }
        let dir = base + "/probe-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        guard mkdir(dir, 0o755) == 0 else { return String(cString: strerror(errno)) }
        defer { rmdir(dir) }
        let (file, value) = switch controller {
        case "memory": ("memory.limit_in_bytes", "67108864")
        case "pids": ("pids.max", "64")
        default: ("cpuacct.usage", "0")
        }
        guard ExecMonitor.writeFile(dir + "/" + file, value) else { return "cannot write \(file): \(String(cString: strerror(errno)))" }
        return nil
    }

    /// nil if bwrap, run as the sandbox user, makes its namespaces and runs /usr/bin/true.
    static func tryBwrap(_ bwrap: String, uid: UInt32, gid: UInt32) -> String? {
        var args = [bwrap, "--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--cap-drop", "ALL", "--ro-bind", "/usr", "/usr"]
        for (link, target) in [("/bin", "usr/bin"), ("/lib", "usr/lib"), ("/lib64", "usr/lib64")] {
            var st = stat()
            if lstat("/" + target, &st) == 0 { args += ["--symlink", target, link] }
        }
        args += ["--proc", "/proc", "--dev", "/dev", "--", "/usr/bin/true"]
        var out: [Int32] = [-1, -1]
        guard ans_pipe(&out) == 0 else { return String(cString: strerror(errno)) }
        let null = open("/dev/null", O_RDONLY | O_CLOEXEC)
        defer { if null >= 0 { close(null) } }
        let cArgs: [UnsafeMutablePointer<CChar>?] = args.map { strdup($0) } + [nil]
        let env: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/bin:/bin"), nil]
        defer {
            for p in cArgs { free(p) }
            for p in env { free(p) }
        }
        let pid = cArgs.withUnsafeBufferPointer { a in
            env.withUnsafeBufferPointer { e in
                ans_spawn(bwrap, a.baseAddress, e.baseAddress, null, out[1], out[1], -1, nil, 0, 0, -1, Int32(uid), Int32(gid), "/nonexistent")
            }
        }
        close(out[1])
        defer { close(out[0]) }
        guard pid > 0 else { return String(cString: strerror(-pid)) }
        var said = [UInt8]()
        var buf = [UInt8](repeating: 0, count: 1024)
        while true {
            let n = Glibc.read(out[0], &buf, buf.count)
            if n < 0, errno == EINTR { continue }
            guard n > 0 else { break }
            if said.count < 4096 { said += buf[0..<n] }
        }
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0, errno == EINTR {}
        guard status != 0 else { return nil }
        let text = String(decoding: said, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        return text.isEmpty ? "exit status \(status)" : text
    }
}
