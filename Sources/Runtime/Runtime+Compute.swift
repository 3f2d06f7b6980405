public import Foundation
public import Namespace
public import Services
import Synchronization

/// `compute/` over the store and the runner: admission (journal, budget) in one transaction,
/// then one task per job that streams the provider's answer into the job's `stream` and ends
/// the job exactly once, with its cost settled and the agent told.
extension Runtime: ComputeHost {
    static let computeAccount = "compute"

    public func computePolicyValue(of agent: String) async throws -> ComputePolicy {
        guard let stored = try await store.policy(agent, "compute") else { return .defaults }
        return try Self.parsePolicy(stored, agent: agent)
    }

    /// Validated when written; one that no longer parses is refused, never read as "no limits".
    static func parsePolicy(_ stored: JSON, agent: String) throws(FSError) -> ComputePolicy {
        do { return try ComputePolicy(json: stored) } catch {
            throw FSError(.unavailable, "the stored compute/policy is invalid (\(error)); the operator rewrites it", path: "/agents/\(agent)/compute/policy")
        }
    }

    func allowedProviders(_ agent: String) async throws -> [ProviderConfig] {
        let policy = try await computePolicyValue(of: agent)
        let all = try await compute.providers(store)
        guard let allowed = policy.providers else { return all }
        return all.filter { allowed.contains($0.name) }
    }

    public func computeProviders(of agent: String) async throws -> [(name: String, info: JSON)] {
        try await allowedProviders(agent).map { ($0.name, $0.infoJSON) }
    }

    public func computeHealth(of agent: String, provider name: String) async throws -> JSON {
        guard let config = try await allowedProviders(agent).first(where: { $0.name == name }) else {
            throw FSError(.notFound, "no compute provider '\(name)'", path: "/agents/\(agent)/compute/providers/\(name)")
        }
        let h = await providerHealth(config)
        var o: [String: JSON] = ["ok": .bool(h.ok), "latency_ms": .number((h.latencyMs * 10).rounded() / 10),
                                 "checked_at": .string(Timestamp.iso(h.checkedAt))]
        if let e = h.error { o["error"] = .string(e) }
        return .object(o)
    }

    /// A probe of the provider, reused for `ComputeRunner.healthMs`.
    public func providerHealth(_ config: ProviderConfig) async -> ProviderHealth {
        let now = clock.now()
        if let hit = compute.health.withLock({ $0[config.name] }), hit.config == config, now - hit.health.checkedAt < ComputeRunner.healthMs {
            return hit.health
        }
        var h: ProviderHealth
        do { h = await (try compute.provider(for: config)).probe() } catch {
            h = ProviderHealth(ok: false, latencyMs: 0, checkedAt: now, error: "\(error)")
        }
        h.checkedAt = now
        compute.health.withLock { $0[config.name] = (config, h) }
        return h
    }

    public func submitJob(of agent: String, _ body: Data) async throws -> JSON {
        let job = try await submitJob(of: agent, try JobRequest(json: try JSON(fileData: body)))
        return .object(["job_id": .string(job.id), "state": .string(job.state.rawValue)])
    }

    /// Admits a job and starts it. With an idempotency key already journaled it returns that
    /// job and starts nothing. budget_exceeded and every refusal happen before any provider call.
    public func submitJob(of agent: String, _ request: JobRequest) async throws -> ComputeJob {
        _ = try await requireAgent(agent)
        let policy = try await computePolicyValue(of: agent)
        let now = clock.now()
        let providers = try await compute.providers(store)
        if let key = request.idempotencyKey, let previous = try await store.journaled(agent, key: key, now: now) { return previous }
        let plan = try JobPlan.make(request, policy: policy, providers: providers)
        let id = Tokens.generate(prefix: "j", bytes: 8)
        // Running from its admission: the runner starts it at once, and a crash before the
        // provider call then reports it interrupted rather than calling twice. (One commit fewer
        // per job than a separate start.)
        var job = ComputeJob(id: id, agent: agent, state: .running, provider: plan.provider, model: plan.request.model, request: plan.request,
                             reserved: plan.reservation, createdAt: now, idempotencyKey: request.idempotencyKey)
        job.startedAt = now
        let trace = [Trace.record("compute_submit", at: now, ["job": .string(id), "provider": .string(plan.provider),
                                                              "model": .string(plan.request.model), "reserved": .int64(plan.reservation)])]
        compute.tasks.claim(id, agent: agent)
        let admitted: ComputeJob
        let created: Bool
        do {
            // The limits come from the policy as the admitting transaction reads it.
            (admitted, created) = try await store.submitJob(job, account: Self.computeAccount, admission: { stored in
                let p = try stored.map { try Self.parsePolicy($0, agent: agent) } ?? .defaults
                return JobAdmission(limits: p.limits, maxOpen: p.maxRunning)
            }, journalUntil: now + ComputeRunner.journalMs, trace: trace)
        } catch {
            compute.tasks.finished(id)
            throw error
        }
        if created { startJob(admitted) } else { compute.tasks.finished(id) }
        return admitted
    }

