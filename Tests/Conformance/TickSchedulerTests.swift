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
}
