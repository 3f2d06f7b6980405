import CFuse
public import Foundation
import Glibc
import Namespace
import Synchronization

/// A mount of an AgentFileSystem with libfuse3's multithreaded loop: `mount()` attaches it
/// (clearing a stale mount a crash left behind), `run()` serves until `unmount()` or an outside
/// `umount`, then detaches and frees everything. One mount per instance.
public final class FUSEMount: @unchecked Sendable {
    public let fileSystem: AgentFileSystem
    public let mountpoint: String
    let options: [String]
    let uid: uid_t
    let gid: gid_t
    let mountedAt = Int64(Date().timeIntervalSince1970 * 1000)
    /// `struct fuse *`, set by mount() and cleared after run(); guarded by `state`.
    let state = Mutex<State>(State())
    /// The permission bits reported (owner-only mounts drop group and other).
    let modeMask: UInt32
    /// Who may use which path (nil: everyone the kernel lets through).
    let admit: (@Sendable (Int32, String) -> Bool)?

    /// Whether the admission check refuses the request being served (on a libfuse thread).
    func refuses(_ path: String) -> Bool {
        guard let admit else { return false }
        return !admit(agentns_fuse_caller_pid(), path)
    }

    /// Where diagnostics go (stale mounts cleared, unmount failures).
    let report: @Sendable (String) -> Void

    struct State {
        var fuse: SessionPointer?
        var running = false
        var stopping = false
    }

    /// Whether requests run on the libfuse thread that received them (`call`); otherwise on
    /// the Swift pool while that thread waits.
    let runsInline: Bool
    /// Most libfuse worker threads at once. A request holds its worker until it is answered
    /// (`echo tick > ctl` for as long as the tick), so this is how many slow requests can be
    /// in flight before a quick `cat` waits behind them. libfuse's own default is 10.
    public static let maxThreads: UInt32 = 64
    static let maxIdleThreads: UInt32 = 8

    /// - Parameters:
    ///   - allowOther: let other users use the mount (needs `user_allow_other` in
    ///     /etc/fuse.conf unless root). The kernel then checks every access against the modes
    ///     the mount reports (`default_permissions`): the files belong to the mount's owner, so
    ///     others may read what is world-readable and never write, call, create or remove —
    ///     they never act as the mount's principal.
    ///   - owner: the uid and gid the files are reported as owned by (default: this process's);
    ///     the one user, besides root, that acts as the principal through an `allowOther` mount.
    ///   - admit: asked before every request that names a path, with the requesting process
    ///     (its thread id; 0 when the kernel asks by itself) and the path: false answers EACCES.
    ///   - ownerOnly: report only the owner's permission bits (others, the kernel refuses).
    public init(fileSystem: AgentFileSystem, mountpoint: String, allowOther: Bool = false, owner: (uid: UInt32, gid: UInt32)? = nil,
                ownerOnly: Bool = false, runsInline: Bool = false, admit: (@Sendable (_ pid: Int32, _ path: String) -> Bool)? = nil,
                report: @escaping @Sendable (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }) {
        self.fileSystem = fileSystem
        self.admit = admit
        self.modeMask = ownerOnly ? 0o700 : 0o7777
        self.runsInline = runsInline
        self.mountpoint = SystemMounts.absolute(mountpoint)
        self.uid = owner?.uid ?? getuid()
        self.gid = owner?.gid ?? getgid()
        var opts = ["fsname=agentfs", "subtype=agentfs"]
        if allowOther { opts += ["allow_other", "default_permissions"] }
        self.options = opts
        self.report = report
    }

    /// Attaches the file system at the mount point. Throws a message a person can act on.
    public func mount() throws {
        try Self.prepare(mountpoint, report: report)
        var ops = FUSEOperations.table()
        let argv = ["agentfs", "-o", options.joined(separator: ",")]
        var cargs = argv.map { strdup($0) }
        defer { cargs.forEach { free($0) } }
        let me = Unmanaged.passUnretained(self).toOpaque()
        let fuse = cargs.withUnsafeMutableBufferPointer { buf in
            agentns_fuse_new(Int32(buf.count), buf.baseAddress, &ops, me)
        }
        guard let fuse else { throw FSError(.unavailable, "libfuse could not set up the file system (options \(options))", path: mountpoint) }
        guard fuse_mount(fuse, mountpoint) == 0 else {
            fuse_destroy(fuse)
            throw FSError(.unavailable, "cannot mount on \(mountpoint): is /dev/fuse present and fusermount3 installed (apt-get install fuse3)?", path: mountpoint)
        }
        state.withLock { $0.fuse = SessionPointer(raw: fuse) }
    }

