public import Foundation
public import Namespace
public import Services
import Synchronization

/// One feed per watched (agent, topic), created on first watch, so an unwatched agent costs
/// nothing here. Log and inbox feeds are seeded from storage so a watcher can resume by record
/// id; the other feeds (status, config, state, goals, deadletter) number their records from a
/// hub-wide clock (microseconds), so a cursor from an earlier incarnation of the feed (before a
/// restart, hibernation or re-creation of the agent) is older than anything this one holds and
/// gets `reset`, and one from elsewhere that is newer than anything published gets `reset` too.
///
/// Memory: each feed's ring is bounded in records and bytes; feeds nobody watches are dropped
/// when their agent hibernates or is deleted, and whenever unwatched feeds together hold more
/// than `maxIdleBytes` or number more than `maxIdleFeeds`.
public final class FeedHub: Sendable {
    public struct Key: Hashable, Sendable {
        public var agent: String
        public var topic: FeedTopic

        public init(agent: String, topic: FeedTopic) {
            self.agent = agent
            self.topic = topic
        }
    }

    enum Entry {
        case loading(RecordFeed, [CheckedContinuation<Void, Never>])
        case ready(RecordFeed)

        var feed: RecordFeed {
            switch self {
            case .loading(let f, _), .ready(let f): f
            }
        }
    }

    let entries = Mutex<[Key: Entry]>([:])
    public let capacity: Int
    public let maxBytes: Int
    public let maxIdleBytes: Int
    public let maxIdleFeeds: Int
    /// The last id handed out by `clockID` (microseconds since 1970, never repeating).
    private let clock = Atomic<UInt64>(0)

    public init(capacity: Int = 1024, maxBytes: Int = RecordFeed.defaultMaxBytes, maxIdleBytes: Int = 64 << 20, maxIdleFeeds: Int = 256) {
        self.capacity = capacity
        self.maxBytes = maxBytes
        self.maxIdleBytes = maxIdleBytes
        self.maxIdleFeeds = maxIdleFeeds
    }

    /// A hub-wide rising id from the wall clock: later than every id handed out before, in this
    /// process and (the clock permitting) in earlier ones. Under 2^53 until the year 2255.
    func clockID() -> UInt64 {
        let now = UInt64(max(0, Date().timeIntervalSince1970 * 1_000_000))
        var last = clock.load(ordering: .relaxed)
        while true {
            let next = max(now, last + 1)
            let (exchanged, original) = clock.compareExchange(expected: last, desired: next, ordering: .relaxed)
            if exchanged { return next }
            last = original
        }
    }

    func makeFeed(_ topic: FeedTopic) -> RecordFeed {
        switch topic {
        case .log, .inbox, .job, .execOutput, .sessionOutput:
            return RecordFeed(capacity: capacity, maxBytes: maxBytes)
        default:
            let born = clockID()
            return RecordFeed(capacity: capacity, maxBytes: maxBytes, evictedThrough: born, lastID: born, idFloor: { [self] in clockID() })
        }
    }

