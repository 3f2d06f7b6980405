import Runtime
import Testing

@Suite struct TickSchedulerTests {
    @Test func aRunningAgentCoalescesTriggers() {
        var m = TickScheduler(maxConcurrent: 4)
        #expect(m.trigger("a", .message) == .start(agent: "a", cause: .message))
        #expect(m.trigger("a", .message) == nil)
        #expect(m.trigger("a", .alarm) == nil)
        #expect(m.runningCount == 1)
        let (start, _) = m.finished("a", moreWork: false)
        #expect(start == [.start(agent: "a", cause: .message)])  // one follow-up tick, not two
        #expect(m.finished("a", moreWork: false).start.isEmpty)
        #expect(m.runningCount == 0)
    }

    @Test func manualTickWaitersAreReleasedByTheTickTheyCaused() {
        var m = TickScheduler(maxConcurrent: 4)
        #expect(m.trigger("a", .message) == .start(agent: "a", cause: .message))
        #expect(m.trigger("a", .manual, waiter: 1) == nil)  // waits for the next tick, not this one
        let first = m.finished("a", moreWork: false)
        #expect(first.release.isEmpty)
        #expect(first.start == [.start(agent: "a", cause: .manual)])
        #expect(m.finished("a", moreWork: false).release == [1])
    }

    @Test func concurrencyIsBoundedAndFair() {
        var m = TickScheduler(maxConcurrent: 2)
        #expect(m.trigger("a", .message) != nil)
        #expect(m.trigger("b", .message) != nil)
        #expect(m.trigger("c", .message) == nil)
        #expect(m.readyCount == 1)
        // a has more work but c has waited: c goes first.
        #expect(m.finished("a", moreWork: true).start == [.start(agent: "c", cause: .message)])
        #expect(m.finished("b", moreWork: false).start == [.start(agent: "a", cause: .message)])
    }

    @Test func neverTwoTicksOfOneAgent() {
        // Random interleavings of triggers and finishes: an agent never starts while running.
        var rng = SystemRandomNumberGenerator()
        var m = TickScheduler(maxConcurrent: 3)
        var running = Set<String>()
        let agents = ["a", "b", "c", "d", "e"]
        for _ in 0..<5000 {
            if Bool.random(using: &rng), let a = running.randomElement(using: &rng) {
                running.remove(a)
                for case .start(let s, _) in m.finished(a, moreWork: Bool.random(using: &rng)).start {
                    #expect(running.insert(s).inserted)
                }
            } else {
                let a = agents.randomElement(using: &rng)!
                if case .start(let s, _) = m.trigger(a, [.message, .alarm, .manual].randomElement(using: &rng)!) {
                    #expect(running.insert(s).inserted)
                }
            }
            #expect(running.count <= 3)
        }
    }

    @Test func aQueuedAgentCoalescesAndKeepsItsPlaceAcrossCompaction() {
        var m = TickScheduler(maxConcurrent: 1)
        #expect(m.trigger("run", .message) != nil)
        let names = (0..<300).map { "q\($0)" }
        for n in names { #expect(m.trigger(n, .message) == nil) }
        // Start 200 of them one by one (the queue is compacted on the way), re-triggering a
        // queued one each time: it merges into its slot instead of queueing again.
        var started: [String] = []
        var current = "run"
        for i in 0..<200 {
            #expect(m.trigger(names[299 - i / 2], .manual, waiter: i) == nil)
            let (start, _) = m.finished(current, moreWork: false)
            guard case .start(let next, _)? = start.first, start.count == 1 else {
                Issue.record("expected one start, got \(start)")
                return
            }
            started.append(next)
            current = next
        }
        #expect(started == Array(names.prefix(200)))
        #expect(m.readyCount == 100)
        var rest: [(String, TickCause)] = []
        while true {
            let (start, _) = m.finished(current, moreWork: false)
            guard case .start(let next, let cause)? = start.first else { break }
            rest.append((next, cause))
            current = next
        }
        #expect(rest.map(\.0) == Array(names.suffix(100)))
        // The re-triggered ones (q200...q299) carry the manual cause they were merged with.
        #expect(rest.allSatisfy { $0.1 == .manual })
        #expect(m.readyCount == 0)
    }

    /// Triggering n agents (and each again) with one tick slot: with an indexed ready queue the
    /// work grows with n; a scan per trigger grows with n², which this ratio cannot hide. The
    /// large run gives up once it has taken 40 times the small one (quadratic would take 100).
    @Test func triggeringManyAgentsIsLinear() {
        func run(_ n: Int, giveUpAfter limit: Duration? = nil) -> Duration? {
            let names = (0..<n).map { "agent-\($0)" }
            var m = TickScheduler(maxConcurrent: 1)
            let clock = ContinuousClock()
            let start = clock.now
            for pass in 0..<2 {
                for (i, a) in names.enumerated() {
                    _ = m.trigger(a, pass == 0 ? .message : .alarm)
                    if let limit, i % 1000 == 0, clock.now - start > limit { return nil }
                }
            }
            var current = names[0]
            while case .start(let next, _)? = m.finished(current, moreWork: false).start.first { current = next }
            return clock.now - start
        }
        let small = (0..<5).compactMap { _ in run(2_000) }.min()!
        let large = (0..<2).map { _ in run(20_000, giveUpAfter: small * 40) }
        #expect(large.allSatisfy { $0 != nil }, "20,000 agents took over 40 times as long as 2,000 (\(small)): not linear")
        if let best = large.compactMap({ $0 }).min() {
            #expect(best / small < 40, "20,000 agents took \(best), 2,000 took \(small): ratio \(best / small) (10 is linear, 100 quadratic)")
        }
    }
}
