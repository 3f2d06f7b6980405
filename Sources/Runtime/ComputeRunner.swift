import Foundation
public import Namespace
import Synchronization

/// The compute jobs this runtime is running: one task per job, the providers made from their
/// configurations, and cached health probes. Jobs are records in the store; this holds only
/// what dies with the process (tasks, connections), so a restart loses nothing acknowledged.
public final class ComputeRunner: Sendable {
    /// What the runtime makes providers with (nil: none; every job fails saying so).
    let factory: (any ComputeProviderFactory)?
    /// How long an idempotency key is remembered.
    public static let journalMs: Int64 = 24 * 3600 * 1000
    /// How long a health probe is reused.
    public static let healthMs: Int64 = 10_000

    /// One task per job.
    let tasks = TaskTable()
    let made = Mutex<[String: (config: ProviderConfig, provider: any ComputeProvider)]>([:])
    let health = Mutex<[String: (config: ProviderConfig, health: ProviderHealth)]>([:])
    /// The providers as stored, read once and again after a change through this runtime (the
    /// only writer of the providers table). The generation moves on every change, so a read
    /// that raced a change is not kept.
    let providersCache = Mutex<(generation: Int, value: [ProviderConfig]?)>((0, nil))

    func providers(_ store: any AgentStore) async throws -> [ProviderConfig] {
        let (generation, hit) = providersCache.withLock { ($0.generation, $0.value) }
        if let hit { return hit }
        let read = try await store.providers()
        providersCache.withLock { c in if c.generation == generation { c.value = read } }
        return read
    }

    /// After a provider was written or removed (called once the change is committed).
    func providersChanged() {
        providersCache.withLock { c in
            c.generation += 1
            c.value = nil
        }
    }

    init(factory: (any ComputeProviderFactory)?) { self.factory = factory }

    /// The provider for a configuration, made once per configuration.
    func provider(for config: ProviderConfig) throws -> any ComputeProvider {
        if let hit = made.withLock({ $0[config.name] }), hit.config == config { return hit.provider }
        guard let factory else { throw ProviderError("this runtime has no way to reach providers of kind '\(config.kind)'") }
        let p = try factory.provider(for: config)
        made.withLock { $0[config.name] = (config, p) }
        return p
    }

    /// Cancels every job task (leaving the jobs open in the store) and waits for them.
    func stop() async { await tasks.stop() }

    public var runningCount: Int { tasks.count }
}
