import CSandbox
public import Foundation
import Glibc
public import Namespace
public import Runtime
import Synchronization

/// The local sandbox provider: bubblewrap on this host (SPEC "Containers": no network, the
/// system read-only, `/work` writable, a fresh `/tmp`, no capabilities, its own PID namespace),
/// run as an unprivileged user, with a fresh cgroup v1 per exec for memory, processes and CPU
/// time, rlimits as backstops, and a monitor thread per exec that reads the output, enforces
/// wall time, CPU time and the work directory's size, and kills the whole tree.
///
/// Work directories are `<root>/<agent>/<session>/work`, owned by the sandbox user; everything
/// above them is root's (0711).
public struct Bubblewrap: SandboxProvider {
    public let name = "local"
    public let root: String
    public let bwrap: String
    public let cgroupRoot: String
    public let uid: UInt32
    public let gid: UInt32
    public let enforceable: Set<SandboxLimit>
    /// Why a limit cannot be enforced here (shown in `info`).
    public let problems: [String]

    public init(root: String, bwrap: String = "/usr/bin/bwrap", cgroupRoot: String = "/sys/fs/cgroup", uid: UInt32 = 65534, gid: UInt32 = 65534) {
        self.root = root
        self.bwrap = bwrap
        self.cgroupRoot = cgroupRoot
        self.uid = uid
        self.gid = gid
        let probe = BubblewrapProbe.run(bwrap: bwrap, cgroupRoot: cgroupRoot, uid: uid, gid: gid)
        self.enforceable = probe.enforceable
        self.problems = probe.problems
        if probe.enforceable.contains(.pids) { ExecMonitor.removeStaleCgroups(cgroupRoot) }
        mkdir(root, 0o711)
        chmod(root, 0o711)
    }

    /// What can be enforced on this machine (what `init` finds and `enforceable` says), for a
    /// caller that wants to know before it makes a provider.
    public static func probe(bwrap: String = "/usr/bin/bwrap", cgroupRoot: String = "/sys/fs/cgroup", uid: UInt32 = 65534,
                             gid: UInt32 = 65534) -> BubblewrapProbe {
        BubblewrapProbe.run(bwrap: bwrap, cgroupRoot: cgroupRoot, uid: uid, gid: gid)
    }

    public var info: JSON {
        .object(["kind": "bubblewrap", "isolation": .string("bubblewrap: no network, read-only /usr and /etc, private /work and /tmp, no capabilities, own PID namespace, uid \(uid)"),
                 "limits": .array(SandboxLimit.allCases.filter { enforceable.contains($0) }.map { .string($0.rawValue) }),
                 "problems": .array(problems.map { .string($0) })])
    }

    // MARK: - Sessions

    func sessionDir(_ s: SandboxSession) -> String { "\(root)/\(s.agent)/\(s.id)" }
    func workDir(_ s: SandboxSession) -> String { sessionDir(s) + "/work" }

    public func createSession(_ session: SandboxSession) async throws {
        for dir in ["\(root)/\(session.agent)", sessionDir(session)] {
            guard mkdir(dir, 0o711) == 0 || errno == EEXIST else { throw Self.error(errno, "cannot make \(dir)") }
            chmod(dir, 0o711)  // whatever agentd's umask: the sandbox user passes through
        }
        let work = workDir(session)
        guard mkdir(work, 0o700) == 0 || errno == EEXIST else { throw Self.error(errno, "cannot make the work directory") }
        guard chown(work, uid, gid) == 0 else { throw Self.error(errno, "cannot give the work directory to the sandbox user") }
    }

