import CoreMetrics

/// The runtime's metrics, made from an injected factory (no global bootstrap).
struct RuntimeMetrics: Sendable {
    let ticksOK: Counter
    let ticksFailed: Counter
    let tickDuration: Timer
    let sendsQueued: Counter
    let sendsDuplicate: Counter
    let sendsDeadLettered: Counter

    init(factory: any MetricsFactory) {
        ticksOK = Counter(label: "agentd_ticks_total", dimensions: [("outcome", "ok")], factory: factory)
        ticksFailed = Counter(label: "agentd_ticks_total", dimensions: [("outcome", "error")], factory: factory)
        tickDuration = Timer(label: "agentd_tick_duration_seconds", dimensions: [], factory: factory)
        sendsQueued = Counter(label: "agentd_envelopes_total", dimensions: [("outcome", "queued")], factory: factory)
        sendsDuplicate = Counter(label: "agentd_envelopes_total", dimensions: [("outcome", "duplicate")], factory: factory)
        sendsDeadLettered = Counter(label: "agentd_envelopes_total", dimensions: [("outcome", "dead_lettered")], factory: factory)
    }
}
