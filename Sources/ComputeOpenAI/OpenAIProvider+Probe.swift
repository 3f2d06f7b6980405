import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
public import Runtime

extension OpenAIProvider {
    /// The longest a probe waits, both requests together.
    static let probeTimeout = Duration.seconds(5)

    /// `<base_url>/models`, else `<root>/health` (llama-server's, beside `/v1`). A server that
    /// cannot be reached is not asked twice.
    public func probe() async -> ProviderHealth {
        let checkedAt = Int64((Date().timeIntervalSince1970 * 1000).rounded())
        let clock = ContinuousClock()
        let start = clock.now
        let deadline = start + Self.probeTimeout
        var failure = "no answer"
        for url in [base + "/models", root + "/health"] {
            let sent = clock.now
            var request = HTTPClientRequest(url: url)
            request.headers = headers(accept: "application/json")
            request.headers.remove(name: "Content-Type")
            do {
                let response = try await http.execute(request, deadline: Self.nioDeadline(deadline))
                _ = try await response.body.collect(upTo: 1 << 20)
                let status = Int(response.status.code)
                if (200..<300).contains(status) {
                    return ProviderHealth(ok: true, latencyMs: Self.milliseconds(sent.duration(to: clock.now)), checkedAt: checkedAt)
                }
                failure = "\(url.dropFirst(root.count)) answered \(status)"
            } catch let error as HTTPClientError where error == .deadlineExceeded {
                failure = "no answer within \(Self.probeTimeout)"
                break
            } catch {
                failure = "cannot reach provider '\(config.name)': \(Self.describe(error))"
                break
            }
        }
        return ProviderHealth(ok: false, latencyMs: Self.milliseconds(start.duration(to: clock.now)), checkedAt: checkedAt,
                              error: scrub(failure))
    }

    /// `base_url` without a trailing `/v1`: where llama-server answers `/health`.
    var root: String { base.hasSuffix("/v1") ? String(base.dropLast(3)) : base }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }
}
