/// The tick engine's decisions as a value: which agent starts a tick, which triggers coalesce,
/// which manual-tick waiters a finished tick releases. No I/O, no time: the engine's actor
/// shell performs the actions it returns.
///
/// Invariant: an agent is in `running` for exactly as long as one of its ticks runs, so at
/// most one tick per agent runs at any moment, whatever caused it.
public struct TickScheduler: Sendable {
    public enum Action: Sendable, Equatable {
        case start(agent: String, cause: TickCause)
    }

    struct Running: Sendable {
        /// Waiters released when the running tick finishes.
        var waiters: [Int]
        /// A trigger that arrived while running: another tick follows.
        var next: TickCause?
        var nextWaiters: [Int] = []
    }

    struct Ready: Sendable {
        var agent: String
        var cause: TickCause
        var waiters: [Int]
    }

    public let maxConcurrent: Int
    var running: [String: Running] = [:]
    /// The ready queue: entries before `readyHead` have started and wait to be compacted away.
    var ready: [Ready] = []
    var readyHead = 0
    /// Each queued agent's slot in `ready`, counted from the queue's first entry ever
    /// (`ready[slot - readyBase]`), so a trigger finds a queued agent without scanning the queue
    /// (startup triggers up to 100,000 agents at once).
    var readySlots: [String: Int] = [:]
    var readyBase = 0

    public init(maxConcurrent: Int) {
        precondition(maxConcurrent > 0)
        self.maxConcurrent = maxConcurrent
    }

    public var runningCount: Int { running.count }
    public var readyCount: Int { ready.count - readyHead }
    public func isRunning(_ agent: String) -> Bool { running[agent] != nil }

    /// A manual tick outranks the automatic causes it is merged with.
    static func merge(_ a: TickCause?, _ b: TickCause) -> TickCause {
        guard let a else { return b }
        return a == .manual || b == .manual ? .manual : a
    }

    public mutating func trigger(_ agent: String, _ cause: TickCause, waiter: Int? = nil) -> Action? {
        if var r = running[agent] {
            r.next = Self.merge(r.next, cause)
            if let waiter { r.nextWaiters.append(waiter) }
            running[agent] = r
            return nil
        }
        if let slot = readySlots[agent] {
            let i = slot - readyBase
            ready[i].cause = Self.merge(ready[i].cause, cause)
            if let waiter { ready[i].waiters.append(waiter) }
            return nil
        }
        if running.count >= maxConcurrent {
            enqueue(Ready(agent: agent, cause: cause, waiters: waiter.map { [$0] } ?? []))
            return nil
        }
        running[agent] = Running(waiters: waiter.map { [$0] } ?? [])
        return .start(agent: agent, cause: cause)
    }

    /// A tick of `agent` ended. `moreWork`: the agent has due work left. Returns the ticks to
    /// start and the waiters to release.
    public mutating func finished(_ agent: String, moreWork: Bool) -> (start: [Action], release: [Int]) {
        guard let r = running.removeValue(forKey: agent) else { return ([], []) }
        if r.next != nil || moreWork {
            // To the back of the line: one busy agent does not starve the others.
            enqueue(Ready(agent: agent, cause: r.next ?? .message, waiters: r.nextWaiters))
        }
        var start: [Action] = []
        while running.count < maxConcurrent, readyHead < ready.count {
            let next = ready[readyHead]
            readyHead += 1
            readySlots[next.agent] = nil
            running[next.agent] = Running(waiters: next.waiters)
            start.append(.start(agent: next.agent, cause: next.cause))
        }
        if readyHead > 64, readyHead * 2 > ready.count {
            ready.removeFirst(readyHead)
            readyBase += readyHead
            readyHead = 0
        }
        return (start, r.waiters)
    }

    /// Queues an agent that is neither running nor queued.
    mutating func enqueue(_ entry: Ready) {
        readySlots[entry.agent] = readyBase + ready.count
        ready.append(entry)
    }

    /// Everything still waiting, for shutdown.
    public mutating func drain() -> [Int] {
        var all: [Int] = []
        for r in running.values { all += r.waiters + r.nextWaiters }
        for r in ready[readyHead...] { all += r.waiters }
        running = [:]
        ready = []
        readyHead = 0
        readySlots = [:]
        readyBase = 0
        return all
    }
}
