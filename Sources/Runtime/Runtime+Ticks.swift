import CoreMetrics
import Namespace
import Services

extension Runtime {
    /// One tick of `id`: take what is due, run the kind, commit its effects in one
    /// transaction, or on a throw record the failed attempt and keep everything else as it was.
    /// Returns whether the agent has more due work. Called only by the engine, which
    /// guarantees one tick per agent at a time.
    func runTick(_ id: String, _ trigger: TickCause) async -> Bool {
        do {
            guard let record = try await store.agent(id) else { return false }
            if trigger != .manual, record.lifecycle == .paused { return false }
            let settings = settings(record)
            let now = clock.now()
            let (envelopes, alarms) = try await store.due(id, now: now, limit: settings.maxBatch)
            if trigger != .manual, envelopes.isEmpty, alarms.isEmpty { return false }

            let cause: TickCause =
                if trigger == .manual { .manual }
                else if envelopes.contains(where: { $0.attempts > 0 }) || alarms.contains(where: { $0.source == .retry }) { .retry }
                else if !envelopes.isEmpty { .message }
                else { .alarm }
            let wake = record.lifecycle == .hibernated
            let tickNumber = record.tickCount + 1
            var trace: [JSON] = []
            if wake { trace.append(Trace.record("state_change", at: now, ["from": "hibernated", "to": "active", "reason": .string(cause.rawValue)])) }
            trace.append(Trace.record("tick_start", at: now, ["tick": .int64(tickNumber), "cause": .string(cause.rawValue),
                                                                "envelopes": .array(envelopes.map { .string($0.id) })]))
            let context = TickContext(agentID: id, config: record.config, state: record.state, cause: cause, now: now,
                                      envelopes: envelopes, alarms: alarms.filter { $0.source != .retry })
            let started = ContinuousClock.now
            let thrown: (any Error)?
            if let kind = kinds.kind(named: record.kind) {
                do {
                    try await kind.onTick(context)
                    thrown = nil
                } catch {
                    thrown = error
                }
            } else {
                thrown = FSError(.unavailable, "kind '\(record.kind)' is not registered in this runtime")
            }
            let duration = ContinuousClock.now - started
            metrics.tickDuration.recordNanoseconds(duration.components.seconds * 1_000_000_000 + duration.components.attoseconds / 1_000_000_000)
            let ms = Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
            var trajectory: [String: JSON] = [
                "tick": .int64(tickNumber), "cause": .string(cause.rawValue), "at": .string(Timestamp.iso(now)),
                "envelopes": .array(envelopes.map { .string($0.id) }), "alarms": .array(alarms.map { .string($0.id) }),
                "duration_ms": .number((ms * 1000).rounded() / 1000),
            ]

            if let thrown {
                let message = Self.describe(thrown)
                let attempts = (envelopes.map(\.attempts).max() ?? 0) + 1
                trajectory["outcome"] = "error"
                trajectory["error"] = .string(message)
                trace.append(Trace.record("error", at: now, ["tick": .int64(tickNumber), "error": .string(message), "attempt": .int(attempts)]))
                trace.append(Trace.record("tick_end", at: now, ["tick": .int64(tickNumber), "outcome": "error"]))
                let failure = TickFailure(agent: id, expectedTickCount: record.tickCount, cause: cause, at: now, error: message,
                                          envelopes: envelopes.map(\.seq), alarms: alarms, maxAttempts: settings.maxAttempts,
                                          retryAt: now + settings.backoff(afterAttempts: attempts), trace: trace,
                                          trajectory: .object(trajectory))
                _ = try await store.recordFailure(failure)  // watchers get its records and dead letters from the store
                metrics.ticksFailed.increment()
                engine.alarmsChanged()
                // Envelopes dead-lettered by this failure may have let the next one through.
                let next = try await store.due(id, now: clock.now(), limit: 1)
                return !next.envelopes.isEmpty
            }

            trajectory["outcome"] = "ok"
            trace += context.trace
            trace.append(Trace.record("tick_end", at: now, ["tick": .int64(tickNumber), "outcome": "ok",
                                                             "outbox": .int(context.outbox.count)]))
            let commit = TickCommit(agent: id, expectedTickCount: record.tickCount, cause: cause, at: now, state: context.state,
                                    dequeued: envelopes.map(\.seq), outbox: context.outbox, trace: trace, trajectory: .object(trajectory),
                                    goalsPut: context.goalsPut, goalsRemoved: context.goalsRemoved, alarmsSet: context.alarmsSet,
                                    alarmsCancelled: context.alarmsCancelled, alarmsFired: alarms, budgetSpend: context.budgetSpend,
                                    budgetLimit: settings.budgetLimit, wake: wake)
            _ = try await store.commitTick(commit)  // watchers get what it changed from the store
            metrics.ticksOK.increment()
            if !alarms.isEmpty || !context.alarmsSet.isEmpty || !context.alarmsCancelled.isEmpty { engine.alarmsChanged() }
            let next = try await store.due(id, now: clock.now(), limit: 1)
            return !next.envelopes.isEmpty || !next.alarms.isEmpty
        } catch {
            // Storage failed (or the agent was deleted mid-tick): nothing was committed and the
            // envelopes are still in the inbox; the next trigger or restart takes them again.
            return false
        }
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? FSError { return e.description }
        return String(describing: error)
    }
}
