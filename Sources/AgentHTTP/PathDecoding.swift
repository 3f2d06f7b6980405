import Namespace

/// The request path, decoded once component by component. A decoded component is validated
/// on its own, so `%2f` can never become a separator and `%2e%2e` never a parent.
struct RequestPath {
    var components: [String]
    var trailingSlash: Bool

    init(raw: String) throws(FSError) {
        let path = raw.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
        guard path.utf8.count <= Path.maxPathBytes else { throw FSError(.invalidPath, "path longer than \(Path.maxPathBytes) bytes") }
        var body = Substring(path)
        if body.hasPrefix("/") { body = body.dropFirst() }
        trailingSlash = body.hasSuffix("/") && !body.isEmpty
        if trailingSlash { body = body.dropLast() }
        components = []
        if body.isEmpty { return }
        for part in body.split(separator: "/", omittingEmptySubsequences: false) {
            components.append(try Path.validate(component: try Self.percentDecode(part), in: path))
        }
    }

    static func percentDecode(_ s: Substring) throws(FSError) -> String {
        guard s.contains("%") else { return String(s) }
        var out: [UInt8] = []
        var bytes = Array(s.utf8)[...]
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
