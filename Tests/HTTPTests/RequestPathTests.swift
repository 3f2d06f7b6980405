@testable import AgentHTTP
import Namespace
import Testing

/// The request path and the metrics' route, read as bytes on every request, against the
/// String-based reading they replaced (kept here as the oracle): the same components, the same
/// trailing slash, the same error, the same route, for every path of a family built to hit
/// the edges (separators, '?', percent-encoding good and bad, dot segments, non-ASCII).
@Suite struct RequestPathTests {
    /// The reading before 2026-12-04, by Characters.
    static func oracle(_ raw: String) -> Result<RequestPath, FSError> {
        do throws(FSError) {
            let path = raw.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
            guard path.utf8.count <= Path.maxPathBytes else { throw FSError(.invalidPath, "path longer than \(Path.maxPathBytes) bytes") }
            var body = Substring(path)
            if body.hasPrefix("/") { body = body.dropFirst() }
            let trailing = body.hasSuffix("/") && !body.isEmpty
            if trailing { body = body.dropLast() }
            var components: [String] = []
            if !body.isEmpty {
                for part in body.split(separator: "/", omittingEmptySubsequences: false) {
                    components.append(try Path.validate(component: try RequestPath.percentDecode(ArraySlice(part.utf8)), in: path))
                }
            }
            var out = try RequestPath(raw: "/")
            out.components = components
            out.trailingSlash = trailing
            return .success(out)
        } catch {
            return .failure(error)
        }
    }

    static func oracleRoute(_ path: String) -> String {
        let parts = path.split(separator: "/")
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

    static let pieces = ["/", "/", "/", "a", "agents", "status", "tick", "%2f", "%2F", "%2e", "%2e%2e", ".", "..", "%", "%z", "%4", "%41",
                         "%c3%a9", "%ff", "é", "日本", "?", "?x=1", "//", "metrics", "runtime", "send", "openapi.yaml", " "]

    @Test func bytesReadEveryPathAsTheStringsDid() throws {
        var rng = SystemRandomNumberGenerator()
        var paths = ["", "/", "//", "///", "/?", "?", "/a", "/a/", "/a//b", "/agents/x/status", "/agents/x/status?watch=1",
                     "/agents/%2e%2e/x", "/agents/a%2fb", "/a?b/c", "/" + String(repeating: "x", count: Path.maxPathBytes + 1)]
        for _ in 0..<20_000 {
            paths.append((0..<Int.random(in: 1...7, using: &rng)).map { _ in Self.pieces.randomElement(using: &rng)! }.joined())
        }
        var differ: [String] = []
        for raw in paths {
            let new: Result<RequestPath, FSError>
            do throws(FSError) { new = .success(try RequestPath(raw: raw)) } catch { new = .failure(error) }
            switch (new, Self.oracle(raw)) {
            case (.success(let a), .success(let b)) where a == b: break
            case (.failure(let a), .failure(let b)) where a.code == b.code && a.message == b.message: break
            default: differ.append(raw)
            }
            let path = String(raw.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? "")
            if HTTPMetrics.routeName(path: path) != Self.oracleRoute(path) { differ.append("route of " + raw) }
        }
        #expect(differ.isEmpty, "\(differ.prefix(10))")
    }
}