    /// The feed for `key`, seeding it with `seed` on creation (nil: nothing to seed). A watcher
    /// subscribes to what this returns and asks again if the feed turns out retired (`evict` ran
    /// in between).
    func feed(_ key: Key, seed: @Sendable () async throws -> FeedSeed?) async throws -> RecordFeed {
        enum Step { case ready(RecordFeed), wait, load(RecordFeed) }
        while true {
            let step: Step = entries.withLock { e in
                switch e[key] {
                case .ready(let f) where !f.isRetired: return .ready(f)
                case .loading: return .wait
                default:
                    let f = makeFeed(key.topic)
                    e[key] = .loading(f, [])
                    return .load(f)
                }
            }
            switch step {
            case .ready(let f):
                return f
            case .wait:
                await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                    let ready = entries.withLock { e -> Bool in
                        guard case .loading(let f, var waiters) = e[key] else { return true }
                        waiters.append(c)
                        e[key] = .loading(f, waiters)
                        return false
                    }
                    if ready { c.resume() }
                }
            case .load(let f):
                let loaded: Result<Void, any Error>
                do {
                    if let s = try await seed() { f.seed(s) }
                    loaded = .success(())
                } catch {
                    loaded = .failure(error)
                }
                // Only the entry this call made is settled: `end` or `evict` may have removed it.
                let waiters = entries.withLock { e -> [CheckedContinuation<Void, Never>] in
                    guard case .loading(let g, let w) = e[key], g === f else { return [] }
                    if case .success = loaded { e[key] = .ready(f) } else { e[key] = nil }
                    return w
                }
                for w in waiters { w.resume() }
                try loaded.get()
                sweepIdle(sparing: f)  // not the feed being handed out: nobody has subscribed to it yet
                return f
            }
        }
    }

    /// The feed for `key` if anyone has watched it.
    func existing(_ key: Key) -> RecordFeed? { entries.withLock { $0[key]?.feed } }

    /// Whether any of the agent's documents (status, config, state) has a feed.
    func followsRow(of agent: String) -> Bool {
        entries.withLock { e in
            e[Key(agent: agent, topic: .status)] != nil || e[Key(agent: agent, topic: .config)] != nil
                || e[Key(agent: agent, topic: .state)] != nil
        }
    }

    func publish(_ key: Key, event: String, data: String, id: UInt64? = nil) {
        existing(key)?.publish(event: event, data: data, id: id)
    }

    /// Drops an agent's feeds that nobody is watching (hibernation).
    func evict(agent: String) {
        entries.withLock { e in
            // A feed still loading is left alone: a watcher is about to subscribe to it, and
            // others may be parked on its entry.
            for (k, v) in e where k.agent == agent {
                if case .ready(let f) = v, f.retireIfUnwatched() { e[k] = nil }
            }
        }
    }

    /// Ends every feed of an agent that is gone: each watcher gets what was retained, then an
    /// `end` event, and its stream finishes; a later watch of a recreated agent gets new feeds.
    func end(agent: String, reason: String) {
        let (ended, parked) = entries.withLock { e -> ([RecordFeed], [CheckedContinuation<Void, Never>]) in
            var out: [RecordFeed] = []
            var waiters: [CheckedContinuation<Void, Never>] = []
            for (k, v) in e where k.agent == agent {
                out.append(v.feed)
                if case .loading(_, let w) = v { waiters += w }
                e[k] = nil
            }
            return (out, waiters)
        }
        let data = JSON.object(["reason": .string(reason)]).description
        for f in ended { f.finish(data: data) }
        // Watchers parked on a feed that was still loading ask again, and find the agent gone.
        for w in parked { w.resume() }
    }

    /// Drops unwatched feeds while they hold more than `maxIdleBytes` or number more than
    /// `maxIdleFeeds`, largest first.
    func sweepIdle(sparing spared: RecordFeed? = nil) {
        entries.withLock { e in
            var idle: [(Key, RecordFeed, Int)] = []
            var bytes = 0
            for (k, v) in e {
                guard case .ready(let f) = v, f !== spared, f.subscriberCount == 0 else { continue }
                let b = f.retainedBytes
                idle.append((k, f, b))
                bytes += b
            }
            guard bytes > maxIdleBytes || idle.count > maxIdleFeeds else { return }
            idle.sort { $0.2 > $1.2 }
            var count = idle.count
            for (k, f, b) in idle where bytes > maxIdleBytes || count > maxIdleFeeds {
                if f.retireIfUnwatched() {
                    e[k] = nil
                    bytes -= b
                    count -= 1
                }
            }
        }
    }

    public var count: Int { entries.withLock { $0.count } }

    /// Watchers across all feeds.
    public var subscriberCount: Int { entries.withLock { $0.values.reduce(0) { $0 + $1.feed.subscriberCount } } }

    /// Bytes held by all feeds' rings.
    public var retainedBytes: Int { entries.withLock { $0.values.reduce(0) { $0 + $1.feed.retainedBytes } } }
}

extension RecordFeed {
    /// Merges records loaded from storage under the ones published since the feed was made.
    func seed(_ s: FeedSeed) {
        for r in s.records { publish(event: "record", data: r.line, id: r.id, seeding: true) }
        markEvicted(through: s.evictedThrough, lastID: s.highWater)
    }
}