    func startJob(_ job: ComputeJob) {
        compute.tasks.claim(job.id, agent: job.agent)
        compute.tasks.start(job.id) { [weak self] in
            await self?.runJob(job)
        }
    }

    /// One job from queued to its end. A shutdown (the task cancelled without `cancel`) leaves
    /// it open in the store: the next start reports it `interrupted`, never calling the
    /// provider twice for it.
    func runJob(_ job: ComputeJob) async {
        let (agent, id) = (job.agent, job.id)
        defer { compute.tasks.finished(id) }
        do {
            // Jobs admitted running start at once; queued ones (from an older agentd) are marked
            // first. A job cancelled before its task got here is left alone.
            if job.state == .queued {
                guard try await store.startJob(agent, id, at: clock.now()) else { return }
            } else {
                guard try await store.job(agent, id)?.state == .running else { return }
            }
        } catch {
            if !Self.isGone(error) { await endJob(job, JobOutcome(state: .failed, error: "storage failed before the job started: \(error)")) }
            return
        }
        var outcome: JobOutcome
        let appender = BatchAppender<StreamLine> { [store] items in
            try await store.appendJobStream(agent, id, items.map(\.line), trace: items.compactMap(\.trace))
        }
        let clock = self.clock
        do {
            guard let config = try await compute.providers(store).first(where: { $0.name == job.provider }) else {
                throw ProviderError("the provider '\(job.provider)' was removed")
            }
            let provider = try compute.provider(for: config)
            let result = try await provider.complete(job.request) { delta in
                // The first line is committed with a `compute_first_token` trace record.
                // (Optional.none, not `nil`: JSON takes a nil literal as its own null.)
                let record: JSON? = await appender.added == 0
                    ? Trace.record("compute_first_token", at: clock.now(), ["job": .string(id)]) : Optional<JSON>.none
                try await appender.add(StreamLine(line: JSON.object(["delta": .string(delta)]).description, trace: record))
            }
            let tail = try await appender.close()
            let cost = result.usage.map {
                Money.add(Money.cost(tokens: $0.promptTokens, pricePerMillion: config.price.input),
                          Money.cost(tokens: $0.completionTokens, pricePerMillion: config.price.output))
            }
            var done = JobOutcome(state: .succeeded, text: result.text, finishReason: result.finishReason, usage: result.usage, cost: cost)
            (done.streamTail, done.streamTailTrace) = (tail.map(\.line), tail.compactMap(\.trace))
            outcome = done
        } catch {
            // No stream line may land after the job's end: what is still queued ends with it.
            let tail = (try? await appender.close()) ?? []
            if compute.tasks.cancelledByUser(id) {
                outcome = JobOutcome(state: .cancelled, error: "cancelled")
            } else if Task.isCancelled {
                return  // shutdown: open until the next start
            } else if Self.isGone(error) {
                return  // the agent was deleted: its jobs went with it
            } else {
                outcome = JobOutcome(state: .failed, error: Self.describe(error))
            }
            (outcome.streamTail, outcome.streamTailTrace) = (tail.map(\.line), tail.compactMap(\.trace))
        }
        await endJob(job, outcome)
    }

    /// Writes the job's end (retrying storage failures a few times; what is still open at the
    /// next start is reported interrupted) and wakes the agent for its notice.
    func endJob(_ job: ComputeJob, _ outcome: JobOutcome) async {
        let record = try? await store.agent(job.agent)
        let settings = record.flatMap { $0 }.map { self.settings($0) } ?? .defaults
        var delay: Int64 = 200
        for _ in 0..<8 {
            let now = clock.now()
            do {
                let ended = try await store.finishJob(job.agent, job.id, outcome, account: Self.computeAccount, at: now,
                                                      inbox: (settings.maxDepth, settings.overflow)) { j in
                    var fields: [String: JSON] = ["job": .string(j.id), "state": .string(j.state.rawValue), "cost": .int64(j.cost ?? 0),
                                                  "usage": (j.usage ?? TokenUsage(promptTokens: 0, completionTokens: 0)).json]
                    if let e = j.error { fields["error"] = .string(e) }
                    return [Trace.record("compute_finish", at: now, fields)]
                }
                if ended != nil { await engine.trigger(job.agent, .message) }
                return
            } catch {
                if Self.isGone(error) { return }
                try? await clock.sleep(until: clock.now() + delay)
                delay = min(delay * 2, 10_000)
            }
        }
    }

