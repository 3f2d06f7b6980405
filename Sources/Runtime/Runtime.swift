public import CoreMetrics
public import Foundation
public import Namespace
public import Services
import Synchronization

/// The runtime: agents, their namespaces, the tick engine and storage. The HTTP layer, the
/// FUSE adapter and the tests all reach agents through `client(as:)` (a FileClient) or the
/// agent methods here, so transports add no logic of their own.
public final class Runtime: Sendable {
    public let store: any AgentStore
    public let clock: any AgentClock
    public let kinds: KindRegistry
    public let feeds: FeedHub
    /// Receives the store's change stream and feeds the watchers (installed in `init`).
    let router: FeedRouter
    public let engine: TickEngine
    /// Compute jobs running in this process.
    public let compute: ComputeRunner
    /// Container execs running in this process, and the sandbox provider.
    public let containers: ContainerRunner
    public let startedAt: Int64
    /// Where the self mount serves each agent's own namespace (`<selfMount>/<id>` is bound at an
    /// exec agent's `/n/self`); nil: programs run without one.
    public let selfMount: String?
    /// The sandbox runs of exec agents' ticks under way, by agent (deleting an agent ends its run).
    let programRuns = TaskTable()
    /// What exec agents' programs ask through the self mount, bounded and abortable per agent.
    let selfCalls = SelfCalls()
    /// Whether the self mount is up (agentd says so once it has mounted it): exec agents' ticks
    /// are refused without it rather than run without their /n/self.
    let selfMountUp = Atomic<Bool>(false)

    /// agentd mounted (or lost) the self mount.
    public func selfMount(isUp: Bool) { selfMountUp.store(isUp, ordering: .relaxed) }
    let metrics: RuntimeMetrics
    /// Each agent's parsed config and namespace, reused while its config is the same JSON:
    /// a status read does not parse the config or build the mount table again. Bounded.
    let derived = Mutex<[String: Derived]>([:])
    /// The standard mount table, made once: its services keep no per-agent state (the agent
    /// comes with each request), so every agent without access overrides shares it.
    let standardTable = Mutex<MountTable?>(nil)
    /// Each agent's `status` bytes with the record they were made from: served again while the
    /// stored record is equal (a row the store's cache hands back compares in a few loads).
    let statusFiles = Mutex<[String: (record: AgentRecord, data: Data)]>([:])
    /// `identitySecret()`, once read.
    let identitySecretCache = Mutex<[UInt8]?>(nil)
    public static let version = "0.1.0"

    struct Derived: Sendable {
        let config: JSON
        let settings: AgentSettings
        let namespace: Namespace
    }

    /// - Parameters:
    ///   - metrics: where tick and send metrics go (agentd passes its Prometheus factory).
    ///   - feeds: the watch feeds and their memory bounds.
    ///   - providers: makes compute providers from `/runtime/providers` (agentd: OpenAI's protocol).
    ///   - sandbox: where `containers/` sessions live and run (agentd: bubblewrap).
    public init(store: any AgentStore, clock: any AgentClock = SystemClock(), kinds: KindRegistry = .standard, maxConcurrentTicks: Int = 64,
                metrics: any MetricsFactory = NOOPMetricsHandler.instance, feeds: FeedHub = FeedHub(),
                providers: (any ComputeProviderFactory)? = nil, sandbox: (any SandboxProvider)? = nil, selfMount: String? = nil) {
        self.selfMount = selfMount
        self.store = store
        self.metrics = RuntimeMetrics(factory: metrics)
        self.clock = clock
        self.kinds = kinds
        self.feeds = feeds
        self.compute = ComputeRunner(factory: providers)
        self.containers = ContainerRunner(sandbox: sandbox)
        self.router = FeedRouter(feeds: feeds)
        self.startedAt = clock.now()
        let box = RunnerBox()
        self.engine = TickEngine(maxConcurrent: maxConcurrentTicks, clock: clock, store: store) { agent, cause in
            await box.runtime?.runTick(agent, cause) ?? .idle
        }
        box.runtime = self
        router.attach(self)
        store.setChangeSink(router)
    }

