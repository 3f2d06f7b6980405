/// A normalised path: a list of components, none empty, none `.` or `..`, none containing `/`,
/// NUL, control characters or a percent-encoded separator, dot or NUL.
///
/// Parsing refuses rather than repairs: a path that would need cleaning is not what the client
/// meant, and a mangled path is how traversal bugs start.
public struct Path: Sendable, Hashable, CustomStringConvertible, Comparable {
    public private(set) var components: [String]

    public static let root = Path(validated: [])
    public static let maxComponentBytes = 255
    public static let maxPathBytes = 4096

    init(validated components: [String]) { self.components = components }

    /// Parses `text`. A leading `/` and one trailing `/` are allowed; everything else must be
    /// well-formed components. Split on the byte '/', as the HTTP layer splits a request's path
    /// (a '/' followed by a combining mark is one Character but still a separator), and as bytes
    /// for speed: this runs for every request.
    public init(_ text: String) throws(FSError) {
        let bytes = text.utf8
        guard bytes.count <= Path.maxPathBytes else {
            throw FSError(.invalidPath, "path longer than \(Path.maxPathBytes) bytes", path: String(text.prefix(64)) + "...")
        }
        let slash = UInt8(ascii: "/")
        var lo = bytes.startIndex, hi = bytes.endIndex
        if lo < hi, bytes[lo] == slash { lo = bytes.index(after: lo) }
        if lo < hi, bytes[bytes.index(before: hi)] == slash { hi = bytes.index(before: hi) }
        if lo >= hi {
            self.components = []
            return
        }
        var parts: [String] = []
        for part in bytes[lo..<hi].split(separator: slash, omittingEmptySubsequences: false) {
            parts.append(try Path.validate(component: String(Substring(part)), in: text))
        }
        self.components = parts
    }

    /// Checks one component and returns it unchanged. One pass over the UTF-8 bytes; the
    /// scalar checks run only for non-ASCII components.
    public static func validate(component c: String, in whole: String? = nil) throws(FSError) -> String {
        let shown = whole ?? c
        let utf8 = c.utf8
        if utf8.isEmpty { throw FSError(.invalidPath, "empty path component (double slash)", path: shown) }
        if c == "." || c == ".." { throw FSError(.invalidPath, "'\(c)' is not allowed in a path", path: shown) }
        if utf8.count > maxComponentBytes {
            throw FSError(.invalidPath, "path component longer than \(maxComponentBytes) bytes", path: String(shown.prefix(64)) + "...")
        }
        var ascii = true
        var percent = 0  // bytes since the last '%': 0 none, 1 after '%', 2 after '%' and one digit
        var first: UInt8 = 0
        for b in utf8 {
            switch b {
            case 0: throw FSError(.invalidPath, "NUL in path", path: shown.printable)
            case 1..<0x20, 0x7f: throw FSError(.invalidPath, "control character in path", path: shown.printable)
            case 0x2f, 0x5c: throw FSError(.invalidPath, "separator inside a path component", path: shown)
            case 0x80...: ascii = false
            default: break
            }
            // A percent-encoded separator, dot, NUL, backslash or percent surviving the edge's one
            // decoding is a second encoding layer: refuse it so no later layer can decode it into a
            // traversal.
            let lower = b | 0x20
            switch percent {
            case 1:
                first = b
                percent = b == 0x32 || b == 0x30 || b == 0x35 ? 2 : 0
            case 2:
                let bad = (first == 0x32 && (lower == 0x66 || lower == 0x65 || b == 0x35)) || (first == 0x30 && b == 0x30)
                    || (first == 0x35 && lower == 0x63)
                if bad { throw FSError(.invalidPath, "encoded separator, dot or percent in path", path: shown) }
                percent = 0
            default:
                break
            }
            if b == 0x25 { percent = 1 }
        }
        if !ascii {
            for scalar in c.unicodeScalars {
                switch scalar.value {
                // Look-alikes of '/' and '.' that some layers fold: fullwidth solidus, division slash,
                // fraction slash, fullwidth full stop, one-dot leader, small full stop.
                case 0xff0f, 0x2215, 0x2044, 0xff0e, 0x2024, 0xfe52:
                    throw FSError(.invalidPath, "look-alike separator or dot in path", path: shown)
                default: break
                }
            }
        }
        return c
    }

    /// This path without its first `n` components (already validated).
    public func droppingFirst(_ n: Int) -> Path { Path(validated: Array(components.dropFirst(n))) }

    public var isRoot: Bool { components.isEmpty }
    public var name: String { components.last ?? "" }
    public var parent: Path { Path(validated: Array(components.dropLast())) }
    public var count: Int { components.count }

    public func appending(_ component: String) throws(FSError) -> Path {
        Path(validated: components + [try Path.validate(component: component)])
    }

    public func appending(_ other: Path) -> Path { Path(validated: components + other.components) }

    /// True when `prefix` is this path or one of its ancestors, on whole components.
    public func hasPrefix(_ prefix: Path) -> Bool {
        prefix.components.count <= components.count && Array(components.prefix(prefix.components.count)) == prefix.components
    }

    /// This path with `prefix` removed; nil when `prefix` is not a prefix on whole components.
    public func dropping(prefix: Path) -> Path? {
        hasPrefix(prefix) ? Path(validated: Array(components.dropFirst(prefix.components.count))) : nil
    }

    public var description: String { "/" + components.joined(separator: "/") }

    public static func < (a: Path, b: Path) -> Bool { a.description < b.description }
}

extension String {
    /// Control characters shown as `?`, for error messages.
    var printable: String { String(unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? "?" : Character($0) }) }
}
