import Namespace
import Testing

@Suite struct RecordFeedTests {
    func collect(_ sub: RecordFeed.Subscription, _ n: Int) async -> [FeedRecord] {
        var out: [FeedRecord] = []
        for await r in sub {
            out.append(r)
            if out.count == n { break }
        }
        return out
    }

    @Test func deliversEveryRecordInOrderToEveryWatcher() async {
        let feed = RecordFeed(capacity: 64)
        let subs = (0..<20).map { _ in feed.subscribe(after: nil) }
        await withTaskGroup(of: [FeedRecord].self) { group in
            for s in subs { group.addTask { await self.collect(s, 50) } }
            for i in 1...50 { feed.publish(event: "record", data: "r\(i)") }
            for await got in group {
                #expect(got.map(\.data) == (1...50).map { "r\($0)" })
                #expect(got.map(\.id) == (1...50).map { UInt64($0) })
            }
        }
    }

    @Test func resumesAfterAnID() async {
        let feed = RecordFeed(capacity: 16)
        for i in 1...10 { feed.publish(event: "record", data: "r\(i)") }
        let got = await collect(feed.subscribe(after: 7), 3)
        #expect(got.map(\.data) == ["r8", "r9", "r10"])
    }

    @Test func resetsWhenTheIDFellOutOfTheRing() async {
        let feed = RecordFeed(capacity: 4)
        for i in 1...10 { feed.publish(event: "record", data: "r\(i)") }
        let got = await collect(feed.subscribe(after: 2), 5)
        #expect(got[0].event == FeedRecord.resetEvent)
        #expect(got[0].id == 6)
        #expect(got.dropFirst().map(\.data) == ["r7", "r8", "r9", "r10"])
    }

    @Test func aSlowWatcherIsResetNotBuffered() async {
        let feed = RecordFeed(capacity: 8)
        let slow = feed.subscribe(after: nil)
        for i in 1...100 { feed.publish(event: "record", data: "r\(i)") }  // never waits for the watcher
        let got = await collect(slow, 2)
        #expect(got[0].event == FeedRecord.resetEvent)
        #expect(got[1].data == "r93")
    }

    @Test func explicitIDsMayHaveGapsAndDuplicatesAreIgnored() async {
        let feed = RecordFeed(capacity: 8)
        feed.publish(event: "record", data: "a", id: 10)
        feed.publish(event: "record", data: "b", id: 25)
        feed.publish(event: "record", data: "dup", id: 25)
        let got = await collect(feed.subscribe(after: 10), 1)
        #expect(got.map(\.data) == ["b"])
        #expect(feed.lastID == 25)
    }

    @Test func cancellationEndsAWatch() async {
        let feed = RecordFeed(capacity: 8)
        let task = Task { await collect(feed.subscribe(after: nil), 1) }
        try? await Task.sleep(for: .milliseconds(20))
        task.cancel()
        #expect(await task.value.isEmpty)
    }

    @Test func batchesCarryEverythingSinceTheLastPullAndResetWhenBehind() async {
        let feed = RecordFeed(capacity: 8)
        let sub = feed.subscribe(after: nil)
        var batches = sub.batches()
        for i in 1...3 { feed.publish(event: "record", data: "r\(i)") }
        #expect(await batches.next()?.map(\.data) == ["r1", "r2", "r3"])
        for i in 4...20 { feed.publish(event: "record", data: "r\(i)") }  // the ring moves past the cursor
        let reset = await batches.next()
        #expect(reset?.map(\.event) == [FeedRecord.resetEvent])
        #expect(reset?.first?.id == 12)
        #expect(await batches.next()?.map(\.data) == (13...20).map { "r\($0)" })
        #expect(batches.cursor == 20)
    }

    @Test func wakeEndsAWaitWithAnEmptyBatchWhetherItCameBeforeOrDuringTheWait() async throws {
        let feed = RecordFeed(capacity: 8)
        let sub = feed.subscribe(after: nil)
        sub.wake()  // before the wait: the next pull returns at once
        var early = sub.batches()
        #expect(await early.next() == [])
        let waiting = Task {
            var batches = sub.batches()
            let first = await batches.next()
            let second = await batches.next()
            return (first, second)
        }
        try await Task.sleep(for: .milliseconds(50))  // parked on the feed
        sub.wake()
        try await Task.sleep(for: .milliseconds(20))
        feed.publish(event: "record", data: "after")
        let (first, second) = await waiting.value
        #expect(first == [])
        #expect(second?.map(\.data) == ["after"])
    }

    @Test func cancellationEndsABatchWait() async {
        let feed = RecordFeed(capacity: 8)
        let sub = feed.subscribe(after: nil)
        let task = Task {
            var batches = sub.batches()
            return await batches.next()
        }
        try? await Task.sleep(for: .milliseconds(20))
        task.cancel()
        #expect(await task.value == nil)
    }
}
