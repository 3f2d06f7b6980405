import AgentClient
import ArgumentParser
import AsyncHTTPClient
import Dispatch
import FUSEAdapter
import Foundation
import Glibc
import NIOCore
import Namespace
import Synchronization

@main
struct AgentFS: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agentfs",
        abstract: "Mount a running agentd's namespace with FUSE, the way 9pfuse mounts a 9P server.",
        discussion: """
            The mount shows DIR/agents/<id>/... and DIR/runtime/status. cat reads, echo > replaces, \
            echo >> appends, rm removes, ls lists, and tail -f follows logs. A write is committed \
            when the file is closed, and the close reports any error (EACCES, EINVAL, EAGAIN, ...). \
            An unreachable agentd gives EIO; the mount recovers when agentd is back.
            """,
        subcommands: [Mount.self, Unmount.self]
    )
}

struct Mount: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Mount agentd's namespace at DIR.",
        discussion: """
            Without --foreground agentfs returns once the mount is ready and keeps serving it in the \
            background; stop it with 'agentfs unmount DIR'. In the foreground SIGINT or SIGTERM \
            unmounts and exits. A stale mount left at DIR by a crash is cleared first. \
            The token is --token, else $AGENTD_TOKEN, else <data>/token. With an agent token the \
            mount shows only that agent, under its mount table's access levels.
            """
    )

    @Argument(help: "agentd's URL, e.g. http://127.0.0.1:5640.")
    var url: String

    @Argument(help: "An existing, empty directory to mount on.")
    var dir: String

    @Option(help: "Bearer token (default: $AGENTD_TOKEN or <data>/token).")
    var token: String?

    @Option(help: "agentd's data directory, to find its token (default: $AGENTD_DATA or ~/.local/state/agentd).")
    var data: String?

    @Flag(help: "Stay in the foreground until unmounted or signalled.")
    var foreground = false

    @Flag(help: "Let other users read the mount's world-readable files (needs user_allow_other in /etc/fuse.conf unless root). The kernel checks the modes: only the mount's owner and root write, call, create or remove.")
    var allowOther = false

    @Option(help: "Seconds the kernel may cache names and attributes.")
    var attrTimeout = 1.0

    @Flag(help: "Read every file from agentd (direct I/O), never from the kernel's page cache. Without it, unchanged status, config and goal files are read from the page cache while agentd's change stream (GET /agents?watch=1) is connected, and changed ones are re-read once agentd says so (typically within milliseconds; see docs/performance.md).")
    var noCache = false

    @Option(help: "Seconds before a request to agentd is given up with EIO.")
    var timeout = 10

    @Option(help: "Where the background mount writes its diagnostics (default: discarded).")
    var logFile: String?

    func validate() throws {
        guard url.hasPrefix("http://") || url.hasPrefix("https://") else { throw ValidationError("URL must start with http:// or https://") }
        guard attrTimeout >= 0, attrTimeout <= 60 else { throw ValidationError("--attr-timeout takes 0 to 60 seconds") }
        guard timeout > 0 else { throw ValidationError("--timeout must be positive") }
    }

    func run() async throws {
        var pool = HTTPClient.Configuration.ConnectionPool(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: 32)
        // A refused connection is EIO now, not after retries with backoff: a vanished agentd
        // fails fast, and the first request after it is back connects at once.
        pool.retryConnectionEstablishment = false
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(
            timeout: .init(connect: .seconds(2), read: .seconds(Int64(timeout))), connectionPool: pool))
        do {
            try await serve(http)
        } catch {
            try? await http.shutdown()
            throw error
        }
        try? await http.shutdown()
    }

    func serve(_ http: HTTPClient) async throws {
        var client = HTTPFileClient(url: url, token: ClientDefaults.token(token, data: data), http: http)
        client.timeout = .seconds(Int64(timeout))
        // Fail here, in the caller's terminal, if the server or the token is wrong.
        do { _ = try await client.list("/agents") } catch let e as FSError {
            throw Failure("\(e.message)")
        }
        do {
            try FUSEMount.prepare(dir) { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }
        } catch let e as FSError { throw Failure(e.message) }
        if !foreground {
            try spawnBackground()
            return
        }
        // Until the change stream is connected (and whenever it is not) every open is direct.
        let cache = noCache ? nil : PageCache(suspended: true)
        let feed = cache.map { ChangeFeed.follow(client, into: $0) }
        defer { feed?.cancel() }
        let mount = FUSEMount(fileSystem: AgentFileSystem(client: client, attributeTimeout: attrTimeout, pageCache: cache),
                              mountpoint: dir, allowOther: allowOther)
        do { try mount.mount() } catch let e as FSError { throw Failure("\(e.message)") }
        let signals = SignalHandlers([SIGINT, SIGTERM, SIGHUP]) { mount.unmount() }
        print("agentfs: \(url) mounted on \(mount.mountpoint)")
        fflush(nil)
        let status = await mount.run()
        signals.cancel()
        if status != 0 { throw Failure("the FUSE loop ended with status \(status)") }
    }

    /// Starts this program again with --foreground in its own session, and returns when the
    /// mount is up (or says why not).
    func spawnBackground() throws {
        var args = CommandLine.arguments
        args.append("--foreground")
        let path = SystemMounts.absolute(dir)
        let log = logFile ?? "/dev/null"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, log, O_WRONLY | O_CREAT | O_APPEND, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 1, 2)
        var attr = posix_spawnattr_t()
        posix_spawnattr_init(&attr)
        defer { posix_spawnattr_destroy(&attr) }
        posix_spawnattr_setflags(&attr, 0x80)  // POSIX_SPAWN_SETSID (glibc, hidden behind _GNU_SOURCE)
        var cargs = args.map { strdup($0) } + [nil]
        var cenv = ProcessInfo.processInfo.environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (cargs + cenv).forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawn(&pid, "/proc/self/exe", &actions, &attr, &cargs, &cenv)
        guard rc == 0 else { throw Failure("cannot start the background mount: \(String(cString: strerror(rc)))") }
        for _ in 0..<200 {
            if SystemMounts.isMounted(path), !SystemMounts.isStale(path) {
                print("agentfs: \(url) mounted on \(path) (pid \(pid)); 'agentfs unmount \(path)' to stop")
                return
            }
            var status: Int32 = 0
            if waitpid(pid, &status, WNOHANG) == pid {
                throw Failure("the mount process exited before the mount was ready; run with --foreground to see why")
            }
            usleep(50_000)
        }
        kill(pid, SIGTERM)
        throw Failure("the mount did not appear within 10 s; run with --foreground to see why")
    }
}

