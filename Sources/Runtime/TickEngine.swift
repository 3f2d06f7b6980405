import Synchronization

/// How a tick ended, for the engine.
public enum TickOutcome: Sendable, Equatable {
    /// Nothing more is due now (later work comes with its trigger or alarm).
    case idle
    /// More is due now: another tick follows.
    case more
    /// Storage could not be reached, not even to record the failure: nothing of the tick was
    /// written, and the engine tries the agent again after a back-off of its own.
    case storageFailed
}

/// The actor shell around `TickScheduler`: it runs the ticks the scheduler starts, releases
/// manual-tick waiters, wakes agents whose alarms fall due and retries agents whose ticks
/// could not reach storage, all under `run()`, which is the engine's whole lifetime (no
/// detached tasks).
public actor TickEngine {
    public typealias Runner = @Sendable (_ agent: String, _ cause: TickCause) async -> TickOutcome

    var machine: TickScheduler
    var storageRetries = StorageRetries()
    var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
    var nextWaiter = 0
    var stopped = false
    let runner: Runner
    let jobs: AsyncStream<(String, TickCause)>
    let jobSink: AsyncStream<(String, TickCause)>.Continuation
    let alarmBell = Doorbell()
    /// What the alarm loop is asked to look at again: `.min` every due alarm, `.max` nothing
    /// beyond what fell due since its last look, else alarms due after this (one just set).
    let alarmsToRescan = Atomic<Int64>(.min)
    /// The alarm loop's last look covered alarms due up to here (nil: none yet).
    var scannedThrough: Int64?
    var lastFullScan: Int64 = 0
    /// The last look triggered agents whose alarms were due: until a full look finds none
    /// left, one comes at least every second.
    var dueSeen = false
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

    /// A manual tick that waits only if none of the agent's ticks is running; while one runs
    /// (the agent's own program asked, from inside it) the next tick is queued and this returns.
    public func tickOrQueue(_ agent: String) async {
        if machine.isRunning(agent) { trigger(agent, .manual) } else { await tick(agent) }
    }

    /// Alarms changed: look again at every due alarm (an agent resumed, its config changed, one
    /// was set), or with `earliest` at those due from then on (alarms just set, the earliest
    /// of them due then), and at when the next one is due. A tick that only consumed its due
    /// alarms need not say so: the loop's next look starts where its last one ended.
    public nonisolated func alarmsChanged(earliest: Int64? = nil) {
        let floor = earliest.map { $0 == .min ? .min : $0 - 1 } ?? .min
        var seen = alarmsToRescan.load(ordering: .relaxed)
        while floor < seen {
            let (exchanged, original) = alarmsToRescan.compareExchange(expected: seen, desired: floor, ordering: .relaxed)
            if exchanged { break }
            seen = original
        }
        alarmBell.ring()
    }

    public var runningCount: Int { machine.runningCount }

    /// When the engine tries `agent` again after its tick could not reach storage (nil: it is
    /// not backing off, or its retry is under way).
    public func storageRetryDue(_ agent: String) -> Int64? { storageRetries.due(agent) }

    /// True once the start-up look for work left by a previous run has been made (tests wait
    /// for it so that its triggers do not mix with theirs).
    public private(set) var leftoversScanned = false

    func perform(_ action: TickScheduler.Action) {
        switch action {
        case .start(let agent, let cause): jobSink.yield((agent, cause))
        }
    }

    func finished(_ agent: String, _ outcome: TickOutcome) {
        if outcome == .storageFailed {
            storageRetries.failed(agent, now: clock.now())
            alarmBell.ring()
        } else {
            storageRetries.succeeded(agent)
        }
        let (start, release) = machine.finished(agent, moreWork: outcome == .more)
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
                    let outcome = await self.runner(agent, cause)
                    await self.finished(agent, outcome)
                }
            }
            group.cancelAll()
        }
        stop()
    }

    /// Triggers agents whose alarms or storage retries are due, then sleeps until the next one
    /// or a change.
    func alarmLoop() async {
        // Work left by a previous run (envelopes accepted but not yet processed); looked for
        // again each second until storage answers.
        while !Task.isCancelled {
            let now = clock.now()
            if !leftoversScanned, let agents = try? await store.agentsWithPending(limit: 100_000) {
                for a in agents { trigger(a, .message) }
                leftoversScanned = true
            }
            for a in storageRetries.takeDue(now: now) { trigger(a, .retry) }
            // Only the alarms that fell due since the last look: those due before were
            // triggered then, and their ticks are running or queued. At ten thousand agents
            // behind, looking at all of them after every tick cost more than the ticks. Once
            // a second (and when asked) every due alarm is looked at again, which covers one
            // whose tick could not consume it, and a clock that went back.
            let asked = alarmsToRescan.exchange(.max, ordering: .relaxed)
            var after = scannedThrough
            if asked == .min || after == nil || now < after! || now - lastFullScan >= 1000 { after = nil }
            else if asked != .max { after = min(after!, asked) }
            let limit = 10_000
            // A look that could not finish (storage failed, or more due than one look takes)
            // is made again, all of it, after 100 ms of real time (not a bell, which every tick
            // rings): never back to back.
            var again = false
            if let due = try? await store.agentsWithDueAlarms(now: now, after: after, limit: limit) {
                for a in due { trigger(a, .alarm) }
                if !due.isEmpty { dueSeen = true } else if after == nil { dueSeen = false }
                if due.count < limit {
                    scannedThrough = now
                    if after == nil { lastFullScan = now }
                } else {
                    alarmsToRescan.store(.min, ordering: .relaxed)  // more than one look holds: all again next time
                    again = true
                }
            } else {
                alarmsToRescan.store(.min, ordering: .relaxed)
                again = true
            }
            var deadline: Int64
            do { deadline = try await store.nextAlarmDue(after: scannedThrough).map { max($0, now + 1) } ?? now + 60_000 } catch { deadline = now + 1000 }
            if dueSeen { deadline = min(deadline, max(lastFullScan + 1000, now + 1)) }
            if !leftoversScanned { deadline = min(deadline, now + 1000) }
            if let retry = storageRetries.nextDue { deadline = min(deadline, retry) }
            if again {
                try? await Task.sleep(for: .milliseconds(100))
                continue
            }
            await withTaskGroup(of: Void.self) { race in
                race.addTask { [clock, deadline] in try? await clock.sleep(until: deadline) }
                race.addTask { [alarmBell] in await alarmBell.wait() }
                await race.next()
                race.cancelAll()
            }
        }
    }
}
