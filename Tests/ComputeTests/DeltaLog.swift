/// The deltas a completion delivered, with when each arrived.
actor DeltaLog {
    private(set) var deltas: [String] = []
    private(set) var times: [ContinuousClock.Instant] = []

    func append(_ delta: String) {
        deltas.append(delta)
        times.append(.now)
    }

    /// An `onDelta` that records into this log.
    nonisolated var onDelta: @Sendable (String) async throws -> Void { { await self.append($0) } }
}
