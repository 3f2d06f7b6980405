import Crypto
import Namespace

/// Bearer tokens: random, shown once, stored and compared as SHA-256 hashes.
public enum Tokens {
    public static func hash(_ token: String) -> String { Hex.encode(Array(SHA256.hash(data: Array(token.utf8)))) }

    public static func generate(prefix: String) -> String {
        var rng = SystemRandomNumberGenerator()
        return prefix + Hex.encode((0..<24).map { _ in UInt8.random(in: 0...255, using: &rng) })
    }

    /// Compares in time independent of where the strings differ.
    public static func equal(_ a: String, _ b: String) -> Bool {
        let x = Array(a.utf8), y = Array(b.utf8)
        guard x.count == y.count else { return false }
        var diff: UInt8 = 0
        for i in x.indices { diff |= x[i] ^ y[i] }
        return diff == 0
    }
}
