import Synchronization

/// The container execs this runtime is running (one task each, in a `TaskTable`) and the
/// sandbox provider they run in. Sessions and execs are records in the store; this holds only
/// what dies with the process.
public final class ContainerRunner: Sendable {
    /// Where sessions live and execs run (nil: none; `containers/new` says so).
    public let sandbox: (any SandboxProvider)?
    let tasks = TaskTable()
    /// Which session each running exec belongs to (a stop ends them).
    let sessionOf = Mutex<[String: String]>([:])
    /// Ended sessions are kept this long (status, execs, output), then pruned.
    public static let keepEndedMs: Int64 = 24 * 3600 * 1000
    /// How often idle sessions are looked for.
    public static let expiryCheckMs: Int64 = 5_000

    init(sandbox: (any SandboxProvider)?) { self.sandbox = sandbox }

    func claim(_ exec: String, agent: String, session: String) {
        tasks.claim(exec, agent: agent)
        sessionOf.withLock { $0[exec] = session }
    }

    func finished(_ exec: String) {
        tasks.finished(exec)
        _ = sessionOf.withLock { $0.removeValue(forKey: exec) }
    }

    /// Execs of a session this process is running.
    func running(in session: String) -> [String] { sessionOf.withLock { m in m.filter { $0.value == session }.map(\.key) } }

    public var runningCount: Int { tasks.count }
}