struct Unmount: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Unmount an agentfs mount (a stale one too); the serving agentfs then exits."
    )

    @Argument(help: "The mount point.")
    var dir: String

    @Flag(help: "Detach now even if files on the mount are open (MNT_DETACH).")
    var lazy = false

    func run() throws {
        let path = SystemMounts.absolute(dir)
        guard SystemMounts.isMounted(path) else { throw Failure("\(path) is not mounted") }
        do { try SystemMounts.detach(path, lazy: lazy || SystemMounts.isStale(path)) } catch let e as FSError {
            throw Failure("\(e.message)")
        }
    }
}

/// SIGINT/SIGTERM/SIGHUP handled on a dispatch queue instead of killing the process.
final class SignalHandlers: @unchecked Sendable {  // sources are set once; cancel is thread-safe
    let sources: [any DispatchSourceSignal]

    init(_ signals: [Int32], _ handler: @escaping @Sendable () -> Void) {
        sources = signals.map { sig in
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler(handler: handler)
            source.resume()
            return source
        }
    }

    func cancel() { sources.forEach { $0.cancel() } }
}

/// A refusal: ArgumentParser prints "Error: <message>" on stderr and exits with status 1.
struct Failure: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}

/// Keeps a remote mount's page cache fresh from agentd's change stream, `GET /agents?watch=1`:
/// each `changed` event moves that agent's generation. The stream's first event is a `reset`,
/// sent once agentd is following the commits for it; only then does caching start, and it stops
/// (every open direct) the moment the stream is lost, until a new one has begun the same way.
/// agentd writes a keep-alive at least every 2 s, and a stream silent for 12 s counts as lost.
enum ChangeFeed {
    static func follow(_ client: HTTPFileClient, into cache: PageCache) -> Task<Void, Never> {
        Task {
            // 0.5 s after a stream that began; doubling to 30 s while none does (agentd down, the
            // token refused, or an agentd without the stream answering something else).
            var pause = 0.5
            while !Task.isCancelled {
                do {
                    let body = try await client.open("/agents", after: nil)
                    var parser = SSEParser()
                    var started = false
                    let watchdog = Watchdog(seconds: 12) { cache.suspend(true) }
                    defer { watchdog.cancel() }
                    for try await buffer in body {
                        watchdog.pet()
                        for record in parser.feed(Array(buffer.readableBytesView)) {
                            switch record.event {
                            case "changed" where started: cache.changed(agents: CollectionOfOne(record.data))
                            case "reset" where !started:
                                started = true
                                pause = 0.5
                                cache.suspend(false)
                            case "reset": cache.changedAll()
                            default: break
                            }
                        }
                        if watchdog.expired { break }
                    }
                } catch {}
                cache.suspend(true)
                try? await Task.sleep(for: .milliseconds(Int64(pause * 1000)))
                pause = min(pause * 2, 30)
            }
        }
    }
}

/// Calls `expire` once when `pet` has not been called for `seconds`.
final class Watchdog: Sendable {
    final class State: Sendable {
        let last = Mutex<(at: UInt64, expired: Bool)>((DispatchTime.now().uptimeNanoseconds, false))
    }

    let state = State()
    let task: Task<Void, Never>

    init(seconds: Double, expire: @escaping @Sendable () -> Void) {
        let state = self.state
        task = Task {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(1))
                let fire = state.last.withLock { s -> Bool in
                    guard !s.expired, DispatchTime.now().uptimeNanoseconds &- s.at > UInt64(seconds * 1e9) else { return false }
                    s.expired = true
                    return true
                }
                if fire { expire() }
            }
        }
    }

    func pet() { state.last.withLock { $0.at = DispatchTime.now().uptimeNanoseconds } }
    var expired: Bool { state.last.withLock { $0.expired } }
    func cancel() { task.cancel() }
}
