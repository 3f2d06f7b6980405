/// Agents whose last tick could not reach storage at all, not even to record its failure (the
/// database locked by another process, the disk full, I/O errors). The engine tries them again
/// by itself after a back-off kept here, in memory, so their work never waits for an unrelated
/// trigger or a restart. A value: the engine supplies the time from its clock.
struct StorageRetries: Sendable {
    /// The first retry comes after `firstDelay` ms, each further one after twice the last, up to
    /// `maxDelay`.
    static let firstDelay: Int64 = 500
    static let maxDelay: Int64 = 30_000

    struct Entry: Sendable {
        var failures: Int
        /// nil while the retry's tick is queued or running.
        var due: Int64?
    }

    var entries: [String: Entry] = [:]

    static func delay(afterFailures n: Int) -> Int64 { min(firstDelay << min(max(n - 1, 0), 16), maxDelay) }

    /// A tick of `agent` could not reach storage at `now`: returns when to try again.
    @discardableResult
    mutating func failed(_ agent: String, now: Int64) -> Int64 {
        var e = entries[agent] ?? Entry(failures: 0)
        e.failures += 1
        let due = now + Self.delay(afterFailures: e.failures)
        e.due = due
        entries[agent] = e
        return due
    }

    /// A tick of `agent` reached storage: its back-off is over.
    mutating func succeeded(_ agent: String) { entries[agent] = nil }

    /// The agents whose retry is due at `now`; they keep their failure count until their tick ends.
    mutating func takeDue(now: Int64) -> [String] {
        var due: [String] = []
        for (agent, e) in entries {
            if let d = e.due, d <= now {
                due.append(agent)
                entries[agent]?.due = nil
            }
        }
        return due
    }

    var nextDue: Int64? { entries.values.compactMap(\.due).min() }

    func due(_ agent: String) -> Int64? { entries[agent]?.due }
}
