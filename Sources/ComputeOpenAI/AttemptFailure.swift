import Runtime

/// How one attempt at a request failed: the error to report if it is the last, whether a
/// retry may help (a transient failure before any text was delivered), and the wait the
/// server asked for.
struct AttemptFailure: Error {
    var error: ProviderError
    var retryable: Bool
    var retryAfter: Duration?

    init(_ error: ProviderError, retryable: Bool, retryAfter: Duration? = nil) {
        self.error = error
        self.retryable = retryable
        self.retryAfter = retryAfter
    }
}
