import Namespace
import Testing

@Suite struct PathTests {
    @Test(arguments: ["/", "", "/a", "a/b", "/a/b/", "goals/g1.json", "/logs/trace", "/a.b_c-d", "/ünïcode", "/%41"])
    func accepts(_ text: String) throws {
        _ = try Path(text)
    }

    /// Traversal and malformed paths: each is refused with invalid_path, never cleaned up.
    static let corpus: [String] = [
        "..", "/..", "/a/..", "/a/../b", "./a", "/a/./b", "a//b", "//a", "/a//", "/a\u{0}b", "/a\u{1}b", "/a\u{7f}",
        "/a/%2e%2e/b", "/%2E%2E", "/a%2fb", "/a%2Fb", "/a%00", "/a%5cb", "/a%252e%252e", "/a\\b", "/a\u{FF0F}b", "/a\u{2215}b",
        "/\u{FF0E}\u{FF0E}", "/\u{2024}\u{2024}", "/" + String(repeating: "x", count: 256), String(repeating: "/abc", count: 1100),
    ]

    @Test(arguments: corpus)
    func refuses(_ text: String) {
        #expect {
            _ = try Path(text)
        } throws: { error in
            (error as? FSError)?.code == .invalidPath
        }
    }

    @Test func prefixIsOnWholeComponents() throws {
        let tools = try Path("/tools")
        #expect(try Path("/tools/x").hasPrefix(tools))
        #expect(try Path("/tools").hasPrefix(tools))
        #expect(!(try Path("/toolsx").hasPrefix(tools)))
        #expect(!(try Path("/toolsx/y").hasPrefix(tools)))
        #expect(try Path("/tools/a/b").dropping(prefix: tools) == (try Path("/a/b")))
    }
}