    public func removeSession(_ session: SandboxSession) async throws {
        let dir = sessionDir(session)
        var st = Glibc.stat()
        guard lstat(dir, &st) == 0 else { return }
        // By descriptors, never by path: the program may have swapped a directory for a link.
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return }
        Self.removeContents(fd: fd)
        _ = Glibc.rmdir(dir)
    }

    /// Removes everything in the directory `fd` (closed here), links as links.
    static func removeContents(fd: Int32) {
        // Any depth, with bounded recursion and descriptors: what lies deeper than `hoistDepth`
        // is moved up to the top (a rename within the directory) and removed in a later round.
        var hoisted = 0
        for _ in 0..<1_000_000 {
            let before = hoisted
            removeLevel(fd, top: fd, depth: 0, hoisted: &hoisted)
            if hoisted == before { break }
        }
        close(fd)
    }

    static let hoistDepth = 32

    static func removeLevel(_ fd: Int32, top: Int32, depth: Int, hoisted: inout Int) {
        let own = dup(fd)
        guard own >= 0, let d = fdopendir(own) else { return }
        defer { closedir(d) }
        rewinddir(d)  // a dup shares the read position of the round before
        var names: [String] = []
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name != "." && name != ".." { names.append(name) }
        }
        for name in names {
            if unlinkat(fd, name, 0) == 0 { continue }
            if depth >= hoistDepth {
                hoisted += 1
                if renameat(fd, name, top, ".deep-\(hoisted)") == 0 { continue }
            }
            let sub = openat(fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
            if sub >= 0 {
                removeLevel(sub, top: top, depth: depth + 1, hoisted: &hoisted)
                close(sub)
            }
            _ = unlinkat(fd, name, AT_REMOVEDIR)
        }
    }

    /// The agent's directory, once its sessions are gone (left alone if anything is in it).
    public func removeAgent(_ agent: String) async { _ = Glibc.rmdir("\(root)/\(agent)") }

    public func sessionExists(_ session: SandboxSession) async -> Bool {
        var st = Glibc.stat()
        return lstat(workDir(session), &st) == 0 && st.st_mode & S_IFMT == S_IFDIR
    }

    // MARK: - Files

    static func error(_ code: Int32, _ what: String) -> FSError {
        let why = String(cString: strerror(code))
        switch code {
        case ENOENT: return FSError(.notFound, "\(what): no such file or directory")
        case ENOTDIR: return FSError(.notDirectory, "\(what): not a directory")
        case EISDIR: return FSError(.isDirectory, "\(what): is a directory")
        case EEXIST: return FSError(.alreadyExists, "\(what): already exists")
        case ENOTEMPTY: return FSError(.invalidInput, "\(what): the directory is not empty; remove what is in it first")
        case EXDEV: return FSError(.permissionDenied, "\(what): the path leads out of the work directory (a symbolic link?)")
        case ELOOP: return FSError(.permissionDenied, "\(what): a symbolic link that leads out of the work directory, or a loop")
        case EACCES, EPERM: return FSError(.permissionDenied, "\(what): \(why)")
        case ENXIO: return FSError(.permissionDenied, "\(what): not a regular file (a FIFO or a socket the program made?)")
        case EDQUOT, ENOSPC, EFBIG: return FSError(.budgetExceeded, "\(what): \(why)")
        default: return FSError(.unavailable, "\(what): \(why)")
        }
    }

    /// Opens the work directory.
    func openWork(_ s: SandboxSession) throws(FSError) -> Int32 {
        let fd = open(workDir(s), ANS_O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { throw Self.error(errno, "the session's work directory") }
        return fd
    }

    /// `body` with a descriptor of `path` opened beneath the work directory.
    func withOpen<T>(_ s: SandboxSession, _ path: [String], _ flags: Int32, mode: UInt32 = 0o644, _ body: (Int32) throws -> T) throws -> T {
        let work = try openWork(s)
        defer { close(work) }
        let rel = path.isEmpty ? "." : path.joined(separator: "/")
        let fd = ans_openat2(work, rel, flags, mode, 0)
        guard fd >= 0 else { throw Self.error(-fd, rel) }
        defer { close(fd) }
        return try body(fd)
    }

    static func info(_ name: String, _ st: stat) -> SandboxFileInfo {
        let kind: SandboxFileInfo.Kind = switch st.st_mode & S_IFMT {
        case S_IFREG: .file
        case S_IFDIR: .directory
        case S_IFLNK: .symlink
        default: .other
        }
        return SandboxFileInfo(name: name, kind: kind, size: Int64(st.st_size), mtime: Int64(st.st_mtim.tv_sec) * 1000 + Int64(st.st_mtim.tv_nsec) / 1_000_000)
    }

    /// What the path leads to; a symlink that leads out of the work directory is shown as the
    /// link itself (it can be removed, never followed).
    public func stat(_ session: SandboxSession, _ path: [String]) async throws -> SandboxFileInfo {
        do { return try stat(session, path, flags: ANS_O_PATH) } catch let e as FSError where e.code == .permissionDenied && !path.isEmpty {
            return try stat(session, path, flags: ANS_O_PATH | O_NOFOLLOW)
        }
    }

    func stat(_ session: SandboxSession, _ path: [String], flags: Int32) throws -> SandboxFileInfo {
        try withOpen(session, path, flags) { fd in
            var st = Glibc.stat()
            guard fstat(fd, &st) == 0 else { throw Self.error(errno, path.joined(separator: "/")) }
            return Self.info(path.last ?? "", st)
        }
    }

    public func list(_ session: SandboxSession, _ path: [String]) async throws -> [SandboxFileInfo] {
        try withOpen(session, path, ANS_O_PATH) { fd in
            let dupd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)
            guard dupd >= 0, let dir = fdopendir(dupd) else { throw Self.error(errno, path.joined(separator: "/")) }
            defer { closedir(dir) }
            var out: [SandboxFileInfo] = []
            while let e = readdir(dir) {
                let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
                if name == "." || name == ".." { continue }
                var st = Glibc.stat()
                guard fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
                out.append(Self.info(name, st))
            }
            return out.sorted { $0.name < $1.name }
        }
    }

    /// The most one read returns (a larger file is read in ranges).
    public static let maxRead: Int64 = 64 << 20

    public func read(_ session: SandboxSession, _ path: [String], offset: Int64, count: Int64?) async throws -> Data {
        // O_NONBLOCK: a FIFO the program made must not hold an agentd thread in open(2).
        try withOpen(session, path, O_RDONLY | O_NONBLOCK) { fd in
            var st = Glibc.stat()
            guard fstat(fd, &st) == 0 else { throw Self.error(errno, path.joined(separator: "/")) }
            guard st.st_mode & S_IFMT == S_IFREG else { throw FSError(.isDirectory, "\(path.joined(separator: "/")) is not a regular file") }
            let size = Int64(st.st_size)
            let start = min(offset, size)
            guard count != nil || size - start <= Self.maxRead else {
                throw FSError(.payloadTooLarge, "the file is larger than \(Self.maxRead) bytes; read it in ranges (?offset=&count=)")
            }
            let want = Int(min(count ?? (size - start), size - start, Self.maxRead))
            var out = Data(count: want)
            var got = 0
            while got < want {
                let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress! + got, want - got, off_t(start) + off_t(got)) }
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { break }
                got += n
            }
            return out.prefix(got)
        }
    }

    public func write(_ session: SandboxSession, _ path: [String], _ data: Data, offset: Int64?, diskLimit: Int64?) async throws {
        try await write(session, path, data, offset: offset, diskLimit: diskLimit, mode: 0o644)
    }

    public func writeExecutable(_ session: SandboxSession, _ path: [String], _ data: Data) async throws {
        try await write(session, path, data, offset: nil, diskLimit: nil, mode: 0o755)
    }

    func write(_ session: SandboxSession, _ path: [String], _ data: Data, offset: Int64?, diskLimit: Int64?, mode: mode_t) async throws {
        guard let name = path.last else { throw FSError(.isDirectory, "the work directory itself cannot be written") }
        let parent = Array(path.dropLast())
        // The limit first: a refused write leaves nothing behind, not even its directories.
        if let diskLimit {
            let used = try await diskUsage(session)
            let old = (try? await stat(session, path).size) ?? 0
            let after = offset.map { max(old, $0 + Int64(data.count)) } ?? Int64(data.count)
            if used - old + after > diskLimit {
                throw FSError(.budgetExceeded, "the work directory's limit of \(diskLimit) bytes would be passed (\(used - old + after) bytes); "
                                  + "remove files or create the session with a larger disk_bytes")
            }
        }
        _ = name
        try makeDirectories(session, parent)
        let flags = O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK
        try withOpen(session, path, flags, mode: 0o644) { fd in
            var st = Glibc.stat()
            guard fstat(fd, &st) == 0 else { throw Self.error(errno, path.joined(separator: "/")) }
            // A hard link made inside could name a file outside: never write through one.
            guard st.st_mode & S_IFMT == S_IFREG, st.st_nlink <= 1 else {
                throw FSError(.permissionDenied, "\(path.joined(separator: "/")) is not a plain file of the work directory (a hard link?)")
            }
            // Truncated only once it is known to be the work directory's own plain file.
            if offset == nil, ftruncate(fd, 0) != 0 { throw Self.error(errno, path.joined(separator: "/")) }
            _ = fchown(fd, uid, gid)
            if mode != 0o644 { _ = fchmod(fd, mode) }  // an existing file keeps its mode unless asked
            var done = 0
            let base = off_t(offset ?? 0)
            while done < data.count {
                let n = data.withUnsafeBytes { pwrite(fd, $0.baseAddress! + done, data.count - done, base + off_t(done)) }
                if n < 0, errno == EINTR { continue }
                guard n > 0 else { throw Self.error(errno, path.joined(separator: "/")) }
                done += n
            }
        }
    }

    func makeDirectories(_ session: SandboxSession, _ path: [String]) throws {
        guard !path.isEmpty else { return }
        for i in 1...path.count {
            let prefix = Array(path.prefix(i))
            try withOpen(session, Array(prefix.dropLast()), ANS_O_PATH) { fd in
                if mkdirat(fd, prefix.last!, 0o755) == 0 {
                    _ = fchownat(fd, prefix.last!, uid, gid, AT_SYMLINK_NOFOLLOW)
                } else if errno != EEXIST {
                    throw Self.error(errno, prefix.joined(separator: "/"))
                }
            }
        }
    }

    public func remove(_ session: SandboxSession, _ path: [String]) async throws {
        guard let name = path.last else { throw FSError(.permissionDenied, "the work directory itself cannot be removed") }
        try withOpen(session, Array(path.dropLast()), ANS_O_PATH) { fd in
            var st = Glibc.stat()
            guard fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { throw Self.error(errno, path.joined(separator: "/")) }
            let flags: Int32 = st.st_mode & S_IFMT == S_IFDIR ? AT_REMOVEDIR : 0
            guard unlinkat(fd, name, flags) == 0 else { throw Self.error(errno, path.joined(separator: "/")) }
        }
    }

    public func makeDirectory(_ session: SandboxSession, _ path: [String]) async throws {
        guard let name = path.last else { throw FSError(.alreadyExists, "the work directory exists") }
        try makeDirectories(session, Array(path.dropLast()))
        try withOpen(session, Array(path.dropLast()), ANS_O_PATH) { fd in
            guard mkdirat(fd, name, 0o755) == 0 else { throw Self.error(errno, path.joined(separator: "/")) }
            _ = fchownat(fd, name, uid, gid, AT_SYMLINK_NOFOLLOW)
        }
    }

    public func diskUsage(_ session: SandboxSession) async throws -> Int64 { Self.usage(workDir(session)) }

    /// Bytes of the regular files under `dir` (allocated blocks; links never followed).
    static func usage(_ dir: String) -> Int64 {
        let fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else { return 0 }
        return usage(fd: fd, depth: 0)
    }

    static func usage(fd: Int32, depth: Int) -> Int64 {
        guard let d = fdopendir(fd) else {
            close(fd)
            return 0
        }
        defer { closedir(d) }
        var total: Int64 = 0
        while let e = readdir(d) {
            let name = withUnsafeBytes(of: e.pointee.d_name) { String(decoding: $0.prefix(while: { $0 != 0 }), as: UTF8.self) }
            if name == "." || name == ".." { continue }
            var st = Glibc.stat()
            guard fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) == 0 else { continue }
            total += max(Int64(st.st_size), Int64(st.st_blocks) * 512)
            if st.st_mode & S_IFMT == S_IFDIR {
                // Deeper than anything a work directory needs: counted as full, so nothing hides there.
                guard depth < 64 else { return Int64.max / 4 }
                let sub = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
                if sub >= 0 { total = total &+ usage(fd: sub, depth: depth + 1) }
                if total >= Int64.max / 4 { return total }
            }
        }
        return total
    }

    // MARK: - Running

    /// The bwrap command line for an exec (without the program).
    func arguments(_ session: SandboxSession, _ exec: SandboxExec) -> [String] {
        var a = ["--unshare-all", "--unshare-user", "--disable-userns", "--die-with-parent", "--new-session", "--cap-drop", "ALL", "--ro-bind", "/usr", "/usr"]
        for (link, target) in [("/bin", "usr/bin"), ("/lib", "usr/lib"), ("/lib64", "usr/lib64"), ("/sbin", "usr/sbin"), ("/lib32", "usr/lib32")] {
            var st = Glibc.stat()
            if lstat("/" + target, &st) == 0 { a += ["--symlink", target, link] }
        }
        a += ["--ro-bind", "/etc", "/etc", "--proc", "/proc", "--dev", "/dev", "--size", "67108864", "--tmpfs", "/tmp",
              // By path: bwrap, as the sandbox user, must be able to pass through every directory
              // above it (bwrap's --bind-fd resolves the path again, so a descriptor does not help).
              "--bind", workDir(session), "/work"]
        for b in exec.binds {
            let parent = (b.inside as NSString).deletingLastPathComponent
            if parent != "/" { a += ["--dir", parent] }
            a += ["--bind", b.host, b.inside]
        }
        // fd 3: the seccomp filter (ans_seccomp_fd: no ptrace of a sibling, no io_uring, no mount, ...).
        a += ["--remount-ro", "/", "--chdir", "/work", "--seccomp", "3", "--clearenv"]
        var env = ["PATH": "/usr/local/bin:/usr/bin:/bin", "HOME": "/work", "TMPDIR": "/tmp", "LANG": "C.UTF-8"]
        for (k, v) in exec.env { env[k] = v }
        for (k, v) in env.sorted(by: { $0.key < $1.key }) { a += ["--setenv", k, v] }
        return a + ["--"]
    }

    /// The label of the exec whose cgroups process `pid` is in (nil: none of this provider's,
    /// or no such process). Only root can move a process into or out of them, and everything an
    /// exec starts stays in them until it ends.
    public func execLabel(ofProcess pid: Int32) -> String? {
        guard pid > 0, let text = try? String(contentsOfFile: "/proc/\(pid)/cgroup", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, parts[1].split(separator: ",").contains("pids") else { continue }
            let path = parts[2]
            guard path.hasPrefix("/agentns/"), let dot = path.lastIndex(of: ".") else { return nil }
            let tag = path.dropFirst("/agentns/".count)
            guard !tag.contains("/") else { return nil }
            return String(path[path.index(path.startIndex, offsetBy: "/agentns/".count)..<dot])
        }
        return nil
    }

    public func run(_ session: SandboxSession, _ exec: SandboxExec, output: @escaping @Sendable (SandboxOutput) async -> Void) async throws -> SandboxExit {
        guard !enforceable.isEmpty else { throw FSError(.unavailable, "the sandbox cannot run here: \(problems.joined(separator: "; "))") }
        if let label = exec.label {
            guard !label.isEmpty, label.utf8.count <= 100, label.utf8.allSatisfy({ isalnum(Int32($0)) != 0 || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: "-") }) else {
                throw FSError(.invalidInput, "sandbox label '\(label)': letters, digits, '.', '_' and '-' only")
            }
        }
        guard !exec.argv.isEmpty else { throw FSError(.invalidInput, "argv is empty; name the program to run, e.g. [\"sh\", \"-c\", \"...\"]") }
        for k in exec.env.keys where !Self.isEnvironmentName(k) {
            throw FSError(.invalidInput, "'\(k)' is not an environment variable name (ASCII letters, digits and _, not starting with a digit)")
        }
        for arg in exec.argv + exec.env.keys + exec.env.values where arg.utf8.contains(0) {
            throw FSError(.invalidInput, "an argument or environment value holds a NUL byte, which a program cannot receive")
        }
        // Stopped before it started (its session is ending): nothing may run in the directory.
        if Task.isCancelled { return SandboxExit(exitCode: nil, durationMs: 0, cpuMs: 0, maxRSSKB: 0, cancelled: true) }
        let argv = [bwrap] + arguments(session, exec) + exec.argv
        let handoff = try OutputHandoff()
        let monitor = ExecMonitor(provider: self, session: session, argv: argv, exec: exec, handoff: handoff)
        return try await withTaskCancellationHandler {
            // The thread that forks lives until the exec is reaped (the parent-death signal
            // follows the forking thread).
            let thread = Thread {
                // A program that exits without reading its stdin fails our write with EPIPE; the
                // signal that comes with it must not end this process (it stays pending on this thread).
                var pipeSignal = sigset_t()
                sigemptyset(&pipeSignal)
                sigaddset(&pipeSignal, SIGPIPE)
                pthread_sigmask(SIG_BLOCK, &pipeSignal, nil)
                let r = monitor.run { handoff.push(.output($0)) }
                handoff.push(.end(r))
            }
            thread.stackSize = 1 << 20
            thread.start()
            // Awaited piece by piece: while the consumer is behind, the thread stops reading the
            // pipes and the program waits on its writes (no buffer grows).
            while true {
                switch await handoff.next() {
                case .output(let piece): await output(piece)
                case .end(let result): return try result.get()
                }
            }
        } onCancel: {
            monitor.cancel()
        }
    }

    /// `[A-Za-z_][A-Za-z0-9_]*`.
    static func isEnvironmentName(_ name: String) -> Bool {
        func letter(_ c: UInt8) -> Bool { (c >= 0x41 && c <= 0x5A) || (c >= 0x61 && c <= 0x7A) || c == 0x5F }
        guard let first = name.utf8.first, letter(first) else { return false }
        return name.utf8.allSatisfy { letter($0) || ($0 >= 0x30 && $0 <= 0x39) }
    }
}
