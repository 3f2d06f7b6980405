public import Foundation
import CSecp256k1
import Crypto
import Namespace

/// An agent's BIP-340 (secp256k1 Schnorr) key pair: Nostr-compatible keys. The secret never
/// leaves the runtime; `description` redacts it so it cannot slip into a log.
public struct AgentKeyPair: Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    public let secret: [UInt8]
    /// x-only public key, lowercase hex (64 characters).
    public let publicKey: String

    public init(secret: [UInt8], publicKey: String) {
        self.secret = secret
        self.publicKey = publicKey
    }

    public var description: String { "AgentKeyPair(pubkey: \(publicKey), secret: <redacted>)" }
    public var debugDescription: String { description }
}

/// BIP-340 signing and verification through libsecp256k1. Messages are SHA-256 digests of the
/// data, as Nostr signs an event id.
public enum Schnorr {
    /// One context for the process: secp256k1 contexts are safe to share for signing and
    /// verification once randomised.
    nonisolated(unsafe) static let context: OpaquePointer = {
        let ctx = secp256k1_context_create(UInt32(SECP256K1_CONTEXT_NONE))!
        var seed = [UInt8](repeating: 0, count: 32)
        var rng = SystemRandomNumberGenerator()
        for i in seed.indices { seed[i] = rng.next() }
        _ = secp256k1_context_randomize(ctx, seed)
        return ctx
    }()

    public static func generate() -> AgentKeyPair {
        var rng = SystemRandomNumberGenerator()
        while true {
            var secret = [UInt8](repeating: 0, count: 32)
            for i in secret.indices { secret[i] = rng.next() }
            if let pair = try? keyPair(secret: secret) { return pair }
        }
    }

    /// The key pair of one agent, derived from the node's identity secret: HMAC-SHA256, keyed
    /// by the secret, of the agent's incarnation, its salt (16 random bytes made with it) and its
    /// id. The salt makes every agent's key its own even where incarnations repeat (two nodes
    /// started from one copy of a database, a node restored from a backup), and keeps the keys
    /// of agents made later out of reach of anyone holding an old copy. In the 2^-128 case that
    /// a digest is not a valid secret key, a counter byte makes the next try.
    public static func derive(nodeSecret: [UInt8], agent: String, incarnation: Int64, salt: [UInt8]) -> AgentKeyPair {
        let key = SymmetricKey(data: nodeSecret)
        var message = Array("agentns identity v1\u{0}".utf8)
        withUnsafeBytes(of: UInt64(bitPattern: incarnation).bigEndian) { message += $0 }
        message.append(UInt8(truncatingIfNeeded: salt.count))
        message += salt
        message += Array(agent.utf8)
        var attempt: UInt8 = 0
        while true {
            var mac = HMAC<SHA256>(key: key)
            mac.update(data: message)
            if attempt > 0 { mac.update(data: [attempt]) }
            if let pair = try? keyPair(secret: Array(mac.finalize())) { return pair }
            attempt &+= 1
        }
    }

    /// 16 random bytes: a new agent's key salt.
    public static func newSalt() -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        return (0..<16).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
    }

    public static func keyPair(secret: [UInt8]) throws -> AgentKeyPair {
        guard secret.count == 32 else { throw FSError(.invalidInput, "a secret key is 32 bytes") }
        var keypair = secp256k1_keypair()
        guard secp256k1_keypair_create(context, &keypair, secret) == 1 else { throw FSError(.invalidInput, "invalid secret key") }
        var xonly = secp256k1_xonly_pubkey()
        var parity: Int32 = 0
        _ = secp256k1_keypair_xonly_pub(context, &xonly, &parity, &keypair)
        var out = [UInt8](repeating: 0, count: 32)
        _ = secp256k1_xonly_pubkey_serialize(context, &out, &xonly)
        return AgentKeyPair(secret: secret, publicKey: Hex.encode(out))
    }

    public static func sign(_ data: Data, with pair: AgentKeyPair) throws -> String {
        var keypair = secp256k1_keypair()
        guard secp256k1_keypair_create(context, &keypair, pair.secret) == 1 else { throw FSError(.unavailable, "stored key is invalid") }
        let digest = Array(SHA256.hash(data: data))
        var aux = [UInt8](repeating: 0, count: 32)
        var rng = SystemRandomNumberGenerator()
        for i in aux.indices { aux[i] = rng.next() }
        var sig = [UInt8](repeating: 0, count: 64)
        guard secp256k1_schnorrsig_sign32(context, &sig, digest, &keypair, aux) == 1 else { throw FSError(.unavailable, "signing failed") }
        return Hex.encode(sig)
    }

    public static func verify(pubkey: String, data: Data, signature: String) -> Bool {
        guard let key = Hex.decode(pubkey), key.count == 32, let sig = Hex.decode(signature), sig.count == 64 else { return false }
        var xonly = secp256k1_xonly_pubkey()
        guard secp256k1_xonly_pubkey_parse(context, &xonly, key) == 1 else { return false }
        let digest = Array(SHA256.hash(data: data))
        return secp256k1_schnorrsig_verify(context, sig, digest, 32, &xonly) == 1
    }
}
