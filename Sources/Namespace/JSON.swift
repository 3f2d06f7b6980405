/// A JSON value with a strict parser (depth-limited, for hostile input) and a deterministic
/// writer (sorted keys, one line), so that files built from JSON read the same every time.
///
/// Numbers are never silently rewritten: an integer (no fraction, no exponent) is kept exact
/// as an Int64, one beyond 64 bits keeps its decimal text, and a number with a fraction or an
/// exponent is an IEEE double (as every JavaScript reader takes it), written back in the
/// shortest form that reads as the same double. Each writes a text that parses to the same
/// case and value, so a document read and written again is the same document.
public enum JSON: Sendable, Hashable {
    case null
    case bool(Bool)
    /// An integer written without fraction or exponent, exact.
    case integer(Int64)
    /// A number with a fraction or an exponent (finite).
    case number(Double)
    /// A number neither of the others holds as written (an integer beyond 64 bits, or a
    /// magnitude beyond a double's range): its text, exactly as parsed.
    case decimal(String)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    public subscript(key: String) -> JSON? {
        if case .object(let o) = self { return o[key] }
        return nil
    }

    public var stringValue: String? { if case .string(let s) = self { return s } else { return nil } }
    public var doubleValue: Double? {
        switch self {
        case .integer(let i): Double(i)
        case .number(let n): n
        case .decimal(let text): Double(text)
        default: nil
        }
    }
    public var boolValue: Bool? { if case .bool(let b) = self { return b } else { return nil } }
    public var objectValue: [String: JSON]? { if case .object(let o) = self { return o } else { return nil } }
    public var arrayValue: [JSON]? { if case .array(let a) = self { return a } else { return nil } }
    /// The number as an integer, when it is one: an integer, or a double with no fraction that
    /// a double holds exactly (|n| <= 2^53).
    public var int64Value: Int64? {
        switch self {
        case .integer(let i): return i
        case .number(let n):
            guard n.rounded() == n, abs(n) <= 9_007_199_254_740_992 else { return nil }
            return Int64(n)
        default: return nil
        }
    }

    public var intValue: Int? { int64Value.map { Int($0) } }

    public static func int(_ i: Int) -> JSON { .integer(Int64(i)) }
    public static func int64(_ i: Int64) -> JSON { .integer(i) }

    /// RFC 7396 JSON merge-patch.
    public func merging(patch: JSON) -> JSON {
        guard case .object(let p) = patch else { return patch }
        var base = objectValue ?? [:]
        for (key, value) in p {
            if value == .null {
                base[key] = nil
            } else {
                base[key] = (base[key] ?? .null).merging(patch: value)
            }
        }
        return .object(base)
    }
}

// MARK: - Writing

extension JSON: CustomStringConvertible {
    /// One line, keys sorted.
    public var description: String {
        var out: [UInt8] = []
        out.reserveCapacity(128)
        encode(into: &out)
        return String(decoding: out, as: UTF8.self)
    }

    public var bytes: [UInt8] {
        var out: [UInt8] = []
        encode(into: &out)
        return out
    }

    public func write(to out: inout String) { out += description }

