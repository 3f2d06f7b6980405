public import ServiceLifecycle
public import Hummingbird
public import Logging
public import Prometheus
public import Runtime

/// Builds the agentd HTTP application; agentd and the tests call the same builder.
public enum AgentHTTPServer {
    public static func application(
        runtime: Runtime, operatorToken: String, host: String = "127.0.0.1", port: Int = 5640,
        options: AgentHTTPOptions = .init(), registry: PrometheusCollectorRegistry = .init(), services: [any Service] = [],
        logger: Logger = Logger(label: "agentd"),
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        Application(
            responder: NamespaceResponder(runtime: runtime, operatorToken: operatorToken, options: options, registry: registry),
            server: .http1(configuration: .init(additionalChannelHandlers: [
                RequestDeadlines(head: .nanoseconds(Int64(options.requestHeadSeconds * 1e9)),
                                 body: .nanoseconds(Int64(options.requestBodySeconds * 1e9)),
                                 stall: .nanoseconds(Int64(options.responseStallSeconds * 1e9))),
            ])),
            configuration: .init(address: .hostname(host, port: port), serverName: "agentd"),
            services: services,
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? port) },
            logger: logger
        )
    }
}
