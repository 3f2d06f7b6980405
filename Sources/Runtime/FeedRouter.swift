import Namespace
import Services
import Synchronization

/// The runtime's change sink: routes what each commit changed to the feeds of the files it
/// changed, in commit order (it runs on the store's writer, before the writers are resumed).
/// Log and inbox records keep their storage ids; documents (status, config, state) send
/// `modified` with the content the commit left, skipping repeats, so the last `modified` a
/// watcher sees is the file's content once writes stop.
final class FeedRouter: ChangeSink {
    let feeds: FeedHub
    /// Computes `status` from a row (the runtime's settings cache); weak: the runtime owns the store.
    private let runtime = Mutex<WeakRuntime>(WeakRuntime())
    private let deliveries = Atomic<Int>(0)

    struct WeakRuntime: @unchecked Sendable { weak var value: Runtime? }

    init(feeds: FeedHub) { self.feeds = feeds }

    func attach(_ r: Runtime) { runtime.withLock { $0.value = r } }

    func followsRow(of agent: String) -> Bool { feeds.followsRow(of: agent) }

    /// Told the agents each commit changed, on the writer before its writers resume (an
    /// in-process FUSE mount's page cache, agentd's change stream).
    private let observers = Mutex<[UInt64: @Sendable (Set<String>) -> Void]>([:])
    private let observed = Atomic<Int>(0)
    private let nextObserver = Atomic<UInt64>(1)

    func observe(_ observer: @escaping @Sendable (Set<String>) -> Void) -> UInt64 {
        let id = nextObserver.wrappingAdd(1, ordering: .relaxed).oldValue
        observers.withLock { $0[id] = observer }
        observed.add(1, ordering: .releasing)
        return id
    }

    func unobserve(_ id: UInt64) {
        if observers.withLock({ $0.removeValue(forKey: id) }) != nil { observed.subtract(1, ordering: .releasing) }
    }

    func committed(_ changes: [StoreChange]) {
        if observed.load(ordering: .acquiring) > 0 {
            let agents = Set(changes.map(\.agent))
            if !agents.isEmpty { for observer in observers.withLock({ Array($0.values) }) { observer(agents) } }
        }
        for change in changes { route(change) }
        // Unwatched feeds keep filling with records; look at their total now and then.
        if deliveries.wrappingAdd(1, ordering: .relaxed).newValue % 256 == 0 { feeds.sweepIdle() }
    }

    func route(_ change: StoreChange) {
        typealias Key = FeedHub.Key
        switch change {
        case .logged(let agent, let r):
            feeds.publish(Key(agent: agent, topic: .log(r.log)), event: "record", data: r.line, id: UInt64(r.seq))
        case .enqueued(let agent, let e):
            feeds.publish(Key(agent: agent, topic: .inbox), event: "record", data: e.json.description, id: UInt64(e.seq))
        case .deadLettered(let agent, let id):
            feeds.publish(Key(agent: agent, topic: .deadletter), event: "created", data: id)
        case .deadLetterRemoved(let agent, let id):
            feeds.publish(Key(agent: agent, topic: .deadletter), event: "deleted", data: id)
        case .goalPut(let agent, let id, let created):
            feeds.publish(Key(agent: agent, topic: .goals), event: created ? "created" : "modified", data: id + ".json")
        case .goalRemoved(let agent, let id):
            feeds.publish(Key(agent: agent, topic: .goals), event: "deleted", data: id + ".json")
        case .row(let r):
            if let f = feeds.existing(Key(agent: r.id, topic: .status)), let rt = runtime.withLock({ $0.value }) {
                f.publishChange(event: "modified", data: rt.status(of: r).description)
            }
            if let f = feeds.existing(Key(agent: r.id, topic: .config)) { f.publishChange(event: "modified", data: r.config.description) }
            if let f = feeds.existing(Key(agent: r.id, topic: .state)) { f.publishChange(event: "modified", data: r.state.description) }
        case .jobStreamed(let agent, let job, let seq, let line):
            feeds.publish(Key(agent: agent, topic: .job(job)), event: "record", data: line, id: UInt64(seq))
        case .execOutput(let agent, let session, let exec, let seq, let line):
            feeds.publish(Key(agent: agent, topic: .execOutput(session: session, exec: exec)), event: "record", data: line, id: UInt64(seq))
        case .sessionOutput(let agent, let session, let seq, let line):
            feeds.publish(Key(agent: agent, topic: .sessionOutput(session)), event: "record", data: line, id: UInt64(seq))
        case .touched: break
        case .agentDeleted(let agent):
            feeds.end(agent: agent, reason: "the agent was deleted")
        }
    }
}