    /// The writer works on UTF-8 bytes: runs of characters that need no escape are copied
    /// whole (status, envelopes and receipts are encoded on every request).
    public func encode(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .integer(let i): out.append(contentsOf: String(i).utf8)
        case .number(let n): out.append(contentsOf: JSON.format(n).utf8)
        case .decimal(let text): out.append(contentsOf: text.utf8)
        case .string(let s): JSON.quote(s, into: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            for (i, v) in a.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                v.encode(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            for (i, key) in o.keys.sorted().enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSON.quote(key, into: &out)
                out.append(UInt8(ascii: ":"))
                o[key]!.encode(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Swift's shortest round-trip form, which always has a `.` or an exponent (`1.0`, `1e+300`,
    /// `-0.0`), so it parses back to a double, never to an integer.
    static func format(_ n: Double) -> String {
        n.isFinite ? "\(n)" : "null"
    }

    /// A JSON string literal. Escapes quote, backslash and control characters, and U+2028/U+2029
    /// (line separators to JavaScript, so a record stays one line for every reader).
    static func quote(_ s: String, into out: inout [UInt8]) {
        var s = s
        out.append(UInt8(ascii: "\""))
        s.withUTF8 { b in
            var run = 0  // start of the bytes not yet copied
            var i = 0
            func flush(_ upTo: Int) { if upTo > run { out.append(contentsOf: UnsafeBufferPointer(rebasing: b[run..<upTo])) } }
            while i < b.count {
                let c = b[i]
                let escape: String?
                var width = 1
                switch c {
                case UInt8(ascii: "\""): escape = "\\\""
                case UInt8(ascii: "\\"): escape = "\\\\"
                case UInt8(ascii: "\n"): escape = "\\n"
                case UInt8(ascii: "\r"): escape = "\\r"
                case UInt8(ascii: "\t"): escape = "\\t"
                case 0..<0x20: escape = "\\u00" + (c < 0x10 ? "0" : "") + String(c, radix: 16)
                case 0xE2 where i + 2 < b.count && b[i + 1] == 0x80 && (b[i + 2] == 0xA8 || b[i + 2] == 0xA9):
                    escape = b[i + 2] == 0xA8 ? "\\u2028" : "\\u2029"
                    width = 3
                default: escape = nil
                }
                if let escape {
                    flush(i)
                    out.append(contentsOf: escape.utf8)
                    i += width
                    run = i
                } else {
                    i += 1
                }
            }
            flush(b.count)
        }
        out.append(UInt8(ascii: "\""))
    }
}

// MARK: - Parsing

extension JSON {
    public static let maxDepth = 64

    /// Parses exactly one JSON value (surrounding white space allowed).
    public init(parsing bytes: some Collection<UInt8>) throws(FSError) {
        var parser = Parser(bytes: Array(bytes))
        parser.skipSpace()
        let value = try parser.value(depth: 0)
        parser.skipSpace()
        guard parser.atEnd else { throw parser.fail("unexpected text after the JSON value") }
        self = value
    }

    public init(parsing text: String) throws(FSError) { try self.init(parsing: Array(text.utf8)) }

    struct Parser {
        let bytes: [UInt8]
        var i = 0

        var atEnd: Bool { i >= bytes.count }

        func fail(_ what: String) -> FSError { FSError(.invalidInput, "invalid JSON at byte \(i): \(what)") }

        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0a || bytes[i] == 0x0d || bytes[i] == 0x09 { i += 1 }
        }

        mutating func expect(_ literal: String, _ value: JSON) throws(FSError) -> JSON {
            for b in literal.utf8 {
                guard i < bytes.count, bytes[i] == b else { throw fail("expected \(literal)") }
                i += 1
            }
            return value
        }

        mutating func value(depth: Int) throws(FSError) -> JSON {
            guard depth < JSON.maxDepth else { throw fail("nested deeper than \(JSON.maxDepth)") }
            guard i < bytes.count else { throw fail("unexpected end") }
            switch bytes[i] {
            case UInt8(ascii: "{"):
                i += 1
                var object: [String: JSON] = [:]
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; return .object(object) }
                while true {
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
                    let key = try string()
                    skipSpace()
                    guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':'") }
                    i += 1
                    skipSpace()
                    object[key] = try value(depth: depth + 1)
                    skipSpace()
                    guard i < bytes.count else { throw fail("unexpected end in object") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "}") { i += 1; return .object(object) }
                    throw fail("expected ',' or '}'")
                }
            case UInt8(ascii: "["):
                i += 1
                var array: [JSON] = []
                skipSpace()
                if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; return .array(array) }
                while true {
                    skipSpace()
                    array.append(try value(depth: depth + 1))
                    skipSpace()
                    guard i < bytes.count else { throw fail("unexpected end in array") }
                    if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
                    if bytes[i] == UInt8(ascii: "]") { i += 1; return .array(array) }
                    throw fail("expected ',' or ']'")
                }
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try expect("true", .bool(true))
            case UInt8(ascii: "f"): return try expect("false", .bool(false))
            case UInt8(ascii: "n"): return try expect("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw fail("unexpected character")
            }
        }

        mutating func number() throws(FSError) -> JSON {
            let start = i
            if bytes[i] == UInt8(ascii: "-") { i += 1 }
            func digits(_ p: inout Parser) -> Int {
                let s = p.i
                while p.i < p.bytes.count, p.bytes[p.i] >= 0x30, p.bytes[p.i] <= 0x39 { p.i += 1 }
                return p.i - s
            }
            let intDigits = digits(&self)
            guard intDigits > 0 else { throw fail("expected digits") }
            if intDigits > 1, bytes[i - intDigits] == UInt8(ascii: "0") { throw fail("leading zero") }
            var integral = true
            if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
                i += 1
                integral = false
                guard digits(&self) > 0 else { throw fail("expected digits after '.'") }
            }
            if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
                i += 1
                integral = false
                if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
                guard digits(&self) > 0 else { throw fail("expected exponent digits") }
            }
            let text = String(decoding: bytes[start..<i], as: UTF8.self)
            if integral {
                if let n = Int64(text) { return .integer(n) }
                return .decimal(text)
            }
            guard let n = Double(text), n.isFinite else { return .decimal(text) }
            return .number(n)
        }

        mutating func hex4() throws(FSError) -> UInt32 {
            guard i + 4 <= bytes.count else { throw fail("short \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                guard let d = Hex.digit(bytes[i]) else { throw fail("bad hex digit in \\u escape") }
                v = v * 16 + UInt32(d)
                i += 1
            }
            return v
        }

        mutating func string() throws(FSError) -> String {
            i += 1  // opening quote
            var out = [UInt8]()
            while true {
                guard i < bytes.count else { throw fail("unterminated string") }
                let c = bytes[i]
                if c == UInt8(ascii: "\"") { i += 1; break }
                if c < 0x20 { throw fail("control character in string") }
                if c != UInt8(ascii: "\\") {
                    out.append(c)
                    i += 1
                    continue
                }
                i += 1
                guard i < bytes.count else { throw fail("unterminated escape") }
                let e = bytes[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5c)
                case UInt8(ascii: "/"): out.append(0x2f)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0c)
                case UInt8(ascii: "n"): out.append(0x0a)
                case UInt8(ascii: "r"): out.append(0x0d)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard i + 6 <= bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                            throw fail("lone surrogate")
                        }
                        i += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw fail("bad surrogate pair") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw fail("lone surrogate")
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw fail("bad code point") }
                    out.append(contentsOf: Array(String(Character(u)).utf8))
                default: throw fail("bad escape")
                }
            }
            guard let s = String(validating: out, as: UTF8.self) else { throw fail("string is not UTF-8") }
            return s
        }
    }
}

extension JSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral, ExpressibleByNilLiteral {
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .integer(Int64(value)) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(nilLiteral: ()) { self = .null }
}
