import Synchronization

/// One record of a watchable file. `id` is monotonic per feed (for logs it is the record's
/// storage sequence number, so it stays meaningful across restarts).
public struct FeedRecord: Sendable, Hashable {
    public var id: UInt64
    public var event: String
    public var data: String

    public init(id: UInt64, event: String, data: String) {
        self.id = id
        self.event = event
        self.data = data
    }

    /// The event a watcher gets when records it asked for are no longer retained.
    public static let resetEvent = "reset"
}

/// The single producer of a watchable file: a bounded ring of recent records that any number of
/// watchers read through their own cursor. Publishing never waits for a watcher; a watcher that
/// falls behind the ring gets a `reset` record and continues from the oldest retained one.
public final class RecordFeed: Sendable {
    struct State {
        var ring: [FeedRecord] = []
        var head = 0  // index of the oldest record once the ring is full
        var lastID: UInt64 = 0
        /// Id of the newest record evicted from the ring (0: nothing evicted).
        var evictedThrough: UInt64 = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
        var subscribers = 0

        func ordered() -> [FeedRecord] {
            let n = ring.count
            return (0..<n).map { ring[(head + $0) % n] }
        }
    }

    public let capacity: Int
    private let state: Mutex<State>

    /// - Parameters:
    ///   - retained: records already retained (oldest first), e.g. the tail of a log in storage.
    ///   - evictedThrough: the id of the newest record older than `retained` that is gone.
    public init(capacity: Int = 1024, retained: [FeedRecord] = [], evictedThrough: UInt64 = 0, lastID: UInt64 = 0) {
        precondition(capacity > 0)
        self.capacity = capacity
        var s = State()
        let kept = retained.suffix(capacity)
        s.ring = Array(kept)
        s.lastID = max(lastID, kept.last?.id ?? 0)
        s.evictedThrough = retained.count > capacity ? retained[retained.count - capacity - 1].id : evictedThrough
        state = Mutex(s)
    }

    public var lastID: UInt64 { state.withLock { $0.lastID } }
    public var subscriberCount: Int { state.withLock { $0.subscribers } }

    /// Appends a record. With no `id`, the next id after the last is used; a record whose
    /// explicit id is not newer than the last is already here and is ignored.
    @discardableResult
    public func publish(event: String, data: String, id: UInt64? = nil) -> UInt64 {
        publish(event: event, data: data, id: id, seeding: false)
    }

    /// `seeding`: records older than the newest may be merged in, in id order (storage
    /// records loaded after live ones were already published).
    @discardableResult
    public func publish(event: String, data: String, id: UInt64?, seeding: Bool) -> UInt64 {
        let waiters: [CheckedContinuation<Void, Never>]
        let assigned: UInt64
        (assigned, waiters) = state.withLock { s in
            if let id, id <= s.lastID {
                guard seeding, id > s.evictedThrough else { return (0, []) }
                var all = s.ordered()
                guard !all.contains(where: { $0.id == id }) else { return (0, []) }
                all.append(FeedRecord(id: id, event: event, data: data))
                all.sort { $0.id < $1.id }
                if all.count > capacity {
                    s.evictedThrough = all[all.count - capacity - 1].id
                    all = Array(all.suffix(capacity))
                }
                s.ring = all
                s.head = 0
                return (id, [])
            }
            let newID = id ?? (s.lastID + 1)
            let record = FeedRecord(id: newID, event: event, data: data)
            if s.ring.count < capacity {
                s.ring.append(record)
            } else {
                s.evictedThrough = s.ring[s.head].id
                s.ring[s.head] = record
                s.head = (s.head + 1) % capacity
            }
            s.lastID = newID
            let w = Array(s.waiters.values)
            s.waiters.removeAll()
            return (newID, w)
        }
        for w in waiters { w.resume() }
        return assigned
    }

    /// Records up to `id` are known to be gone (not retained in storage either).
    public func markEvicted(through id: UInt64) {
        state.withLock { s in
            s.evictedThrough = max(s.evictedThrough, id)
            if s.lastID < id { s.lastID = id }
        }
    }

    /// Records after `cursor` that are retained, or nil with a reset when the cursor fell out.
    fileprivate func take(after cursor: UInt64, max: Int) -> (records: [FeedRecord], reset: FeedRecord?) {
        state.withLock { s in
            if cursor < s.evictedThrough {
                let reset = FeedRecord(id: s.evictedThrough, event: FeedRecord.resetEvent,
                                       data: "{\"reason\":\"records after \(cursor) are no longer retained\",\"resume_after\":\(s.evictedThrough)}")
                return ([], reset)
            }
            var out: [FeedRecord] = []
            let n = s.ring.count
            for k in 0..<n {
                let r = s.ring[(s.head + k) % n]
                if r.id > cursor {
                    out.append(r)
                    if out.count == max { break }
                }
            }
            return (out, nil)
        }
    }

