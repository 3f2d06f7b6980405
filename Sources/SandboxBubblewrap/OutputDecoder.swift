/// One stream's bytes as text, in pieces: a UTF-8 sequence split across reads is carried to the
/// next read and kept whole, invalid bytes become U+FFFD, and no piece is longer than
/// `pieceBytes` bytes of text (cut between characters' scalars, never inside one).
struct OutputDecoder: Sendable {
    static let pieceBytes = 16 * 1024

    private(set) var carry: [UInt8] = []

    /// The text of what was carried and `bytes`, keeping back an incomplete trailing sequence
    /// unless `final` (the stream ended: it becomes U+FFFD).
    mutating func decode(_ bytes: some Collection<UInt8>, final: Bool = false) -> String {
        var data = carry
        data.append(contentsOf: bytes)
        carry = []
        if !final, let cut = Self.incompleteTail(data) {
            carry = Array(data[cut...])
            data.removeSubrange(cut...)
        }
        return String(decoding: data, as: UTF8.self)
    }

    /// Where an incomplete sequence at the end of `data` starts (nil: it ends complete).
    static func incompleteTail(_ data: [UInt8]) -> Int? {
        var i = data.count
        var continuations = 0
        while i > 0, continuations < 3, data[i - 1] & 0xC0 == 0x80 {
            i -= 1
            continuations += 1
        }
        guard i > 0 else { return nil }
        let lead = data[i - 1]
        let need = switch lead {
        case 0xC2...0xDF: 2
        case 0xE0...0xEF: 3
        case 0xF0...0xF4: 4
        default: 0
        }
        return continuations + 1 < need ? i - 1 : nil
    }

    /// `text` in pieces of at most `pieceBytes` UTF-8 bytes, each cut where a scalar starts.
    static func pieces(_ text: String, pieceBytes: Int = pieceBytes) -> [String] {
        let utf8 = Array(text.utf8)
        guard utf8.count > pieceBytes else { return text.isEmpty ? [] : [text] }
        var out: [String] = []
        var start = 0
        while start < utf8.count {
            var end = min(utf8.count, start + pieceBytes)
            while end < utf8.count, end > start + 1, utf8[end] & 0xC0 == 0x80 { end -= 1 }
            out.append(String(decoding: utf8[start..<end], as: UTF8.self))
            start = end
        }
        return out
    }

    /// The longest prefix of `text` of at most `bytes` UTF-8 bytes that ends between scalars.
    static func prefix(_ text: String, bytes: Int64) -> String {
        let utf8 = Array(text.utf8)
        guard Int64(utf8.count) > bytes else { return text }
        var end = Int(max(0, bytes))
        while end > 0, utf8[end] & 0xC0 == 0x80 { end -= 1 }
        return String(decoding: utf8[..<end], as: UTF8.self)
    }
}

/// The output cap of one exec, shared by stdout and stderr and counted in bytes of the text
/// handed on (so that replacement characters cannot carry it past the limit).
struct OutputBudget: Sendable {
    private(set) var left: Int64
    private(set) var truncated = false

    init(_ bytes: Int64) { left = max(0, bytes) }

    /// What of `text` may still be handed on (the rest is dropped and the output marked truncated).
    mutating func take(_ text: String) -> String {
        let count = Int64(text.utf8.count)
        guard count > 0 else { return "" }
        if count <= left {
            left -= count
            return text
        }
        truncated = true
        let kept = OutputDecoder.prefix(text, bytes: left)
        left -= Int64(kept.utf8.count)
        return kept
    }

    /// Bytes that arrived after the cap was reached (read and dropped).
    mutating func dropped(_ count: Int) {
        if count > 0 { truncated = true }
    }
}
