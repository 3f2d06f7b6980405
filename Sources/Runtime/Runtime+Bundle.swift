public import Namespace
import Synchronization

extension Runtime {
    /// The agent as a bundle (docs/decisions.md, "Export and import"). The private key is in it
    /// only with `includeSecret`.
    public func exportAgent(_ rawID: String, includeSecret: Bool) async throws -> JSON {
        let id = try AgentID.validate(rawID)
        var bundle = try await store.exportAgent(id)
        if bundle.secret == nil {
            // Derived keys, from the inputs the store read in the bundle's own snapshot.
            guard let keys = bundle.keys else {
                throw FSError(.unavailable, "agent '\(id)' has neither a stored key nor a key salt: the database is damaged", path: "/agents/\(id)")
            }
            let pair = try await pair(id, keys)
            bundle.publicKey = pair.publicKey
            bundle.secret = pair.secret
        }
        if !includeSecret { bundle.secret = nil }
        return bundle.json(exportedAt: clock.now())
    }

    /// Creates an agent from a bundle, as it was when exported: config, state, lifecycle,
    /// counters, goals, alarms, pending envelopes, dead letters and the retained logs. `id`
    /// imports it under another id; `replace` overwrites an agent that has the id. A bundle
    /// without its secret key gets a new key pair (and so a new public key). Returns the status.
    public func importAgent(_ json: JSON, as id: String? = nil, replace: Bool = false) async throws -> JSON {
        var bundle = try AgentBundle(json: json, id: id)
        guard let kind = kinds.kind(named: bundle.record.kind) else {
            throw FSError.invalidInput("bundle: unknown kind '\(bundle.record.kind)'; known kinds: \(kinds.names.joined(separator: ", "))")
        }
        _ = try AgentSettings(config: bundle.record.config)
        do { try kind.validate(config: bundle.record.config) } catch let e as FSError { throw e } catch { throw FSError.invalidInput("\(error)") }
        var note: [String: JSON] = ["kind": .string(bundle.record.kind), "pubkey": .string(bundle.publicKey)]
        if let secret = bundle.secret {
            let pair = try Schnorr.keyPair(secret: secret)
            guard pair.publicKey == bundle.publicKey else {
                throw FSError.invalidInput("bundle: identity.secret does not match identity.pubkey")
            }
        } else {
            let pair = Schnorr.generate()
            bundle.secret = pair.secret
            note["new_identity"] = .bool(true)
            note["exported_pubkey"] = .string(bundle.publicKey)
            bundle.publicKey = pair.publicKey
            note["pubkey"] = .string(pair.publicKey)
        }
        let id = bundle.record.id
        let sessions = replace ? ((try? await store.sessions(id)) ?? []) : []
        // A replaced agent's watchers get `end` from the store's change stream, like a deletion's.
        _ = try await store.importAgent(bundle, replace: replace, trace: [Trace.record("imported", at: clock.now(), note)])
        if replace {
            compute.tasks.stop(agent: id)
            let programs = programRuns.stop(agent: id, claimed: true)
            selfCalls.abort(id)
            containers.tasks.stop(agent: id)
            for t in programs { await t.value }
            selfCalls.drop(id)
            await dropContainers(of: id, sessions: sessions)
            try? await containers.sandbox?.removeSession(SandboxSession(agent: id, id: Self.tickSession))
        }
        _ = derived.withLock { $0.removeValue(forKey: id) }
        _ = statusFiles.withLock { $0.removeValue(forKey: id) }
        engine.alarmsChanged()
        await engine.trigger(id, .message)
        return try await status(of: id)
    }
}
