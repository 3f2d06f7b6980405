import AgentHTTP
import ArgumentParser
import AsyncHTTPClient
import ComputeOpenAI
import FUSEAdapter
import Foundation
import Hummingbird
import Logging
import Namespace
import Prometheus
import Runtime
import RuntimeSQLite
import SandboxBubblewrap
import ServiceLifecycle

@main
struct AgentD: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agentd",
        abstract: "The agentns runtime: agents, tick engine, SQLite storage and the HTTP namespace.",
        discussion: """
            On first start agentd creates the data directory, the database (agentd.sqlite) and the \
            operator token (<data>/token, mode 0600). Clients find the token there, or in \
            $AGENTD_TOKEN. SIGINT or SIGTERM stops it gracefully: it stops accepting, lets running \
            ticks finish, closes watch streams and checkpoints the database.
            """
    )

    @Option(help: "Data directory (default: $AGENTD_DATA, else $XDG_STATE_HOME/agentd, else ~/.local/state/agentd).")
    var data: String?

    @Option(help: "Address to listen on, HOST:PORT (port 0 picks a free port).")
    var listen = "127.0.0.1:5640"

    @Option(help: "File holding the operator token (default: <data>/token; created if missing).")
    var tokenFile: String?

    @Option(help: "Log level: trace, debug, info, notice, warning, error, critical.")
    var logLevel = "info"

    @Option(help: "Largest request body in bytes.")
    var maxBody = 1 << 20

    @Option(help: "Seconds an idle connection has to send a complete request head before it is closed.")
    var headTimeout = 30.0

    @Option(help: "Seconds a request has, from its head, to send its whole body before the connection is closed.")
    var bodyTimeout = 60.0

    @Option(help: "Seconds a response may wait on a client that reads nothing before the connection is closed (a stalled watcher).")
    var stallTimeout = 60.0

    @Option(help: "Records kept per log (logs/trace, logs/trajectory, outbox) per agent; older ones are pruned. Reads show the retained records.")
    var logRetain = SQLiteStore.Options().logRetain

    @Option(help: "Directory of the containers/ sessions' work directories; the sandbox user (uid 65534) must be able to pass through every directory above it (default: /var/lib/agentns/sandbox/<a hash of the data directory>).")
    var sandboxRoot: String?

    @Flag(help: "Run no sandbox provider: containers/ refuses sessions (503).")
    var noSandbox = false

    @Option(help: "Ticks that may run at once, over all agents (each agent still runs one at a time); a tick waiting on its commit holds its slot, so this bounds ticks/s at about this many per commit latency.")
    var maxConcurrentTicks: Int = 256

    @Flag(help: "Create an echo agent named 'demo' if it does not exist.")
    var demo = false

    @Option(help: "Also mount the namespace with FUSE at this directory, in process, as the operator.")
    var mount: String?

    @Flag(help: "With --mount: read every file from the runtime (direct I/O), never from the kernel's page cache.")
    var noCache = false

    @Flag(help: "With --mount: let other users read the mount's world-readable files (needs user_allow_other in /etc/fuse.conf unless root). The kernel checks the modes: only the mount's owner and root write, call, create or remove.")
    var allowOther = false

    func validate() throws {
        guard (1...100_000).contains(maxConcurrentTicks) else {
            throw ValidationError("--max-concurrent-ticks takes 1 to 100000, not \(maxConcurrentTicks)")
        }
        guard headTimeout > 0, bodyTimeout > 0, stallTimeout > 0 else {
            throw ValidationError("--head-timeout, --body-timeout and --stall-timeout must be positive")
        }
        guard logRetain >= 1 else { throw ValidationError("--log-retain must be at least 1") }
        guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level '\(logLevel)'") }
        guard listen.split(separator: ":").count == 2, Int(listen.split(separator: ":")[1]) != nil else {
            throw ValidationError("--listen takes HOST:PORT, e.g. 127.0.0.1:5640")
        }
    }

    func run() async throws {
        var logger = Logger(label: "agentd") { LineLogHandler(label: $0) }
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
        let env = ProcessInfo.processInfo.environment
        let dataDir = data ?? env["AGENTD_DATA"]
            ?? ((env["XDG_STATE_HOME"].map { $0 + "/agentd" }) ?? (NSHomeDirectory() + "/.local/state/agentd"))
        try DataDirectory.prepare(dataDir) { logger.warning("\($0)") }
        let lock = try DataDirectoryLock(directory: dataDir)
        defer { lock.release() }
        let tokenPath = tokenFile ?? dataDir + "/token"
        let token = try OperatorToken.loadOrCreate(at: tokenPath) { logger.warning("\($0)") }

        var storeOptions = SQLiteStore.Options()
        storeOptions.logRetain = logRetain
        let store = try SQLiteStore(path: dataDir + "/agentd.sqlite", options: storeOptions)
        // Providers' HTTP traffic (OpenAI's protocol) goes through one client, shut down last.
        let http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: OpenAIProviderFactory.httpConfiguration)
        do {
            try await serve(dataDir: dataDir, tokenPath: tokenPath, token: token, store: store, http: http, logger: logger)
        } catch {
            try? await http.shutdown()
            throw error
        }
        try? await http.shutdown()
        logger.info("stopped")
    }

    /// Work directories live outside the data directory (0700, and often under a 0700 home):
    /// bubblewrap runs as the sandbox user and binds them by path, so every directory above them
    /// must let that user pass. One directory per data directory, named by a hash of its path.
    static func defaultSandboxRoot(_ dataDir: String) throws -> String {
        let real = URL(fileURLWithPath: dataDir).resolvingSymlinksInPath().path
        let base = "/var/lib/agentns"
        for dir in [base, base + "/sandbox"] {
            if mkdir(dir, 0o711) != 0 && errno != EEXIST { throw StartError("cannot make \(dir) for sandbox work directories: \(String(cString: strerror(errno))); give --sandbox-root or --no-sandbox") }
            chmod(dir, 0o711)
        }
        return base + "/sandbox/" + String(FileStat.stableID(real), radix: 16)
    }

    func serve(dataDir: String, tokenPath: String, token: String, store: SQLiteStore, http: HTTPClient, logger: Logger) async throws {
        let registry = PrometheusCollectorRegistry()
        // containers/: bubblewrap on this host, work directories under the data directory.
        let sandbox: Bubblewrap? = noSandbox ? nil : Bubblewrap(root: try sandboxRoot ?? Self.defaultSandboxRoot(dataDir))
        if let sandbox, !sandbox.problems.isEmpty {
            logger.warning("containers: \(sandbox.problems.joined(separator: "; ")); sessions are refused until that is fixed")
        }
        // Exec agents' /n/self: one FUSE mount serving every agent's own namespace as that agent
        // (`<mount>/<id>` is bound into the agent's sandbox), owned by the sandbox user so that
        // the kernel applies the modes each agent's principal is shown. `.self` is no agent id.
        let selfPath = sandbox.flatMap { $0.enforceable.isEmpty ? nil : $0.root + "/.self" }
        let runtime = Runtime(store: store, maxConcurrentTicks: maxConcurrentTicks, metrics: PrometheusMetricsFactory(registry: registry), providers: OpenAIProviderFactory(http: http),
                              sandbox: sandbox, selfMount: selfPath)
        if demo, try await store.agent("demo") == nil {
            _ = try await runtime.createAgent(id: "demo", kind: "echo")
        }
        // ServiceLifecycle stops services in reverse order: the self mount after the runtime,
        // whose programs use it until they are stopped.
        var services: [any Service] = []
        if let selfPath, let sandbox {
            mkdir(selfPath, 0o755)
            // This agentd holds the data directory's lock, so whatever is mounted there is a
            // previous agentd's (killed: its connection may not read as broken yet).
            if SystemMounts.isMounted(selfPath) {
                try? SystemMounts.detach(selfPath)
                logger.warning("cleared the self mount a previous agentd left at \(selfPath)")
            }
            // `/<id>` is for the processes of agent <id>'s running tick only (their cgroups say
            // so; nothing else can join them): not another sandbox, not a host process.
            let fuse = FUSEMount(fileSystem: AgentFileSystem(client: SelfClient(runtime: runtime)), mountpoint: selfPath, allowOther: true,
                                 owner: (sandbox.uid, sandbox.gid), ownerOnly: true, runsInline: true, admit: { pid, path in
                                     guard let first = path.split(separator: "/").first else { return true }
                                     return sandbox.execLabel(ofProcess: pid) == Runtime.programLabel(String(first))
                                 })
            do {
                try fuse.mount()
                runtime.selfMount(isUp: true)
                services.append(FUSEService(mount: fuse, logger: logger) { runtime.selfMount(isUp: false) })
            } catch let e as FSError {
                // Containers still work; exec agents' ticks fail, saying why, until a restart mounts it.
                logger.error("exec agents cannot run: their self mount failed: \(e.message)")
            }
        }
        services.append(RuntimeService(runtime: runtime))
        if let mount {
            // Unchanged documents are read from the kernel's page cache: every commit moves the
            // generation of the agents it changed before it is acknowledged (docs/performance.md).
            let cache = noCache ? nil : PageCache()
            if let cache { _ = runtime.observeChanges { cache.changed(agents: $0) } }
            let fuse = FUSEMount(fileSystem: AgentFileSystem(client: runtime.client(as: .operator), pageCache: cache), mountpoint: mount,
                                 allowOther: allowOther, runsInline: true)
            do { try fuse.mount() } catch let e as FSError { throw StartError(e.message) }
            services.append(FUSEService(mount: fuse, logger: logger))
        }
        let parts = listen.split(separator: ":")
        var options = AgentHTTPOptions()
        options.maxBodyBytes = maxBody
        options.requestHeadSeconds = headTimeout
        options.requestBodySeconds = bodyTimeout
        options.responseStallSeconds = stallTimeout
        let app = AgentHTTPServer.application(
            runtime: runtime, operatorToken: token, host: String(parts[0]), port: Int(parts[1])!, options: options, registry: registry,
            services: services, logger: logger
        ) { port in
            print("""
                agentd \(Runtime.version) listening on http://\(parts[0]):\(port)
                data:  \(dataDir) (database agentd.sqlite)
                token: \(tokenPath)
                try:   curl -H "Authorization: Bearer $(cat \(tokenPath))" http://\(parts[0]):\(port)/agents
                """)
            if let mount { print("mount: \(SystemMounts.absolute(mount)) (FUSE, in process; unmounted on SIGINT/SIGTERM)") }
            fflush(nil)
        }
        try await app.runService()
        await store.close()
    }
}

