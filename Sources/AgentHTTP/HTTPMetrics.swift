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
        if request.uri.query != nil, request.uri.queryParameters["watch"] != nil { return "watch" }
        return routeName(path: request.uri.path)
    }

    /// The route a path counts under: its first component and how many there are, read as
    /// bytes (this runs for every request).
    static func routeName(path: String) -> String {
        let parts = path.utf8.split(separator: UInt8(ascii: "/"))
        func part(_ i: Int, is name: String) -> Bool { parts.count > i && parts[i].elementsEqual(name.utf8) }
        if part(0, is: "runtime") { return "runtime_status" }
        if part(0, is: "metrics") { return "metrics" }
        if part(0, is: "openapi.yaml") { return "openapi" }
        guard part(0, is: "agents") else { return "other" }
        switch parts.count {
        case 1: return "agents"
        case 2: return "agent"
        case 3:
            for name in ["send", "tick", "hibernate", "wake", "tokens"] where part(2, is: name) { return name }
            return "file"
        default: return "file"
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
