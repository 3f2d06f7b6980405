public import Runtime
import Synchronization

/// A clock that moves only when a test says so. Sleepers wake when `advance` passes their
/// deadline, so alarm and backoff tests never sleep for real.
public final class ManualClock: AgentClock {
    struct State {
        var now: Int64
        var sleepers: [Int: (deadline: Int64, continuation: CheckedContinuation<Void, any Error>)] = [:]
        var next = 0
    }

    private let state: Mutex<State>

    public init(now: Int64 = 1_767_225_600_000) {  // 2026-01-01T00:00:00Z
        state = Mutex(State(now: now))
    }

    public func now() -> Int64 { state.withLock { $0.now } }

    /// Number of tasks sleeping on this clock.
    public var sleepers: Int { state.withLock { $0.sleepers.count } }

    public func sleep(until deadline: Int64) async throws {
        let token = state.withLock { s -> Int in
            s.next += 1
            return s.next
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (c: CheckedContinuation<Void, any Error>) in
                let ready = state.withLock { s -> Bool in
                    // Cancelled before we got here: the handler found nothing to resume.
                    if deadline <= s.now || Task.isCancelled { return true }
                    s.sleepers[token] = (deadline, c)
                    return false
                }
                if ready { c.resume() }
            }
        } onCancel: {
            let c = state.withLock { $0.sleepers.removeValue(forKey: token) }
            c?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves time forward and wakes every sleeper whose deadline has come.
    public func advance(by ms: Int64) {
        let due = state.withLock { s -> [CheckedContinuation<Void, any Error>] in
            s.now += ms
            let ready = s.sleepers.filter { $0.value.deadline <= s.now }
            for k in ready.keys { s.sleepers[k] = nil }
            return ready.values.map(\.continuation)
        }
        for c in due { c.resume() }
    }
}