/// The tick engine as a service of the server's group: cancelled on graceful shutdown, after
/// which running ticks finish before `run` returns.
struct RuntimeService: Service {
    let runtime: Runtime
    func run() async throws {
        try await cancelWhenGracefulShutdown { await runtime.run() }
    }
}

/// The in-process FUSE mount as a service: its loop runs until graceful shutdown, which
/// unmounts it (or until someone runs `agentfs unmount` on it, after which agentd keeps serving HTTP).
struct FUSEService: Service {
    let mount: FUSEMount
    let logger: Logger
    /// Called once the mount has ended.
    var ended: @Sendable () -> Void = {}
    func run() async throws {
        let status = await withTaskCancellationHandler {
            await withGracefulShutdownHandler {
                await mount.run()
            } onGracefulShutdown: {
                mount.unmount()
            }
        } onCancel: {
            mount.unmount()  // the group failed (e.g. the port was taken): do not leave the mount behind
        }
        ended()
        var metadata: Logger.Metadata = ["mountpoint": "\(mount.mountpoint)", "status": "\(status)"]
        if let c = mount.fileSystem.pageCache?.openCounts {
            metadata["page_cache_opens"] = "keep \(c.keep), fill \(c.fill), direct \(c.direct)"
        }
        logger.info("FUSE mount ended", metadata: metadata)
        // A service that returns would stop the whole group; agentd keeps serving HTTP.
        try? await gracefulShutdown()
    }
}

