@testable import AgentHTTP
import Namespace
import Testing

/// The request path and the metrics' route, read as bytes on every request, against the
/// String-based reading they replaced (kept here as the oracle): the same components, the same
/// trailing slash, the same error, the same route, for every path of a family built to hit
/// the edges (separators, '?', percent-encoding good and bad, dot segments, non-ASCII). The
/// one place they differ on purpose is a '/', '?' or '%' that a combining mark joins into one
/// Character: bytes still see the separator (`separatorsAreBytes`), and so does `Path`, so the
/// HTTP layer and the namespace split every path the same way.
@Suite struct RequestPathTests {
    /// The percent-decoding before 2026-12-04, by Characters.
    static func oldPercentDecode(_ s: Substring) throws(FSError) -> String {
        // Its gate was by Characters (the only part the byte reading changed); its loop was
        // the one `RequestPath.percentDecode` still runs.
        guard s.contains("%") else { return String(s) }
        return try RequestPath.percentDecode(ArraySlice(s.utf8))
    }

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
                    components.append(try Path.validate(component: try oldPercentDecode(part), in: path))
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

    /// A fixed sequence, so a failure names paths that fail again.
    struct SplitMix: RandomNumberGenerator {
        var state: UInt64
        mutating func next() -> UInt64 {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            return z ^ (z >> 31)
        }
    }

    @Test func separatorsAreBytes() throws {
        // U+0301 (combining acute) joins the '/' or '%' before it into one Character.
        #expect(try RequestPath(raw: "/agents/a/\u{301}b").components == ["agents", "a", "\u{301}b"])
        #expect(try Path("/agents/a/\u{301}b").components == ["agents", "a", "\u{301}b"])
        #expect(try RequestPath(raw: "/a\u{600}/b").components == ["a\u{600}", "b"])
        #expect(try Path("/a\u{600}/b").components == ["a\u{600}", "b"])
        #expect(throws: FSError.self) { try RequestPath(raw: "/a/%\u{301}41") }
        #expect(try RequestPath(raw: "/a/b?\u{301}x").components == ["a", "b"])
    }

    @Test func bytesReadEveryPathAsTheStringsDid() throws {
        var rng = SplitMix(state: 20261204)
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
            // The namespace parses the decoded path again: it must find the same components.
            if case .success(let p) = new, (try? Path(p.text))?.components != p.components { differ.append("Path of " + raw) }
        }
        #expect(differ.isEmpty, "\(differ.prefix(10))")
    }
}