    /// Reports jobs left running by a previous process `interrupted` (their provider calls are
    /// never repeated) and starts the ones that were still queued.
    func recoverJobs() async {
        var open: [ComputeJob] = []
        for attempt in 0..<10 {
            do {
                open = try await store.openJobs()
                break
            } catch {
                if attempt == 9 { return }
                try? await clock.sleep(until: clock.now() + 1000)
            }
        }
        // Jobs this process admitted since it started are its own, not a previous one's.
        for job in open where !compute.tasks.owns(job.id) {
            if job.state == .running {
                await endJob(job, JobOutcome(state: .failed, error: "interrupted: agentd stopped while the job ran; it was not retried"))
            } else {
                startJob(job)
            }
        }
    }

    /// Recovery, then the journal's and old jobs' pruning every hour, until cancelled; then
    /// the job tasks stop (their jobs stay open for the next start).
    func runCompute() async {
        await recoverJobs()
        while !Task.isCancelled {
            let now = clock.now()
            _ = try? await store.pruneJobs(now: now, finishedBefore: now - ComputeRunner.journalMs)
            do { try await clock.sleep(until: now + 3_600_000) } catch { break }
        }
        await compute.stop()
    }

    public func jobs(of agent: String) async throws -> [JobEntry] {
        try await store.jobs(agent, limit: 1000).map(Self.entry)
    }

    static func entry(_ j: ComputeJob) -> JobEntry {
        JobEntry(id: j.id, state: j.state.rawValue, mtime: j.finishedAt ?? j.startedAt ?? j.createdAt, streamBytes: j.streamBytes,
                 finished: j.state.isFinished)
    }

    func requireJob(_ agent: String, _ id: String) async throws -> ComputeJob {
        guard let j = try await store.job(agent, id) else {
            _ = try await requireAgent(agent)
            throw FSError(.notFound, "no job '\(id)'", path: "/agents/\(agent)/compute/jobs/\(id)")
        }
        return j
    }

    public func job(of agent: String, id: String) async throws -> JobEntry { Self.entry(try await requireJob(agent, id)) }

    public func jobStatus(of agent: String, id: String) async throws -> JSON { try await requireJob(agent, id).statusJSON }

    public func jobResult(of agent: String, id: String) async throws -> JSON {
        let j = try await requireJob(agent, id)
        guard let result = j.resultJSON else {
            throw FSError(.notFound, "job '\(id)' has no result (\(j.state.rawValue))", path: "/agents/\(agent)/compute/jobs/\(id)/result")
        }
        return result
    }

    public func readJobStream(of agent: String, id: String, _ range: ByteRange) async throws -> FileSlice {
        try await store.readJobStream(agent, id, range)
    }

    public func cancelJob(of agent: String, id: String) async throws {
        let j = try await requireJob(agent, id)
        guard !j.state.isFinished else {
            throw FSError(.invalidInput, "job '\(id)' has already ended (\(j.state.rawValue))", path: "/agents/\(agent)/compute/jobs/\(id)/ctl")
        }
        // Ended on a task of its own: a client that goes away mid-request cannot cut it short.
        if !compute.tasks.cancel(id) { await Task { await self.endJob(j, JobOutcome(state: .cancelled, error: "cancelled")) }.value }
    }

    public func computeUsage(of agent: String) async throws -> JSON {
        _ = try await requireAgent(agent)
        let (ledger, tick) = try await store.ledger(agent, account: Self.computeAccount)
        return ledger.usage(now: clock.now(), tick: tick)
    }

    public func computePolicy(of agent: String) async throws -> JSON {
        try await store.policy(agent, "compute") ?? .object([:])
    }

    public func patchComputePolicy(of agent: String, _ patch: JSON) async throws -> JSON {
        try await store.updatePolicy(agent, "compute") { old in
            let next = old.merging(patch: patch)
            _ = try ComputePolicy(json: next)
            return next
        }
    }
}

/// A tick's compute: the agent's own jobs.
struct AgentCompute: TickCompute {
    let runtime: Runtime
    let agent: String
    func submit(_ request: JobRequest) async throws -> ComputeJob { try await runtime.submitJob(of: agent, request) }
    func job(_ id: String) async throws -> ComputeJob? { try await runtime.store.job(agent, id) }
}

