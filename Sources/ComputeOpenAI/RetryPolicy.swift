import Foundation

/// When to retry a transient failure and how long to wait first: back-off from 250 ms,
/// doubling, capped at 4 s, unless the server said `Retry-After` (honoured up to 10 s).
struct RetryPolicy: Sendable, Equatable {
    var maxRetries: Int
    var initialDelay: Duration = .milliseconds(250)
    var maxDelay: Duration = .seconds(4)
    var maxRetryAfter: Duration = .seconds(10)

    /// The wait before retry number `retry` (0 is the first retry).
    func delay(retry: Int, retryAfter: Duration?) -> Duration {
        if let retryAfter { return min(max(retryAfter, .zero), maxRetryAfter) }
        var delay = initialDelay
        for _ in 0..<max(retry, 0) {
            delay *= 2
            if delay >= maxDelay { return maxDelay }
        }
        return min(delay, maxDelay)
    }

    /// A `Retry-After` header: delta-seconds, or an HTTP date (IMF-fixdate, RFC 9110) from `now`.
    static func retryAfter(_ value: String?, now: Date = Date()) -> Duration? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Int(value) { return .seconds(max(seconds, 0)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        guard let date = formatter.date(from: value) else { return nil }
        return .milliseconds(max(Int64((date.timeIntervalSince(now) * 1000).rounded(.up)), 0))
    }
}
