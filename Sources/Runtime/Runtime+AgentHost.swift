import CoreMetrics
public import Foundation
public import Namespace
public import Services
import Synchronization

extension Runtime: AgentHost {
    public func status(of agent: String) async throws -> JSON { status(of: try await requireAgent(agent)) }

    public func changedAt(of agent: String) async throws -> Int64 {
        let r = try await requireAgent(agent)
        return max(r.createdAt, r.lastTickAt ?? 0)
    }

    public func statusFile(of agent: String) async throws -> Data {
        let r = try await requireAgent(agent)
        if let hit = statusFiles.withLock({ $0[agent] }), hit.record == r { return hit.data }
        let data = status(of: r).fileData
        statusFiles.withLock { cache in
            if cache.count >= 1024 { cache.removeAll(keepingCapacity: true) }
            cache[agent] = (r, data)
        }
        return data
    }

    func status(of r: AgentRecord) -> JSON {
        let settings = settings(r)
        var o: [String: JSON] = [
            "id": .string(r.id), "name": .string(settings.name ?? r.id), "kind": .string(r.kind), "state": .string(r.lifecycle.rawValue),
            "tick_count": .int64(r.tickCount), "last_tick_at": r.lastTickAt.map { .string(Timestamp.iso($0)) } ?? .null,
            "last_tick_cause": r.lastTickCause.map { .string($0) } ?? .null,
            "queue_depth": .int64(r.queueDepth), "deadletter_count": .int64(r.deadletterCount),
            "dropped_count": .int64(r.droppedCount), "created_at": .string(Timestamp.iso(r.createdAt)),
        ]
        if r.kind == "exec" { o["program"] = r.program?.json ?? .null }
        if let limit = settings.budgetLimit {
            o["budget"] = .object(["limit": .int64(limit), "spent": .int64(r.budgetSpent), "remaining": .int64(max(0, limit - r.budgetSpent))])
        }
        return .object(o)
    }

    public func config(of agent: String) async throws -> JSON { try await requireAgent(agent).config }

    public func patchConfig(of agent: String, _ patch: JSON) async throws {
        let now = clock.now()
        let kinds = kinds
        // An exec agent's limits are checked against its containers/policy too (else every tick
        // would fail on them).
        let policy = try await requireAgent(agent).kind == "exec" ? try await containersPolicyValue(of: agent) : nil
        // Merged with the config as it is in the transaction that writes it: two patches at once
        // both land.
        _ = try await store.updateConfig(agent) { r in
            let next = r.config.merging(patch: patch)
            let settings = try AgentSettings(config: next)
            if let kind = kinds.kind(named: r.kind) {
                do { try kind.validate(config: next) } catch let e as FSError { throw e } catch { throw FSError.invalidInput("\(error)") }
            }
            if let policy, r.kind == "exec" { try ExecConfig(next).check(under: policy) }
            let before = (try? AgentSettings(config: r.config))?.alarms ?? []
            let (set, removed) = settings.configAlarmChanges(from: before, now: now)
            return ConfigChange(config: next, alarmsSet: set, alarmsRemoved: removed,
                                trace: [Trace.record("config_change", at: now, ["patch": patch])])
        }
        engine.alarmsChanged()
        // A larger inbox or a new policy may let waiting work through.
        await engine.trigger(agent, .message)
    }

    public func state(of agent: String) async throws -> JSON { try await requireAgent(agent).state }

    public func control(_ agent: String, _ command: ControlCommand, from principal: Principal = .operator) async throws {
        let r = try await requireAgent(agent)
        let now = clock.now()
        func change(to lifecycle: Lifecycle) async throws {
            guard r.lifecycle != lifecycle else { return }
            _ = try await store.setLifecycle(agent, lifecycle, trace: [
                Trace.record("state_change", at: now, ["from": .string(r.lifecycle.rawValue), "to": .string(lifecycle.rawValue),
                                                       "reason": .string(command.rawValue)]),
            ])
        }
        switch command {
        case .tick:
            // The agent's own program, mid-tick, cannot wait for a tick that starts only after
            // this one ends: its tick is queued instead.
            if principal == .agent(agent) { await engine.tickOrQueue(agent) } else { await engine.tick(agent) }
        case .hibernate:
            try await change(to: .hibernated)
            feeds.evict(agent: agent)
        case .wake, .resume:
            try await change(to: .active)
            engine.alarmsChanged()
            await engine.trigger(agent, .message)
        case .pause:
            try await change(to: .paused)
            engine.alarmsChanged()
        }
    }

    public func send(to agent: String, _ input: Data, from sender: Principal) async throws -> SendReceipt {
        let r = try await requireAgent(agent)
        let settings = settings(r)
        let now = clock.now()
        let envelope = try EnvelopeParser.parse(input, sender: sender.senderName, now: now)
        let result = try await store.enqueue(agent, envelope, maxDepth: settings.maxDepth, policy: settings.overflow, at: now)
        switch result.receipt.outcome {
        case .queued: metrics.sendsQueued.increment()
        case .duplicate: metrics.sendsDuplicate.increment()
        case .deadLettered: metrics.sendsDeadLettered.increment()
        }
        if result.envelope != nil, result.receipt.outcome == .queued {
            // `paused` is what this envelope's own transaction saw: a resume that commits after
            // it triggers a tick that finds it, so skipping here loses nothing.
            if !result.paused { await engine.trigger(agent, .message) }
        }
        return result.receipt
    }

    public func pending(of agent: String, limit: Int) async throws -> [JSON] {
        _ = try await requireAgent(agent)
        return try await store.pending(agent, limit: limit).map(\.json)
    }

