import Synchronization
public import Foundation
public import Namespace

/// Turns what a client wrote to an inbox into an envelope: plain text becomes the body
/// (one trailing newline dropped); a JSON object with a `body` field is an envelope and may
/// carry its own `id`, `from` and `kind`.
public enum EnvelopeParser {
    public static let maxFromLength = 200

    /// Senders whose notices only the runtime writes.
    static let runtimeSenders: Set<String> = ["compute", "containers"]

    public static func parse(_ data: Data, sender: String, now: Int64) throws(FSError) -> Envelope {
        guard let text = String(data: data, encoding: .utf8) else { throw FSError.invalidInput("a message must be UTF-8 text or JSON") }
        if text.first == "{", let json = try? JSON(parsing: text), case .object(let o) = json, let body = o["body"] {
            var id = generatedID(now)
            if let v = o["id"] {
                guard let s = v.stringValue, AgentID.isValid(s) else {
                    throw FSError.invalidInput("envelope id must be a string matching [a-z0-9][a-z0-9._-]{0,62}")
                }
                id = s
            }
            var from = sender
            if let v = o["from"] {
                guard let s = v.stringValue, !s.isEmpty, s.count <= maxFromLength, !s.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
                    throw FSError.invalidInput("envelope from must be a non-empty one-line string of at most \(maxFromLength) characters")
                }
                from = s
            }
            var kind = "message"
            if let v = o["kind"] {
                guard let s = v.stringValue, AgentID.isValid(s) else {
                    throw FSError.invalidInput("envelope kind must be a string matching [a-z0-9][a-z0-9._-]{0,62}")
                }
                kind = s
            }
            // The runtime's own notices (a job's end) cannot be forged by a client.
            if Self.runtimeSenders.contains(from), kind == "job" || kind == "exec" {
                throw FSError.invalidInput("envelopes from '\(from)' of kind '\(kind)' are the runtime's own notices; choose another from or kind")
            }
            return Envelope(id: id, from: from, kind: kind, body: body, sentAt: now)
        }
        var body = Substring(text)
        if body.hasSuffix("\r\n") {
            body = body.dropLast(2)
        } else if body.hasSuffix("\n") {
            body = body.dropLast()
        }
        return Envelope(id: generatedID(now), from: sender, kind: "message", body: .string(String(body)), sentAt: now)
    }

    /// Time-ordered and unique: milliseconds in hex, then 64 bits that no other id of this
    /// process shares and that differ from run to run. The bits are a counter mixed by a
    /// bijection (splitmix64's finaliser) under a random key drawn once, so there is no system
    /// call per message and no two ids of one process can collide.
    public static func generatedID(_ now: Int64) -> String {
        let n = idCounter.add(1, ordering: .relaxed).newValue
        let t = String(UInt64(max(now, 0)), radix: 16)
        let h = String(mix(n &+ idKey), radix: 16)
        return "m" + t + "-" + String(repeating: "0", count: 16 - h.count) + h
    }

    private static let idKey: UInt64 = {
        var rng = SystemRandomNumberGenerator()
        return rng.next()
    }()
    private static let idCounter = Atomic<UInt64>(0)

    static func mix(_ x: UInt64) -> UInt64 {
        var z = x
        z = (z ^ (z >> 30)) &* 0xbf58476d1ce4e5b9
        z = (z ^ (z >> 27)) &* 0x94d049bb133111eb
        return z ^ (z >> 31)
    }
}
