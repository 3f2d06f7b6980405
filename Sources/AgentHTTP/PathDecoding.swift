import Namespace

/// The request path, decoded once component by component. A decoded component is validated
/// on its own, so `%2f` can never become a separator and `%2e%2e` never a parent. Read as
/// bytes (every request does this; '/', '?' and '%' are ASCII, never inside a UTF-8 sequence).
struct RequestPath: Equatable {
    var components: [String]
    var trailingSlash: Bool

    init(raw: String) throws(FSError) {
        let bytes = Array(raw.utf8)
        let slash = UInt8(ascii: "/")
        let end = bytes.firstIndex(of: UInt8(ascii: "?")) ?? bytes.count
        guard end <= Path.maxPathBytes else { throw FSError(.invalidPath, "path longer than \(Path.maxPathBytes) bytes") }
        var lo = 0, hi = end
        if lo < hi, bytes[lo] == slash { lo += 1 }
        trailingSlash = hi > lo && bytes[hi - 1] == slash
        if trailingSlash { hi -= 1 }
        components = []
        if lo == hi { return }
        let path = String(decoding: bytes[..<end], as: UTF8.self)
        var start = lo
        for i in lo...hi where i == hi || bytes[i] == slash {
            components.append(try Path.validate(component: try Self.percentDecode(bytes[start..<i]), in: path))
            start = i + 1
        }
    }

    static func percentDecode(_ s: ArraySlice<UInt8>) throws(FSError) -> String {
        guard s.contains(UInt8(ascii: "%")) else { return String(decoding: s, as: UTF8.self) }
        var out: [UInt8] = []
        var bytes = s
        while let c = bytes.popFirst() {
            if c == UInt8(ascii: "%") {
                guard bytes.count >= 2, let h = Hex.digit(bytes[bytes.startIndex]), let l = Hex.digit(bytes[bytes.startIndex + 1]) else {
                    throw FSError(.invalidPath, "bad percent-encoding in path")
                }
                bytes = bytes.dropFirst(2)
                out.append(h << 4 | l)
            } else {
                out.append(c)
            }
        }
        guard let text = String(validating: out, as: UTF8.self) else { throw FSError(.invalidPath, "path is not UTF-8") }
        return text
    }

    /// The global namespace path.
    var text: String { "/" + components.joined(separator: "/") }
}