    public func logSize(of agent: String, _ log: LogName) async throws -> Int64 { try await requireAgent(agent).logBytes[log] ?? 0 }

    public func readLog(of agent: String, _ log: LogName, _ range: ByteRange) async throws -> FileSlice {
        try await store.readLog(agent, log, range)
    }

    /// The read and the id of its last record come from one snapshot in the store.
    public func readLogToEnd(of agent: String, _ log: LogName, from offset: Int64) async throws -> (slice: FileSlice, lastID: UInt64?) {
        try await store.readLogToEnd(agent, log, from: offset)
    }

    public func feed(of agent: String, _ topic: FeedTopic) async throws -> RecordFeed {
        _ = try await requireAgent(agent)
        let feed = try await feeds.feed(.init(agent: agent, topic: topic)) { [store, feeds] in
            switch topic {
            case .log(let log): try await store.feedSeed(agent, .log(log), limit: feeds.capacity)
            case .inbox: try await store.feedSeed(agent, .inbox, limit: feeds.capacity)
            case .job(let job): try await store.feedSeed(agent, .jobStream(job), limit: feeds.capacity)
            case .execOutput(let session, let exec): try await store.feedSeed(agent, .execOutput(session: session, exec: exec), limit: feeds.capacity)
            case .sessionOutput(let session): try await store.feedSeed(agent, .sessionOutput(session), limit: feeds.capacity)
            default: nil
            }
        }
        // A deletion that committed after the first check ended the agent's feeds before this
        // one was made: refuse rather than hand out a feed nothing will ever end, and drop it,
        // so an agent created or imported later under the id starts from fresh feeds.
        do {
            _ = try await requireAgent(agent)
        } catch let e as FSError where e.code == .notFound {
            feeds.end(agent: agent, reason: "deleted")
            throw e
        }
        return feed
    }

    public func deadLetters(of agent: String) async throws -> [JSON] {
        _ = try await requireAgent(agent)
        return try await store.deadLetters(agent).map(\.json)
    }

    public func deadLetter(of agent: String, id: String) async throws -> JSON {
        guard let d = try await store.deadLetter(agent, id: id) else {
            throw FSError(.notFound, "no dead letter '\(id)'", path: "/agents/\(agent)/deadletter/\(id)")
        }
        return d.json
    }

    public func replayDeadLetter(of agent: String, id: String) async throws {
        _ = try await store.replayDeadLetter(agent, id: id, at: clock.now())
        await engine.trigger(agent, .message)
    }

    public func discardDeadLetter(of agent: String, id: String) async throws {
        _ = try await store.discardDeadLetter(agent, id: id, at: clock.now())
    }

    public func goals(of agent: String) async throws -> [Goal] {
        _ = try await requireAgent(agent)
        return try await store.goals(agent)
    }

    public func goal(of agent: String, id: String) async throws -> Goal {
        guard let g = try await store.goal(agent, id: id) else {
            throw FSError(.notFound, "no goal '\(id)'", path: "/agents/\(agent)/goals/\(id).json")
        }
        return g
    }

    public func putGoal(of agent: String, id: String, _ body: JSON) async throws -> Goal {
        try await store.putGoal(agent, id: id, body: body, at: clock.now())
    }

    public func removeGoal(of agent: String, id: String) async throws {
        guard try await store.removeGoal(agent, id: id) else {
            throw FSError(.notFound, "no goal '\(id)'", path: "/agents/\(agent)/goals/\(id).json")
        }
    }

    public func publicKey(of agent: String) async throws -> String { try await keys(agent).publicKey }

    public func sign(as agent: String, _ data: Data) async throws -> String { try Schnorr.sign(data, with: try await keys(agent)) }

    public func verify(pubkey: String, data: Data, signature: String) -> Bool { Schnorr.verify(pubkey: pubkey, data: data, signature: signature) }

    /// The agent's key pair: the one stored for it, or the one derived for it.
    func keys(_ agent: String) async throws -> AgentKeyPair {
        guard let keys = try await store.keys(agent) else { throw FSError(.notFound, "no agent '\(agent)'", path: "/agents/\(agent)") }
        return try await pair(agent, keys)
    }

    func pair(_ agent: String, _ keys: AgentKeys) async throws -> AgentKeyPair {
        switch keys {
        case .stored(let pair): pair
        case .derived(let incarnation, let salt):
            Schnorr.derive(nodeSecret: try await identitySecret(), agent: agent, incarnation: incarnation, salt: salt)
        }
    }

    /// The node's identity secret, read once per process.
    func identitySecret() async throws -> [UInt8] {
        if let secret = identitySecretCache.withLock({ $0 }) { return secret }
        let secret = try await store.nodeSecret("identity")
        guard secret.count == 32 else {
            throw FSError(.unavailable, "the node's identity secret is \(secret.count) bytes, not 32: the database is damaged; restore it from a backup")
        }
        identitySecretCache.withLock { $0 = secret }
        return secret
    }
}

extension Runtime: BudgetLedger {
    public func spend(agent: String, units: Int, path: String) async throws {
        let r = try await requireAgent(agent)
        guard let limit = settings(r).budgetLimit else {
            throw FSError(.budgetExceeded, "this mount is budgeted and the agent has no config.budget.limit", path: path)
        }
        guard try await store.spendBudget(agent, units: Int64(units), limit: limit) else {
            throw FSError(.budgetExceeded, "budget of \(limit) units is spent", path: path)
        }
    }

    public func refund(agent: String, units: Int, path: String) async throws {
        try await store.refundBudget(agent, units: Int64(units))
    }
}
