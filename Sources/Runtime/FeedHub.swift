public import Namespace
public import Services
import Synchronization

/// One feed per watched (agent, topic), created on first watch, so an unwatched agent costs
/// nothing here. Log feeds are seeded from storage so a watcher can resume by record id.
public final class FeedHub: Sendable {
    public struct Key: Hashable, Sendable {
        public var agent: String
        public var topic: FeedTopic
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

    public init(capacity: Int = 1024) { self.capacity = capacity }

    /// The feed for `key`, seeding log feeds with `seed` on creation.
    func feed(_ key: Key, seed: @Sendable () async throws -> (records: [FeedRecord], hasOlder: Bool)) async rethrows -> RecordFeed {
        enum Step { case ready(RecordFeed), wait, load(RecordFeed) }
        while true {
            let step: Step = entries.withLock { e in
                switch e[key] {
                case .ready(let f): return .ready(f)
                case .loading: return .wait
                case nil:
                    let f = RecordFeed(capacity: capacity)
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
                let waiters: [CheckedContinuation<Void, Never>]
                do {
                    let (records, hasOlder) = try await seed()
                    f.seed(records, evictedThrough: hasOlder ? (records.first.map { $0.id - 1 } ?? 0) : 0)
                    waiters = entries.withLock { e in
                        defer { e[key] = .ready(f) }
                        if case .loading(_, let w) = e[key] { return w }
                        return []
                    }
                } catch {
                    waiters = entries.withLock { e in
                        defer { e[key] = nil }
                        if case .loading(_, let w) = e[key] { return w }
                        return []
                    }
                    for w in waiters { w.resume() }
                    throw error
                }
                for w in waiters { w.resume() }
                return f
            }
        }
    }

    /// The feed for `key` if anyone has watched it.
    func existing(_ key: Key) -> RecordFeed? { entries.withLock { $0[key]?.feed } }

    func publish(_ key: Key, event: String, data: String, id: UInt64? = nil) {
        existing(key)?.publish(event: event, data: data, id: id)
    }

    /// Drops an agent's feeds that nobody is watching (hibernation, deletion).
    func evict(agent: String, all: Bool = false) {
        entries.withLock { e in
            for (k, v) in e where k.agent == agent {
                if all || v.feed.subscriberCount == 0 { e[k] = nil }
            }
        }
    }

    public var count: Int { entries.withLock { $0.count } }

    /// Watchers across all feeds.
    public var subscriberCount: Int { entries.withLock { $0.values.reduce(0) { $0 + $1.feed.subscriberCount } } }
}

extension RecordFeed {
    /// Merges records loaded from storage under the ones published since the feed was made.
    func seed(_ records: [FeedRecord], evictedThrough: UInt64) {
        for r in records { publish(event: r.event, data: r.data, id: r.id, seeding: true) }
        markEvicted(through: evictedThrough)
    }
}
