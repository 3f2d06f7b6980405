import Foundation
import Namespace
import Synchronization

/// The requests exec agents' programs make through the self mount, by agent: at most
/// `maxInFlight` at once per agent (one agent cannot hold the mount's threads that every
/// agent's program shares), and each one abortable. A process blocked in a FUSE request cannot
/// die, even of SIGKILL, until the request is answered; so when an agent's run must end (its
/// wall time is up, the agent is deleted, agentd stops) its requests are answered at once with
/// an error and further ones refused until its next run starts. The work a request started
/// (a containers exec it waits for, a compute job) goes on; only the wait ends.
final class SelfCalls: Sendable {
    static let maxInFlight = 16

    struct Agent {
        var inFlight = 0
        var aborted = false
        var waiters: [UInt64: @Sendable () -> Void] = [:]
    }
    let agents = Mutex<[String: Agent]>([:])
    let closed = Atomic<Bool>(false)
    let nextID = Atomic<UInt64>(0)

    /// A new run of the agent starts: its requests are served again.
    func open(_ agent: String) { agents.withLock { $0[agent, default: Agent()].aborted = false } }

    /// Answers the agent's waiting requests with an error and refuses new ones.
    func abort(_ agent: String) {
        let waiters = agents.withLock { a -> [@Sendable () -> Void] in
            a[agent, default: Agent()].aborted = true
            return a[agent].map { Array($0.waiters.values) } ?? []
        }
        for w in waiters { w() }
    }

    /// agentd is stopping: every waiting request is answered, none is served again.
    func abortAll() {
        closed.store(true, ordering: .relaxed)
        for agent in agents.withLock({ Array($0.keys) }) { abort(agent) }
    }

    /// Forgets an agent that is gone.
    func drop(_ agent: String) {
        abort(agent)
        agents.withLock { a in if a[agent]?.inFlight == 0 { a[agent] = nil } }
    }

    func run<T: Sendable>(_ agent: String, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let id = nextID.wrappingAdd(1, ordering: .relaxed).newValue
        let first = Once<T>()
        try agents.withLock { a throws(FSError) in
            var entry = a[agent, default: Agent()]
            guard !entry.aborted, !closed.load(ordering: .relaxed) else { throw FSError(.unavailable, "the agent's program is being stopped; nothing more is served to it") }
            guard entry.inFlight < Self.maxInFlight else {
                throw FSError(.queueFull, "\(Self.maxInFlight) requests of this agent are in flight through /n/self; wait for one to end")
            }
            entry.inFlight += 1
            entry.waiters[id] = { first.resume(.failure(FSError(.unavailable, "the agent's program was stopped (its time is up, or the agent is gone)"))) }
            a[agent] = entry
        }
        defer {
            agents.withLock { a in
                a[agent]?.inFlight -= 1
                a[agent]?.waiters[id] = nil
            }
        }
        return try await withCheckedThrowingContinuation { c in
            first.set(c)
            Task {
                do { first.resume(.success(try await body())) } catch { first.resume(.failure(error)) }
            }
        }
    }
}

/// A continuation resumed by whichever comes first (the answer or the abort).
final class Once<T: Sendable>: Sendable {
    struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var early: Result<T, any Error>?
        var done = false
    }
    let state = Mutex(State())

    func set(_ c: CheckedContinuation<T, any Error>) {
        let early = state.withLock { s -> Result<T, any Error>? in
            if let e = s.early { s.early = nil; return e }
            s.continuation = c
            return nil
        }
        if let early { c.resume(with: early) }
    }

    func resume(_ result: Result<T, any Error>) {
        let c = state.withLock { s -> CheckedContinuation<T, any Error>? in
            guard !s.done else { return nil }
            s.done = true
            if let c = s.continuation { s.continuation = nil; return c }
            s.early = result
            return nil
        }
        c?.resume(with: result)
    }
}
