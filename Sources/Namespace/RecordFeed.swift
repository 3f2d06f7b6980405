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
    /// The last event of a stream whose file is gone (its agent was deleted); the stream ends after it.
    public static let endEvent = "end"

    /// What a record costs the ring: its strings and a fixed overhead.
    var cost: Int { event.utf8.count + data.utf8.count + 48 }
}

/// The single producer of a watchable file: a bounded ring of recent records that any number of
/// watchers read through their own cursor. Publishing never waits for a watcher; a watcher that
/// falls behind the ring gets a `reset` record and continues from the oldest retained one.
///
/// The ring is bounded twice: by record count (`capacity`) and by bytes (`maxBytes`), so large
/// records cannot pin memory. A cursor that this feed cannot answer exactly (older than what it
/// retains, or newer than anything it published, e.g. from another incarnation of the feed) gets
/// `reset`, never silence.
public final class RecordFeed: Sendable {
    struct State {
        /// Records oldest first from `start`; the prefix before `start` is dead and compacted lazily.
        var ring: [FeedRecord] = []
        var start = 0
        var bytes = 0
        var lastID: UInt64 = 0
        /// Id of the newest record evicted from the ring (0: nothing evicted).
        var evictedThrough: UInt64 = 0
        var waiters: [Int: CheckedContinuation<Void, Never>] = [:]
        var nextWaiter = 0
        var subscribers = 0
        /// Set when the hub let go of the feed: nothing is published to it any more.
        var retired = false
        /// The last record of a finished feed, delivered after everything retained.
        var end: FeedRecord?

        var count: Int { ring.count - start }
        var live: ArraySlice<FeedRecord> { ring[start...] }
        /// `wait` calls that suspended or returned; a reader that loops without suspending shows here.
        var waits = 0

        /// Whether `take(after: cursor)` has anything to give: a reset, a record or the end. The
        /// one condition both `take` and `wait` use, so a reader never loops on nothing (`lastID`
        /// can be a shared storage high-water mark above this feed's newest record).
        func hasAnything(after cursor: UInt64) -> Bool {
            cursor < evictedThrough || cursor > lastID || (live.last.map { $0.id > cursor } ?? false) || end != nil
        }

        mutating func append(_ r: FeedRecord, capacity: Int, maxBytes: Int) {
            ring.append(r)
            bytes += r.cost
            lastID = max(lastID, r.id)
            trim(capacity: capacity, maxBytes: maxBytes)
        }

        mutating func trim(capacity: Int, maxBytes: Int) {
            while count > capacity || (bytes > maxBytes && count > 0) {
                let old = ring[start]
                bytes -= old.cost
                evictedThrough = max(evictedThrough, old.id)
                start += 1
            }
            if start > 64 && start * 2 > ring.count {
                ring.removeFirst(start)
                start = 0
            }
        }
    }

    public let capacity: Int
    public let maxBytes: Int
    /// Ids for records published without one: at least `lastID + 1`, and at least what this
    /// returns (a clock), so ids keep rising across incarnations of the feed.
    private let idFloor: (@Sendable () -> UInt64)?
    private let state: Mutex<State>

    /// Per-feed byte bound when none is given: room for a few of the largest records (1 MiB).
    public static let defaultMaxBytes = 4 << 20

    /// - Parameters:
    ///   - retained: records already retained (oldest first), e.g. the tail of a log in storage.
    ///   - evictedThrough: the id of the newest record older than `retained` that is gone.
    ///   - lastID: the id below which nothing new will be published (a storage high-water mark).
    ///   - idFloor: see `idFloor`; nil numbers records `lastID + 1`, `lastID + 2`, ...
    public init(capacity: Int = 1024, maxBytes: Int = RecordFeed.defaultMaxBytes, retained: [FeedRecord] = [], evictedThrough: UInt64 = 0,
                lastID: UInt64 = 0, idFloor: (@Sendable () -> UInt64)? = nil) {
        precondition(capacity > 0 && maxBytes > 0)
        self.capacity = capacity
        self.maxBytes = maxBytes
        self.idFloor = idFloor
        var s = State()
        s.evictedThrough = evictedThrough
        s.lastID = lastID
        for r in retained { s.append(r, capacity: capacity, maxBytes: maxBytes) }
        state = Mutex(s)
    }

