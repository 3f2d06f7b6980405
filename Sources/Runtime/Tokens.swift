import Crypto
import Namespace

/// Bearer tokens: random, shown once, stored and compared as SHA-256 hashes.
public enum Tokens {
    public static func hash(_ token: String) -> String { Hex.encode(digest(token)) }

    /// The SHA-256 of a token's UTF-8 bytes.
    public static func digest(_ token: some StringProtocol) -> [UInt8] {
        var token = String(token)
        return token.withUTF8 { Array(SHA256.hash(data: $0)) }
    }

    public static func generate(prefix: String, bytes: Int = 24) -> String {
        var rng = SystemRandomNumberGenerator()
        return prefix + Hex.encode((0..<bytes).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    /// Compares in time independent of where the strings differ.
    public static func equal(_ a: String, _ b: String) -> Bool { equal(Array(a.utf8), Array(b.utf8)) }

    public static func equal(_ x: [UInt8], _ y: [UInt8]) -> Bool {
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in x.indices { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}