    /// Runs the tick engine, alarms, compute jobs and container execs until the task is cancelled. Ticks that
    /// are running when it is cancelled finish (commit or roll back) before it returns; compute
    /// jobs stop and stay open in the store (the next start reports them interrupted).
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.engine.run() }
            group.addTask { await self.runCompute() }
            group.addTask { await self.runContainers() }
        }
    }

    // MARK: - Agents

    /// `program`: an exec agent's first program (other kinds have none).
    public func createAgent(id rawID: String, kind kindName: String, config: JSON = .object([:]), program: Data? = nil) async throws -> JSON {
        let new = try await prepare(AgentSpec(id: rawID, kind: kindName, config: config, program: program), now: clock.now())
        _ = try await store.createAgents([new])
        engine.alarmsChanged()
        return try await status(of: new.record.id)
    }

    /// The most agents one `createAgents` takes.
    public static let maxAgentsPerCreate = 1000

    /// A batch create of `count` agents is one the runtime takes (a front end asks before it
    /// decodes the agents of a batch that is too big).
    public static func checkBatch(count: Int) throws(FSError) {
        guard (1...maxAgentsPerCreate).contains(count) else {
            throw FSError.invalidInput("a batch create takes 1 to \(maxAgentsPerCreate) agents, not \(count)", path: "/agents")
        }
    }

    /// Creates every agent or none, in one transaction: all are checked first (ids distinct and
    /// valid, kinds known, configs and programs accepted), then already_exists if any id is
    /// taken. Returns each one's `{id, kind, state, tick_count}`, in the order given.
    public func createAgents(_ specs: [AgentSpec]) async throws -> [JSON] {
        try Self.checkBatch(count: specs.count)
        let now = clock.now()
        var seen = Set<String>()
        var batch: [NewAgent] = []
        batch.reserveCapacity(specs.count)
        for (i, spec) in specs.enumerated() {
            let new: NewAgent
            do { new = try await prepare(spec, now: now) } catch let e as FSError {
                throw FSError(e.code, "agent \(i) ('\(spec.id)'): \(e.message)", path: "/agents")
            }
            guard seen.insert(new.record.id).inserted else {
                throw FSError.invalidInput("agent \(i): '\(new.record.id)' is given twice", path: "/agents")
            }
            batch.append(new)
        }
        _ = try await store.createAgents(batch)
        engine.alarmsChanged()
        return batch.map { Self.summary($0.record) }
    }

    /// The checks and first tick context of a new agent, and what the store writes for it.
    private func prepare(_ spec: AgentSpec, now: Int64) async throws -> NewAgent {
        let id = try AgentID.validate(spec.id)
        guard let kind = kinds.kind(named: spec.kind) else {
            throw FSError.invalidInput("unknown kind '\(spec.kind)'; known kinds: \(kinds.names.joined(separator: ", "))")
        }
        let settings = try AgentSettings(config: spec.config)
        do { try kind.validate(config: spec.config) } catch let e as FSError { throw e } catch { throw FSError.invalidInput("\(error)") }
        let context = TickContext(agentID: id, config: spec.config, state: .object([:]), cause: .manual, now: now)
        try await kind.onCreate(context)
        var record = AgentRecord(id: id, kind: spec.kind, config: spec.config, state: context.state, createdAt: now)
        var trace = [Trace.record("created", at: now, ["kind": .string(spec.kind)])] + context.trace
        if let program = spec.program {
            let info = try Self.checkProgram(program, kind: spec.kind, version: 1, at: now)
            record.program = info
            trace.append(Trace.record("program_change", at: now, info.json.objectValue ?? [:]))
        }
        return NewAgent(record: record, keySalt: Schnorr.newSalt(), alarms: settings.configAlarms(now: now) + context.alarmsSet,
                        goals: context.goalsPut, program: spec.program, trace: trace)
    }

    public func deleteAgent(_ rawID: String) async throws {
        let id = try AgentID.validate(rawID)
        let sessions = (try? await store.sessions(id)) ?? []
        try await store.deleteAgent(id)
        // Everything of the agent's is stopped before anything is awaited: its program may be
        // waiting, through /n/self, for one of its own execs.
        compute.tasks.stop(agent: id)
        let programs = programRuns.stop(agent: id, claimed: true)
        selfCalls.abort(id)
        containers.tasks.stop(agent: id)
        for t in programs { await t.value }
        selfCalls.drop(id)
        await dropContainers(of: id, sessions: sessions)
        await dropTickDirectory(of: id)
        _ = derived.withLock { $0.removeValue(forKey: id) }
        _ = statusFiles.withLock { $0.removeValue(forKey: id) }
        engine.alarmsChanged()
    }

    /// Calls `observer` with the agents whose files each commit changed (any of them), on the
    /// store's writer, in commit order, before the commit's writers are resumed: whatever it
    /// does is done before the change is acknowledged. It must be quick and must not block.
    /// Returns the id `stopObservingChanges` takes.
    public func observeChanges(_ observer: @escaping @Sendable (Set<String>) -> Void) -> UInt64 { router.observe(observer) }

    public func stopObservingChanges(_ id: UInt64) { router.unobserve(id) }

    /// Agents in id order: `{id, kind, state, tick_count}` each.
    public func listAgents(after: String? = nil, limit: Int = 1000) async throws -> [JSON] {
        try await store.listAgents(after: after, limit: limit).map(Self.summary)
    }

    /// One agent's `{id, kind, state, tick_count}`, or nil when there is no such agent.
    public func agentSummary(_ id: String) async throws -> JSON? {
        try await store.agent(id).map(Self.summary)
    }

    static func summary(_ r: AgentRecord) -> JSON {
        .object(["id": .string(r.id), "kind": .string(r.kind), "state": .string(r.lifecycle.rawValue), "tick_count": .int64(r.tickCount)])
    }

    func requireAgent(_ id: String) async throws -> AgentRecord {
        guard let r = try await store.agent(id) else { throw FSError(.notFound, "no agent '\(id)'", path: "/agents/\(id)") }
        return r
    }

    /// The agent's namespace with its config's access overrides.
    public func namespace(of rawID: String) async throws -> Namespace {
        let id = try AgentID.validate(rawID)
        return derived(try await requireAgent(id)).namespace
    }

    /// The agent's settings (defaults if its stored config no longer validates).
    func settings(_ record: AgentRecord) -> AgentSettings { derived(record).settings }

    func derived(_ record: AgentRecord) -> Derived {
        if let hit = derived.withLock({ $0[record.id] }), hit.config == record.config, hit.namespace.createdAt == record.createdAt { return hit }
        let parsed = try? AgentSettings(config: record.config)
        var table = standardTable.withLock { shared in
            if let shared { return shared }
            let made = StandardMounts.table(host: self)
            shared = made
            return made
        }
        if let parsed, !parsed.access.isEmpty { table = table.overriding(parsed.access) }
        let made = Derived(config: record.config, settings: parsed ?? .defaults,
                           namespace: Namespace(agentID: record.id, table: table, prefix: "/agents/\(record.id)", budget: self,
                                                      createdAt: record.createdAt))
        // Bounded, and large enough for ten thousand agents ticking in turn (an entry is a few
        // hundred bytes; the table it points at is shared).
        derived.withLock { cache in
            if cache.count >= 16_384 { cache.removeAll(keepingCapacity: true) }
            cache[record.id] = made
        }
        return made
    }

    /// A file client that acts as `principal`.
    public func client(as principal: Principal) -> RuntimeClient { RuntimeClient(runtime: self, principal: principal) }

    public func storeStats() async throws -> StoreStats { try await store.storeStats() }

    public func runtimeStatus() async throws -> JSON {
        let now = clock.now()
        return .object([
            "version": .string(Runtime.version),
            "started_at": .string(Timestamp.iso(startedAt)),
            "uptime_s": .number(Double(now - startedAt) / 1000),
            "agents": .int(try await store.agentCount()),
            "ticks_running": .int(await engine.runningCount),
            "feeds": .int(feeds.count),
            "kinds": .array(kinds.names.map { .string($0) }),
        ])
    }
}

/// Lets the engine's runner reach the runtime that owns the engine without a retain cycle at
/// construction. Set once in `Runtime.init` before any tick can run.
final class RunnerBox: @unchecked Sendable {
    weak var runtime: Runtime?
}

extension Runtime {
    /// Issues a new token for `agent`; only its SHA-256 is stored.
    public func issueToken(for rawID: String) async throws -> String {
        let id = try AgentID.validate(rawID)
        _ = try await requireAgent(id)
        let token = Tokens.generate(prefix: "agt_")
        try await store.saveToken(hash: Tokens.hash(token), agent: id, at: clock.now())
        return token
    }

    /// The agent a token belongs to, if it is an agent token.
    public func agent(forToken token: String) async throws -> String? {
        try await store.tokenAgent(hash: Tokens.hash(token))
    }
}