    public var lastID: UInt64 { state.withLock { $0.lastID } }
    /// How many times readers waited (for tests: a reader that spins makes this climb).
    public var waitCount: Int { state.withLock { $0.waits } }
    public var subscriberCount: Int { state.withLock { $0.subscribers } }
    /// Bytes the ring holds now (at most `maxBytes`).
    public var retainedBytes: Int { state.withLock { $0.bytes } }
    public var retainedCount: Int { state.withLock { $0.count } }
    public var isRetired: Bool { state.withLock { $0.retired } }

    /// Appends a record. With no `id`, the next id after the last is used; a record whose
    /// explicit id is not newer than the last is already here and is ignored.
    @discardableResult
    public func publish(event: String, data: String, id: UInt64? = nil) -> UInt64 {
        publish(event: event, data: data, id: id, seeding: false)
    }

    /// Publishes `modified`-style content unless it repeats the newest record (same event and
    /// data): watchers of a document see each change once. Returns the id, or 0 when skipped.
    @discardableResult
    public func publishChange(event: String, data: String) -> UInt64 {
        let waiters: [CheckedContinuation<Void, Never>]
        let assigned: UInt64
        (assigned, waiters) = state.withLock { s in
            if s.retired || s.end != nil { return (0, []) }
            if let newest = s.live.last, newest.event == event, newest.data == data { return (0, []) }
            return appendLocked(&s, event: event, data: data, id: nil)
        }
        for w in waiters { w.resume() }
        return assigned
    }

    /// `seeding`: records older than the newest may be merged in, in id order (storage
    /// records loaded after live ones were already published).
    @discardableResult
    public func publish(event: String, data: String, id: UInt64?, seeding: Bool) -> UInt64 {
        let waiters: [CheckedContinuation<Void, Never>]
        let assigned: UInt64
        (assigned, waiters) = state.withLock { s in
            if s.retired || s.end != nil { return (0, []) }
            if let id, id <= s.lastID {
                guard seeding, id > s.evictedThrough else { return (0, []) }
                var all = Array(s.live)
                guard !all.contains(where: { $0.id == id }) else { return (0, []) }
                all.append(FeedRecord(id: id, event: event, data: data))
                all.sort { $0.id < $1.id }
                let last = s.lastID
                s.ring = []
                s.start = 0
                s.bytes = 0
                for r in all { s.append(r, capacity: capacity, maxBytes: maxBytes) }
                s.lastID = last
                return (id, [])
            }
            return appendLocked(&s, event: event, data: data, id: id)
        }
        for w in waiters { w.resume() }
        return assigned
    }

    private func appendLocked(_ s: inout State, event: String, data: String, id: UInt64?) -> (UInt64, [CheckedContinuation<Void, Never>]) {
        let newID = id ?? max(s.lastID + 1, idFloor?() ?? 0)
        s.append(FeedRecord(id: newID, event: event, data: data), capacity: capacity, maxBytes: maxBytes)
        let w = Array(s.waiters.values)
        s.waiters.removeAll()
        return (newID, w)
    }

    /// Records up to `id` are known to be gone (not retained in storage either), and nothing at
    /// or below `lastID` will be published live.
    public func markEvicted(through id: UInt64, lastID: UInt64 = 0) {
        state.withLock { s in
            s.evictedThrough = max(s.evictedThrough, id)
            s.lastID = max(s.lastID, id, lastID)
        }
    }

