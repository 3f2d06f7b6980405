/// Settings of the HTTP mapping.
public struct AgentHTTPOptions: Sendable {
    /// Largest request body; larger ones get 413.
    public var maxBodyBytes = 1 << 20
    /// Largest bundle `POST /agents?import=1` takes (an agent's retained logs can pass the
    /// ordinary body limit).
    public var maxImportBytes = 256 << 20
    /// Seconds between SSE comment lines that keep proxies from closing a quiet stream.
    public var heartbeatSeconds: Double = 15
    /// Seconds an idle connection has to send a complete request head (slow clients are cut off).
    public var requestHeadSeconds: Double = 30
    /// Seconds a request has, from its head, to send its whole body.
    public var requestBodySeconds: Double = 60
    /// Seconds a response may wait on a client that reads nothing (its socket buffer full)
    /// before the connection is closed: a watcher that stops reading is let go.
    public var responseStallSeconds: Double = 60

    public init() {}
}
