import Synchronization

/// The tasks of long-running work this process owns (compute jobs, container execs), by id:
/// one task each, claimed before the record that names it commits, cancelled one by one (by
/// the agent: `cancelledByUser`) or all at once (shutdown: the records stay open for the next
/// start to report). The records are in the store; this holds only what dies with the process.
public final class TaskTable: Sendable {
    struct Running {
        var agent = ""
        var task: Task<Void, Never>?
        var cancelledByUser = false
    }

    let running = Mutex<[String: Running]>([:])
    let stopping = Atomic<Bool>(false)

    public init() {}

    /// Claims an id for this process before its record commits, so the start-up recovery
    /// (which ends what a previous process left running) never touches it.
    func claim(_ id: String, agent: String) { running.withLock { r in if r[id] == nil { r[id] = Running(agent: agent) } } }

    /// Cancels the tasks of an agent that is gone (deleted, or replaced by an import); returns them.
    @discardableResult
    /// `claimed`: ids claimed and not yet started start cancelled too (marked cancelled by the
    /// user, which a table whose tasks read it must want).
    func stop(agent: String, claimed: Bool = false) -> [Task<Void, Never>] {
        let tasks = running.withLock { r in
            if claimed { for (id, entry) in r where entry.agent == agent && entry.task == nil { r[id]?.cancelledByUser = true } }
            return r.values.filter { $0.agent == agent }.compactMap(\.task)
        }
        for t in tasks { t.cancel() }
        return tasks
    }

    /// Whether this process runs (or is about to run) the id.
    func owns(_ id: String) -> Bool { running.withLock { $0[id] != nil } }

    /// Starts `body` as the id's task unless it already has one or the table is stopping.
    func start(_ id: String, _ body: @escaping @Sendable () async -> Void) {
        running.withLock { r in
            guard r[id]?.task == nil, !stopping.load(ordering: .relaxed) else { return }
            let cancelled = r[id]?.cancelledByUser ?? false
            let task = Task { await body() }
            if cancelled { task.cancel() }  // cancelled between its claim and its start
            r[id] = Running(agent: r[id]?.agent ?? "", task: task, cancelledByUser: cancelled)
        }
    }

    /// The id's task, while it runs.
    func task(_ id: String) -> Task<Void, Never>? { running.withLock { $0[id]?.task } }

    func finished(_ id: String) { _ = running.withLock { $0.removeValue(forKey: id) } }

    /// Marks the id cancelled by its agent and cancels its task; false when no task runs it
    /// (a claimed id starts cancelled).
    func cancel(_ id: String) -> Bool {
        running.withLock { r in
            guard var entry = r[id] else { return false }
            entry.cancelledByUser = true
            r[id] = entry
            guard let task = entry.task else { return false }
            task.cancel()
            return true
        }
    }

    func cancelledByUser(_ id: String) -> Bool { running.withLock { $0[id]?.cancelledByUser ?? false } }

    /// Cancels every task (leaving their records open) and waits for them.
    func stop() async {
        stopping.store(true, ordering: .relaxed)
        let tasks = running.withLock { r in r.values.compactMap(\.task) }
        for t in tasks { t.cancel() }
        for t in tasks { await t.value }
    }

    public var count: Int { running.withLock { $0.count } }
}
