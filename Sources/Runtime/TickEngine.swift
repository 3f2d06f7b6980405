/// The actor shell around `TickScheduler`: it runs the ticks the scheduler starts, releases
/// manual-tick waiters, and wakes agents whose alarms fall due, all under `run()`, which is
/// the engine's whole lifetime (no detached tasks).
public actor TickEngine {
    public typealias Runner = @Sendable (_ agent: String, _ cause: TickCause) async -> Bool

    var machine: TickScheduler
    var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    var nextWaiter = 0
    var stopped = false
    let runner: Runner
    let jobs: AsyncStream<(String, TickCause)>
    let jobSink: AsyncStream<(String, TickCause)>.Continuation
    let alarmBell = Doorbell()
    let clock: any AgentClock
    let store: any AgentStore

    public init(maxConcurrent: Int, clock: any AgentClock, store: any AgentStore, runner: @escaping Runner) {
        machine = TickScheduler(maxConcurrent: maxConcurrent)
        self.runner = runner
        self.clock = clock
        self.store = store
        (jobs, jobSink) = AsyncStream.makeStream(of: (String, TickCause).self)
    }

    /// Asks for a tick of `agent`; coalesces with one running or queued.
    public func trigger(_ agent: String, _ cause: TickCause) {
        if let action = machine.trigger(agent, cause) { perform(action) }
    }

    /// Runs a manual tick and returns when it has finished (committed or failed).
    public func tick(_ agent: String) async {
        guard !stopped else { return }
        nextWaiter += 1
        let id = nextWaiter
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            waiters[id] = c
            if let action = machine.trigger(agent, .manual, waiter: id) { perform(action) }
        }
    }

    /// Alarms changed: look again at when the next one is due.
    public nonisolated func alarmsChanged() { alarmBell.ring() }

    public var runningCount: Int { machine.runningCount }

    func perform(_ action: TickScheduler.Action) {
        switch action {
        case .start(let agent, let cause): jobSink.yield((agent, cause))
        }
    }

    func finished(_ agent: String, moreWork: Bool) {
        let (start, release) = machine.finished(agent, moreWork: moreWork)
        for action in start { perform(action) }
        for id in release { waiters.removeValue(forKey: id)?.resume() }
    }

    func stop() {
        stopped = true
        for id in machine.drain() { waiters.removeValue(forKey: id)?.resume() }
        for w in waiters.values { w.resume() }
        waiters = [:]
    }

    /// Runs ticks and alarms until the task is cancelled; running ticks finish first.
    public func run() async {
        await withDiscardingTaskGroup { group in
            group.addTask { await self.alarmLoop() }
            for await (agent, cause) in jobs {
                group.addTask {
                    let more = await self.runner(agent, cause)
                    await self.finished(agent, moreWork: more)
                }
            }
            group.cancelAll()
        }
        stop()
    }

    /// Triggers agents whose alarms are due, then sleeps until the next one or a change.
    func alarmLoop() async {
        // Work left by a previous run (envelopes accepted but not yet processed).
        if let agents = try? await store.agentsWithPending(limit: 100_000) {
            for a in agents { trigger(a, .message) }
        }
        while !Task.isCancelled {
            let now = clock.now()
            if let due = try? await store.agentsWithDueAlarms(now: now, limit: 10_000) {
                for a in due { trigger(a, .alarm) }
            }
            let next = (try? await store.nextAlarmDue()) ?? nil
            // Due alarms are consumed by the ticks just triggered, which ring the bell; the
            // one-second bound covers an alarm whose tick could not consume it.
            let deadline = next.map { $0 > now ? $0 : now + 1000 } ?? now + 60_000
            await withTaskGroup(of: Void.self) { race in
                race.addTask { [clock] in try? await clock.sleep(until: deadline) }
                race.addTask { [alarmBell] in await alarmBell.wait() }
                await race.next()
                race.cancelAll()
            }
        }
    }
}