    /// Makes `path` ready to mount on: a stale mount there (its server died) is cleared with a
    /// message; a live mount or a missing directory is refused with what to do.
    public static func prepare(_ path: String, report: (String) -> Void) throws {
        let mountpoint = SystemMounts.absolute(path)
        var isDir: ObjCBool = false
        if SystemMounts.isStale(mountpoint) {
            try SystemMounts.detach(mountpoint)
            report("agentfs: cleared a stale mount at \(mountpoint) (left by an agentfs or agentd that did not unmount)")
        } else if SystemMounts.isMounted(mountpoint) {
            throw FSError(.alreadyExists, "\(mountpoint) is already a mount point; run 'agentfs unmount \(mountpoint)' first", path: mountpoint)
        }
        guard FileManager.default.fileExists(atPath: mountpoint, isDirectory: &isDir), isDir.boolValue else {
            throw FSError(.notFound, "\(mountpoint) is not a directory; create it with 'mkdir -p \(mountpoint)'", path: mountpoint)
        }
    }

    /// Serves requests on libfuse's worker threads until unmounted, then frees the session.
    /// Returns the loop's status (0 after a clean unmount).
    public func run() async -> Int32 {
        guard let session = state.withLock({ s -> SessionPointer? in
            guard !s.running, !s.stopping else { return nil }
            s.running = true
            return s.fuse
        }) else { return -1 }
        // The loop blocks a thread for the life of the mount: a dedicated one, not the pool's.
        let status: Int32 = await withCheckedContinuation { done in
            let thread = Thread { [self] in
                let fuse = session.raw
                let rc = agentns_fuse_loop_mt(fuse, Self.maxThreads, Self.maxIdleThreads)
                fuse_unmount(fuse)
                state.withLock { $0.fuse = nil }
                fuse_destroy(fuse)
                done.resume(returning: rc)
            }
            thread.name = "agentfs-loop"
            thread.start()
        }
        return status
    }

    /// Stops the loop and detaches the mount; safe from any thread, more than once.
    public func unmount() {
        let session = state.withLock { s -> SessionPointer? in
            if s.stopping { return nil }
            s.stopping = true
            return s.fuse
        }
        guard let session else { return }
        fuse_exit(session.raw)
        // The loop's threads sit in read(2) on /dev/fuse; detaching the mount ends the
        // connection, which wakes them with ENODEV.
        do { try SystemMounts.detach(mountpoint) } catch { report("agentfs: \(error)") }
    }

    /// Runs `body` on the Swift pool and blocks this (libfuse) thread until it finishes. Any
    /// error becomes a negative errno from the one table; anything unexpected is EIO.
    /// The task prefers an executor that runs its jobs on this very thread while it waits, so
    /// a request costs no hand-off to the Swift pool and back (two context switches, most of
    /// a small request's time); actors it calls still isolate as usual.
    func call<T: Sendable>(_ body: @escaping @Sendable () async throws -> T, success: (T) -> Int32) -> Int32 {
        let box = ResultBox<T>()
        let executor = CallingThreadExecutor()
        Task(executorPreference: runsInline ? executor : nil) {
            do { box.result = .success(try await body()) } catch { box.result = .failure(error) }
            executor.finish()
        }
        executor.runUntilFinished()
        switch box.result {
        case .success(let value): return success(value)
        case .failure(let error): return Self.errno(error)
        case nil: return -EIO
        }
    }

    /// The negative errno libfuse wants for `error`, from the one table; anything else is EIO.
    static func errno(_ error: any Error) -> Int32 {
        (error as? FSError).map { -$0.code.errno } ?? -EIO
    }
}

