import CoreMetrics
import Namespace
import Services

extension Runtime {
    /// What one tick took and started with: enough to commit it or to record its failure.
    struct TickRun: Sendable {
        let id: String
        let record: AgentRecord
        let settings: AgentSettings
        let cause: TickCause
        let now: Int64
        let envelopes: [Envelope]
        let alarms: [Alarm]
        let wake: Bool
        /// The trace records that open the tick (a wake's `state_change`, `tick_start`).
        var trace: [JSON]
        var trajectory: [String: JSON]

        var number: Int64 { record.tickCount + 1 }
    }

    /// One tick of `id`: take what is due, run the kind, commit its effects in one
    /// transaction. If the kind throws or the commit is refused (budget_exceeded, storage
    /// failing), nothing of the tick is kept and the failed attempt is recorded instead (retry
    /// with back-off, give up after max_attempts). If even that cannot be written, the engine
    /// tries again later by itself. Called only by the engine, which guarantees one tick per
    /// agent at a time.
    func runTick(_ id: String, _ trigger: TickCause) async -> TickOutcome {
        let record: AgentRecord
        let envelopes: [Envelope]
        let alarms: [Alarm]
        let now: Int64
        do {
            guard let r = try await store.agent(id) else { return .idle }
            record = r
            if trigger != .manual, record.lifecycle == .paused { return .idle }
            now = clock.now()
            (envelopes, alarms) = try await store.due(id, now: now, limit: settings(record).maxBatch)
        } catch {
            // Nothing was taken: the engine tries again unless the agent is gone.
            return Self.isGone(error) ? .idle : .storageFailed
        }
        if trigger != .manual, envelopes.isEmpty, alarms.isEmpty { return .idle }

        let settings = settings(record)
        let cause: TickCause =
            if trigger == .manual { .manual }
            else if envelopes.contains(where: { $0.attempts > 0 }) || alarms.contains(where: { $0.source == .retry || $0.attempts > 0 }) { .retry }
            else if !envelopes.isEmpty { .message }
            else { .alarm }
        let wake = record.lifecycle == .hibernated
        var tick = TickRun(id: id, record: record, settings: settings, cause: cause, now: now, envelopes: envelopes, alarms: alarms, wake: wake,
                           trace: [], trajectory: [:])
        let tickNumber = tick.number
        if wake { tick.trace.append(Trace.record("state_change", at: now, ["from": "hibernated", "to": "active", "reason": .string(cause.rawValue)])) }
        var start: [String: JSON] = ["tick": .int64(tickNumber), "cause": .string(cause.rawValue), "envelopes": .array(envelopes.map { .string($0.id) })]
        // How late the tick starts after the earliest alarm it answers fell due (tick lag).
        if let due = alarms.map(\.dueAt).min() { start["late_ms"] = .int64(max(0, now - due)) }
        tick.trace.append(Trace.record("tick_start", at: now, start))
        let context = TickContext(agentID: id, config: record.config, state: record.state, cause: cause, now: now,
                                  envelopes: envelopes, alarms: alarms.filter { $0.source != .retry }, compute: AgentCompute(runtime: self, agent: id),
                                  tick: tickNumber, exec: containers.sandbox == nil ? nil : AgentExec(runtime: self, agent: id))
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
        // SPEC: a trajectory line's `id` is the tick's number (trace records name it `tick`).
        tick.trajectory = [
            "id": .int64(tickNumber), "cause": .string(cause.rawValue), "at": .string(Timestamp.iso(now)),
            "envelopes": .array(envelopes.map { .string($0.id) }), "alarms": .array(alarms.map { .string($0.id) }),
            "duration_ms": .number((ms * 1000).rounded() / 1000),
        ]
        if let thrown {
            if thrown is TickAbandoned { return .idle }  // agentd is stopping: left for the next start
            if let traced = thrown as? TracedTickError { tick.trace += traced.trace }
            return await failTick(tick, Self.describe(thrown))
        }

        var trace = tick.trace
        var trajectory = tick.trajectory
        trajectory["outcome"] = "ok"
        trace += context.trace
        trace.append(Trace.record("tick_end", at: now, ["tick": .int64(tickNumber), "outcome": "ok",
                                                         "outbox": .int(context.outbox.count)]))
        let commit = TickCommit(agent: id, incarnation: record.incarnation, expectedTickCount: record.tickCount, cause: cause, at: now,
                                state: context.state, dequeued: envelopes.map(\.seq), outbox: context.outbox, trace: trace,
                                trajectory: .object(trajectory), goalsPut: context.goalsPut, goalsRemoved: context.goalsRemoved,
                                alarmsSet: context.alarmsSet, alarmsCancelled: context.alarmsCancelled, alarmsFired: alarms,
                                budgetSpend: context.budgetSpend, budgetLimit: settings.budgetLimit, wake: wake)
        do {
            _ = try await store.commitTick(commit)
        } catch {
            // Deleted while it ran (maybe recreated): nothing of this tick lands anywhere.
            if Self.isGone(error) { return .idle }
            // Refused at commit (budget_exceeded) or storage failed: a failed tick, like a throw.
            return await failTick(tick, Self.describe(error))
        }
        metrics.ticksOK.increment()
        // Watchers get what the commit changed from the store's change stream, in commit order.
        // Alarms set, and periodic ones moved to their next period (after the tick's now): the
        // engine looks again from the earliest of them. Cancelled or consumed ones need no look.
        let fromTick = alarms.isEmpty ? nil : now + 1
        if let earliest = (context.alarmsSet.map(\.dueAt) + (fromTick.map { [$0] } ?? [])).min() { engine.alarmsChanged(earliest: earliest) }
        guard let next = try? await store.due(id, now: clock.now(), limit: 1) else { return .storageFailed }
        return !next.envelopes.isEmpty || !next.alarms.isEmpty ? .more : .idle
    }