/// An exclusive lock on the data directory, so two agentd never share one database.
struct DataDirectoryLock {
    let fd: Int32

    init(directory: String) throws {
        let path = directory + "/agentd.lock"
        fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw StartError("cannot open \(path): \(String(cString: strerror(errno)))") }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let pid = (try? String(contentsOfFile: path, encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "?"
            close(fd)
            throw StartError("another agentd (pid \(pid)) is running on \(directory); stop it or use another --data directory")
        }
        ftruncate(fd, 0)
        let pid = "\(getpid())\n"
        _ = pid.withCString { write(fd, $0, strlen($0)) }
    }

    func release() { close(fd) }
}

enum OperatorToken {
    static func loadOrCreate(at path: String, report: (String) -> Void) throws -> String {
        var st = stat()
        if stat(path, &st) == 0 { try DataDirectory.tighten(path, st, mode: 0o600, what: "token file", report: report) }
        if let text = try? String(contentsOfFile: path, encoding: .utf8) {
            let token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !token.isEmpty else { throw StartError("the token file \(path) is empty; delete it to get a new token") }
            return token
        }
        let token = Tokens.generate(prefix: "op_")
        try DataDirectory.createSecret(path, token + "\n")
        return token
    }
}

/// A start-up failure: one line on stderr, exit status 1, no usage text.
struct StartError: Error, CustomStringConvertible {
    let description: String
    init(_ message: String) { description = message }
}
