import Synchronization
import Namespace
import Testing

@Suite struct RecordFeedTests {
    /// A feed seeded with a storage high-water mark above its newest record (the mark is shared
    /// with other logs): a reader resuming after its newest record must wait, not spin.
    @Test func aReaderBetweenTheNewestRecordAndTheHighWaterMarkWaits() async throws {
        let feed = RecordFeed(retained: [FeedRecord(id: 10, event: "record", data: "a"), FeedRecord(id: 20, event: "record", data: "b")],
                              lastID: 100)
        let sub = feed.subscribe(after: 20)
        let reader = Task { () -> [FeedRecord]? in
            var batches = sub.batches()
            return await batches.next()
        }
        try await Task.sleep(for: .milliseconds(200))
        #expect(feed.waitCount <= 2, "the reader looped \(feed.waitCount) times without waiting")
        feed.publish(event: "record", data: "c", id: 101)
        let got = await reader.value
        #expect(got?.map(\.id) == [101])
    }

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

    @Test func theRingIsBoundedInBytesAndAWatcherThatFellOutGetsReset() async {
        let feed = RecordFeed(capacity: 1024, maxBytes: 1 << 20)
        let slow = feed.subscribe(after: nil)
        let big = String(repeating: "x", count: 100_000)
        for i in 1...200 {
            feed.publish(event: "record", data: big + "\(i)")
            #expect(feed.retainedBytes <= 1 << 20)
        }
        #expect(feed.retainedCount == 10)
        let got = await collect(slow, 11)
        #expect(got.first?.event == FeedRecord.resetEvent)
        #expect(got.first?.id == 190)
        #expect(got.dropFirst().map(\.id) == Array(191...200))
    }

    @Test func aRecordLargerThanTheBoundIsNotKept() async {
        let feed = RecordFeed(capacity: 8, maxBytes: 1000)
        feed.publish(event: "record", data: String(repeating: "y", count: 5000))
        #expect(feed.retainedBytes == 0)
        let got = await collect(feed.subscribe(after: 0), 1)
        #expect(got.map(\.event) == [FeedRecord.resetEvent])
    }

    @Test func aCursorNewerThanTheLastRecordGetsReset() async {
        let feed = RecordFeed(capacity: 8)
        for i in 1...3 { feed.publish(event: "record", data: "r\(i)") }
        let sub = feed.subscribe(after: 10)
        var batches = sub.batches()
        let reset = await batches.next()
        #expect(reset?.map(\.event) == [FeedRecord.resetEvent])
        #expect(reset?.first?.id == 3)
        feed.publish(event: "record", data: "r4")
        #expect(await batches.next()?.map(\.data) == ["r4"])
    }

    @Test func idsFromAFloorRiseAcrossIncarnations() async {
        let clock = Mutex<UInt64>(1_000)
        let floor: @Sendable () -> UInt64 = { clock.withLock { $0 += 1; return $0 } }
        let first = RecordFeed(capacity: 8, evictedThrough: floor(), lastID: 1_001, idFloor: floor)
        let a = first.publish(event: "modified", data: "a")
        let second = RecordFeed(capacity: 8, evictedThrough: floor(), lastID: 1_003, idFloor: floor)
        second.publish(event: "modified", data: "b")
        #expect(a == 1_002)
        // A cursor from the first incarnation is older than anything the second holds.
        let got = await collect(second.subscribe(after: a), 2)
        #expect(got.map(\.event) == [FeedRecord.resetEvent, "modified"])
    }

    @Test func publishChangeSkipsRepeats() async {
        let feed = RecordFeed(capacity: 8)
        feed.publishChange(event: "modified", data: "a")
        feed.publishChange(event: "modified", data: "a")
        feed.publishChange(event: "modified", data: "b")
        let got = await collect(feed.subscribe(after: 0), 2)
        #expect(got.map(\.data) == ["a", "b"])
    }

    @Test func finishDeliversTheRestThenEndThenStops() async {
        let feed = RecordFeed(capacity: 8)
        let sub = feed.subscribe(after: nil)
        feed.publish(event: "record", data: "r1")
        feed.finish(data: "{}")
        feed.publish(event: "record", data: "after")
        var all: [FeedRecord] = []
        for await r in sub { all.append(r) }
        #expect(all.map(\.event) == ["record", FeedRecord.endEvent])
    }

    @Test func aFeedRetiredWhileUnwatchedSaysSo() {
        let feed = RecordFeed(capacity: 8)
        let watched = feed.subscribe(after: nil)
        #expect(!feed.retireIfUnwatched())
        _ = watched
        let other = RecordFeed(capacity: 8)
        #expect(other.retireIfUnwatched())
        _ = other.subscribe(after: nil)
        #expect(other.isRetired)
    }
}