    /// Suspends until a record after `cursor` exists, the task is cancelled, or `subscription` is
    /// woken.
    fileprivate func wait(after cursor: UInt64, waking subscription: Subscription) async {
        let token = state.withLock { s -> Int in
            s.nextWaiter += 1
            return s.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { s -> Bool in
                    if s.lastID > cursor || Task.isCancelled { return true }
                    s.waiters[token] = c
                    return false
                }
                if ready { return c.resume() }
                // Registered: a wake from now on finds the token; one from before left the flag.
                if subscription.waitingOn(token) { resume(token) }
            }
        } onCancel: {
            resume(token)
        }
        subscription.waitingOn(nil)
    }

    /// Resumes one waiter if it is still waiting (publish may have resumed it already).
    fileprivate func resume(_ token: Int) {
        state.withLock { $0.waiters.removeValue(forKey: token) }?.resume()
    }

    /// Records after `after` (nil: only records published from now on), then live records.
    public func subscribe(after: UInt64?) -> Subscription {
        state.withLock { $0.subscribers += 1 }
        return Subscription(feed: self, cursor: after ?? lastID)
    }

    fileprivate func unsubscribed() { state.withLock { $0.subscribers -= 1 } }

    /// An async sequence of records for one watcher. Ends when its task is cancelled.
    ///
    /// A writer that sends records as its connection takes them uses `batches()` instead: it
    /// pulls whatever has arrived since its last write, so a slow connection costs no memory
    /// beyond the feed's ring (it gets `reset` if it falls out of it), and `wake()` lets a timer
    /// or a shutdown interrupt its wait.
    public final class Subscription: AsyncSequence, Sendable {
        public typealias Element = FeedRecord
        let feed: RecordFeed
        let start: UInt64
        /// `woken`: a wake not yet seen by the reader; `token`: the feed waiter it is parked on.
        private let wakeState = Mutex<(woken: Bool, token: Int?)>((false, nil))

        init(feed: RecordFeed, cursor: UInt64) {
            self.feed = feed
            self.start = cursor
        }

        deinit { feed.unsubscribed() }

        public func makeAsyncIterator() -> Iterator { Iterator(batches: batches()) }

        public func batches() -> Batches { Batches(subscription: self, cursor: start) }

        /// Makes the reader's current or next wait in `Batches.next()` return at once.
        public func wake() {
            let token = wakeState.withLock { w -> Int? in
                w.woken = true
                return w.token
            }
            if let token { feed.resume(token) }
        }

        /// Records the waiter token (nil: no longer waiting); true if a wake is already pending.
        @discardableResult
        fileprivate func waitingOn(_ token: Int?) -> Bool {
            wakeState.withLock { w in
                w.token = token
                return w.woken
            }
        }

        fileprivate func takeWake() -> Bool {
            wakeState.withLock { w in
                defer { w.woken = false }
                return w.woken
            }
        }

        /// Everything retained after the cursor, a batch at a time.
        public struct Batches: Sendable {
            let subscription: Subscription
            public private(set) var cursor: UInt64

            /// Up to `max` records after the cursor, waiting for one if there is none; a `reset`
            /// record alone when the cursor fell out of the ring; empty after `wake()`; nil once
            /// the task is cancelled.
            public mutating func next(max: Int = 256) async -> [FeedRecord]? {
                let feed = subscription.feed
                while true {
                    if Task.isCancelled { return nil }
                    if subscription.takeWake() { return [] }
                    let (records, reset) = feed.take(after: cursor, max: max)
                    if let reset {
                        cursor = reset.id
                        return [reset]
                    }
                    if let last = records.last {
                        cursor = last.id
                        return records
                    }
                    await feed.wait(after: cursor, waking: subscription)
                }
            }
        }

        /// One record at a time, over `batches()`.
        public struct Iterator: AsyncIteratorProtocol {
            var batches: Batches
            var pending: ArraySlice<FeedRecord> = []

            public mutating func next() async -> FeedRecord? {
                while pending.isEmpty {
                    guard let batch = await batches.next() else { return nil }
                    pending = batch[...]
                }
                return pending.popFirst()
            }
        }
    }
}
