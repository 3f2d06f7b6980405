import CoreMetrics
import Foundation
import Hummingbird
import Namespace
import Prometheus
import Runtime
import Synchronization

/// The HTTP layer's metrics and the `/metrics` exposition, over one Prometheus registry that
/// the runtime's metrics share (agentd passes the same registry's factory to the runtime).
struct HTTPMetrics: Sendable {
    let registry: PrometheusCollectorRegistry
    let factory: PrometheusMetricsFactory
    let handles = Handles()

    /// Counters and timers by their labels, made once: the factory's lookup builds label arrays
    /// and takes the registry's lock on every call.
    final class Handles: Sendable {
        let counters = Mutex<[String: CoreMetrics.Counter]>([:])
        let timers = Mutex<[String: CoreMetrics.Timer]>([:])
        /// Store totals at the last scrape: counters move by the difference.
        let lastStore = Mutex<(commits: Int, writes: Int)>((0, 0))
    }

    init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
        var f = PrometheusMetricsFactory(registry: registry)
        f.defaultDurationHistogramBuckets = [.milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(50), .milliseconds(100),
                                             .milliseconds(500), .seconds(1), .seconds(5)]
        factory = f
    }

    /// A route class, not the path: bounded label cardinality.
    static func routeName(_ request: Request) -> String {
        let parts = request.uri.path.split(separator: "/")
        if request.uri.queryParameters["watch"] != nil { return "watch" }
        switch (parts.first, parts.count) {
        case ("runtime", _): return "runtime_status"
        case ("metrics", _): return "metrics"
        case ("openapi.yaml", _): return "openapi"
        case ("agents", 1): return "agents"
        case ("agents", 2): return "agent"
        case ("agents", 3) where ["send", "tick", "hibernate", "wake", "tokens"].contains(String(parts[2])): return String(parts[2])
        case ("agents", _): return "file"
        default: return "other"
        }
    }

    func record(route: String, status: Int, since started: ContinuousClock.Instant) {
        handles.counters.made(route + " " + String(status)) {
            CoreMetrics.Counter(label: "agentd_http_requests_total", dimensions: [("route", route), ("status", String(status))], factory: factory)
        }.increment()
        let timer = handles.timers.made(route) {
            CoreMetrics.Timer(label: "agentd_http_request_duration_seconds", dimensions: [("route", route)], factory: factory)
        }
        let d = ContinuousClock.now - started
        timer.recordNanoseconds(d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000)
    }

    /// Prometheus text: the registry plus gauges read from the runtime at scrape time.
    func exposition(_ runtime: Runtime) async throws -> String {
        let status = try await runtime.runtimeStatus()
        registry.makeGauge(name: "agentd_agents", labels: []).set(Double(status["agents"]?.intValue ?? 0))
        registry.makeGauge(name: "agentd_ticks_running", labels: []).set(Double(status["ticks_running"]?.intValue ?? 0))
        registry.makeGauge(name: "agentd_watch_feeds", labels: []).set(Double(status["feeds"]?.intValue ?? 0))
        registry.makeGauge(name: "agentd_watchers", labels: []).set(Double(runtime.feeds.subscriberCount))
        registry.makeGauge(name: "agentd_uptime_seconds", labels: []).set(status["uptime_s"]?.doubleValue ?? 0)
        let store = try await runtime.storeStats()
        let (commits, writes) = handles.lastStore.withLock { last -> (Int, Int) in
            defer { last = (store.commits, store.writes) }
            return (max(0, store.commits - last.commits), max(0, store.writes - last.writes))
        }
        registry.makeCounter(name: "agentd_commits_total", labels: []).increment(by: Int64(commits))
        registry.makeCounter(name: "agentd_commit_writes_total", labels: []).increment(by: Int64(writes))
        registry.makeGauge(name: "agentd_inbox_pending", labels: []).set(Double(store.pending))
        registry.makeGauge(name: "agentd_inbox_deepest", labels: []).set(Double(store.deepest))
        registry.makeGauge(name: "agentd_deadletters", labels: []).set(Double(store.deadLetters))
        return registry.emitToString()
    }
}

extension Mutex {
    /// The value under `key`, made on first use.
    func made<Handle>(_ key: String, _ make: () -> Handle) -> Handle where Value == [String: Handle] {
        withLock { cache in
            if let h = cache[key] { return h }
            let h = make()
            cache[key] = h
            return h
        }
    }
}