/// `struct fuse *` handed to the loop's thread, which is then its only user until it ends.
struct SessionPointer: @unchecked Sendable {
    let raw: OpaquePointer
}

/// A result handed from a task to the libfuse thread that ran it; `finish` orders the accesses.
final class ResultBox<T>: @unchecked Sendable {
    var result: Result<T, any Error>?
}

/// A task executor whose jobs run on the thread blocked in `runUntilFinished` (one libfuse
/// worker, for one request). Jobs that arrive from elsewhere (a continuation resumed by the
/// SQLite writer or an HTTP event loop) are queued and run there too.
final class CallingThreadExecutor: TaskExecutor, @unchecked Sendable {
    private let condition = NSCondition()
    private var jobs: [UnownedJob] = []
    private var finished = false

    func enqueue(_ job: consuming ExecutorJob) {
        let unowned = UnownedJob(job)
        condition.lock()
        jobs.append(unowned)
        condition.signal()
        condition.unlock()
    }

    func finish() {
        condition.lock()
        finished = true
        condition.signal()
        condition.unlock()
    }

    func runUntilFinished() {
        while true {
            condition.lock()
            while jobs.isEmpty && !finished { condition.wait() }
            let batch = jobs
            jobs.removeAll(keepingCapacity: true)
            let done = finished && batch.isEmpty
            condition.unlock()
            if done { return }
            for job in batch { job.runSynchronously(on: asUnownedTaskExecutor()) }
        }
    }
}

/// The system's mount table, as far as agentfs needs it.
public enum SystemMounts {
    public static func absolute(_ path: String) -> String {
        let full = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        return URL(fileURLWithPath: full).standardized.path
    }

    /// Mount points from /proc/self/mountinfo (field 5, octal escapes decoded).
    public static func mountPoints() -> [(path: String, type: String)] {
        guard let text = try? String(contentsOfFile: "/proc/self/mountinfo", encoding: .utf8) else { return [] }
        return text.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ")
            guard fields.count > 7, let dash = fields.firstIndex(of: "-"), dash + 1 < fields.count else { return nil }
            return (unescape(String(fields[4])), String(fields[dash + 1]))
        }
    }

    public static func isMounted(_ path: String) -> Bool {
        let p = absolute(path)
        return mountPoints().contains { $0.path == p }
    }

    /// A FUSE mount whose server is gone: the kernel answers ENOTCONN to everything.
    public static func isStale(_ path: String) -> Bool {
        var st = stat()
        return lstat(absolute(path), &st) != 0 && errno == ENOTCONN
    }

    /// Detaches the mount at `path`: umount2(MNT_DETACH) as root, fusermount3 -u -z otherwise.
    public static func detach(_ path: String, lazy: Bool = true) throws {
        let p = absolute(path)
        if geteuid() == 0 {
            if umount2(p, lazy ? Int32(MNT_DETACH) : 0) != 0 {
                let e = errno
                if e == EINVAL, !isMounted(p) { return }  // already gone
                let hint = e == EBUSY ? "; a process is using it (see 'fuser -m \(p)'), or use --lazy" : ""
                throw FSError(.unavailable, "cannot unmount \(p): \(String(cString: strerror(e)))\(hint)", path: p)
            }
            return
        }
        let tool = Process()
        tool.executableURL = URL(fileURLWithPath: "/bin/fusermount3")
        tool.arguments = lazy ? ["-u", "-z", "-q", p] : ["-u", "-q", p]
        do { try tool.run() } catch {
            throw FSError(.unavailable, "cannot run fusermount3 (apt-get install fuse3): \(error)", path: p)
        }
        tool.waitUntilExit()
        if tool.terminationStatus != 0, isMounted(p) {
            throw FSError(.unavailable, "fusermount3 could not unmount \(p); a process may be using it (see 'fuser -m \(p)')", path: p)
        }
    }

    static func unescape(_ s: String) -> String {
        guard s.contains("\\") else { return s }
        var out = [UInt8]()
        let bytes = Array(s.utf8)
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\\"), i + 3 < bytes.count,
               let v = UInt8(String(decoding: bytes[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(v)
                i += 4
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