    /// Records a failed tick: one more attempt for each envelope and alarm that caused it, the
    /// retry after the back-off or the give-up after the last attempt, the `error` trace and the
    /// trajectory line. Nothing else of the tick is written.
    func failTick(_ tick: TickRun, _ message: String) async -> TickOutcome {
        let previous = max(tick.envelopes.map(\.attempts).max() ?? 0, tick.alarms.filter { $0.source != .retry }.map(\.attempts).max() ?? 0)
        let attempts = previous + 1
        var trajectory = tick.trajectory
        trajectory["outcome"] = "error"
        trajectory["error"] = .string(message)
        let trace = tick.trace + [
            Trace.record("error", at: tick.now, ["tick": .int64(tick.number), "error": .string(message), "attempt": .int(attempts)]),
            Trace.record("tick_end", at: tick.now, ["tick": .int64(tick.number), "outcome": "error"]),
        ]
        let failure = TickFailure(agent: tick.id, incarnation: tick.record.incarnation, expectedTickCount: tick.record.tickCount, cause: tick.cause,
                                  at: tick.now, error: message, envelopes: tick.envelopes.map(\.seq), alarms: tick.alarms,
                                  maxAttempts: tick.settings.maxAttempts, retryAt: tick.now + tick.settings.backoff(afterAttempts: attempts),
                                  trace: trace, trajectory: .object(trajectory), wake: tick.wake)
        let id = tick.id
        do {
            _ = try await store.recordFailure(failure)  // watchers get its records and dead letters from the store
            metrics.ticksFailed.increment()
            // Its retry alarm, and periodic alarms given up to their next period: all after the tick's now.
            engine.alarmsChanged(earliest: min(failure.retryAt, tick.now + 1))
            // Envelopes dead-lettered by this failure may have let the next one through.
            let next = try await store.due(id, now: clock.now(), limit: 1)
            return next.envelopes.isEmpty ? .idle : .more
        } catch {
            return Self.isGone(error) ? .idle : .storageFailed
        }
    }

    /// The agent was deleted (or deleted and created again) under the tick.
    static func isGone(_ error: any Error) -> Bool { (error as? FSError)?.code == .notFound }

    static func describe(_ error: any Error) -> String {
        if let e = error as? FSError { return e.description }
        return String(describing: error)
    }
}
