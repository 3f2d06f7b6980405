public import AsyncHTTPClient
import Namespace
import NIOCore
public import Runtime

/// Makes OpenAIProviders over one shared HTTPClient (agentd's), for providers of kind
/// "openai".
public struct OpenAIProviderFactory: ComputeProviderFactory {
    public let http: HTTPClient

    public init(http: HTTPClient) {
        self.http = http
    }

    /// Throws `invalid_input` for another kind or a base_url that is not http(s).
    public func provider(for config: ProviderConfig) throws -> any ComputeProvider {
        guard config.kind == "openai" else {
            throw FSError(.invalidInput, "provider \(config.name): kind \"\(config.kind)\" is not supported (the one kind is \"openai\")")
        }
        return try OpenAIProvider(config: config, http: http)
    }

    /// The client configuration providers are meant to run on. The pool's own retries of a
    /// failed connection are off, so a refused connection fails at once and the provider's
    /// bounded retries (max_retries, back-off) are the only ones; redirects are not followed,
    /// so the api key is sent nowhere but base_url.
    /// Connections to one provider's host at once.
    public static let maxConnectionsPerHost = 1024

    public static var httpConfiguration: HTTPClient.Configuration {
        var configuration = HTTPClient.Configuration()
        configuration.connectionPool.retryConnectionEstablishment = false
        // One connection per open job: the default of 8 per host let eight slow calls stall every
        // other job on that provider (and its health probe) for up to timeout_ms. Open jobs are
        // bounded per agent by compute/policy's max_running.
        configuration.connectionPool.concurrentHTTP1ConnectionsPerHostSoftLimit = Self.maxConnectionsPerHost
        configuration.timeout.connect = .seconds(10)
        configuration.redirectConfiguration = .disallow
        return configuration
    }
}