    /// Ends the feed: watchers get what is retained, then `record` (an `end` event), then their
    /// streams finish. Nothing is published after it.
    public func finish(_ event: String = FeedRecord.endEvent, data: String) {
        let waiters = state.withLock { s -> [CheckedContinuation<Void, Never>] in
            guard s.end == nil else { return [] }
            s.end = FeedRecord(id: s.lastID, event: event, data: data)
            s.retired = true
            let w = Array(s.waiters.values)
            s.waiters.removeAll()
            return w
        }
        for w in waiters { w.resume() }
    }

    /// Retires the feed if nobody is subscribed (atomically with `subscribe`): a subscriber
    /// that arrives after sees `isRetired` and asks its hub for a fresh feed.
    public func retireIfUnwatched() -> Bool {
        state.withLock { s in
            guard s.subscribers == 0 else { return false }
            s.retired = true
            return true
        }
    }

    enum Take {
        case records([FeedRecord])
        case reset(FeedRecord)
        case end(FeedRecord)
        case none
    }

    /// Records after `cursor` that are retained; a reset when the cursor fell out of the ring
    /// or is newer than anything published here; the end record once a finished feed is drained.
    fileprivate func take(after cursor: UInt64, max: Int) -> Take {
        state.withLock { s in
            if cursor < s.evictedThrough || cursor > s.lastID {
                let to = cursor < s.evictedThrough ? s.evictedThrough : s.lastID
                let why = cursor < s.evictedThrough ? "are no longer retained" : "are not known here (a newer id, or another incarnation of this file)"
                return .reset(FeedRecord(id: to, event: FeedRecord.resetEvent,
                                         data: "{\"reason\":\"records after \(cursor) \(why)\",\"resume_after\":\(to)}"))
            }
            var out: [FeedRecord] = []
            // Binary search for the first record after the cursor: ids rise along the ring.
            var lo = s.start, hi = s.ring.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if s.ring[mid].id <= cursor { lo = mid + 1 } else { hi = mid }
            }
            var i = lo
            while i < s.ring.count && out.count < max {
                out.append(s.ring[i])
                i += 1
            }
            if !out.isEmpty { return .records(out) }
            if let end = s.end { return .end(end) }
            return .none
        }
    }

    /// Suspends until a record after `cursor` exists, the feed ends, the task is cancelled, or
    /// `subscription` is woken.
    fileprivate func wait(after cursor: UInt64, waking subscription: Subscription) async {
        let token = state.withLock { s -> Int in
            s.nextWaiter += 1
            return s.nextWaiter
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { s -> Bool in
                    s.waits += 1
                    if s.hasAnything(after: cursor) || Task.isCancelled { return true }
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
        let start = state.withLock { s -> UInt64 in
            s.subscribers += 1
            return after ?? s.lastID
        }
        return Subscription(feed: self, cursor: start)
    }

    fileprivate func unsubscribed() { state.withLock { $0.subscribers -= 1 } }

    /// An async sequence of records for one watcher. Ends when its task is cancelled or after
    /// the feed's `end` record.
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
            private var ended = false

            init(subscription: Subscription, cursor: UInt64) {
                self.subscription = subscription
                self.cursor = cursor
            }

            /// Up to `max` records after the cursor, waiting for one if there is none; a `reset`
            /// record alone when the cursor fell out of the ring; the `end` record alone when the
            /// feed finished; empty after `wake()`; nil once the task is cancelled or the end was
            /// delivered.
            public mutating func next(max: Int = 256) async -> [FeedRecord]? {
                let feed = subscription.feed
                while true {
                    if Task.isCancelled || ended { return nil }
                    if subscription.takeWake() { return [] }
                    switch feed.take(after: cursor, max: max) {
                    case .reset(let reset):
                        cursor = reset.id
                        return [reset]
                    case .records(let records):
                        cursor = records[records.count - 1].id
                        return records
                    case .end(let end):
                        ended = true
                        return [end]
                    case .none:
                        await feed.wait(after: cursor, waking: subscription)
                    }
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
