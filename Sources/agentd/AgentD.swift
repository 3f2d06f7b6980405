import AgentHTTP
import ArgumentParser
import FUSEAdapter
import Foundation
import Hummingbird
import Logging
import Namespace
import Prometheus
import Runtime
import RuntimeSQLite
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

    @Flag(help: "Create an echo agent named 'demo' if it does not exist.")
    var demo = false

    @Option(help: "Also mount the namespace with FUSE at this directory, in process, as the operator.")
    var mount: String?

    @Flag(help: "With --mount: let other users read the mount's world-readable files (needs user_allow_other in /etc/fuse.conf unless root). The kernel checks the modes: only the mount's owner and root write, call, create or remove.")
    var allowOther = false

    func validate() throws {
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
        let registry = PrometheusCollectorRegistry()
        let runtime = Runtime(store: store, metrics: PrometheusMetricsFactory(registry: registry))
        if demo, try await store.agent("demo") == nil {
            _ = try await runtime.createAgent(id: "demo", kind: "echo")
        }
        var services: [any Service] = [RuntimeService(runtime: runtime)]
        if let mount {
            let fuse = FUSEMount(fileSystem: AgentFileSystem(client: runtime.client(as: .operator)), mountpoint: mount, allowOther: allowOther, runsInline: true)
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
        logger.info("stopped")
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
        logger.info("FUSE mount ended", metadata: ["mountpoint": "\(mount.mountpoint)", "status": "\(status)"])
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
