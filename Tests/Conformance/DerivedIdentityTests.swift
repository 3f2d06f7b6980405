import AgentNSTesting
import Foundation
import Namespace
import Runtime
@testable import RuntimeSQLite
import Testing

/// A new agent's keys are derived from the node's identity secret, the agent's incarnation and
/// its salt (docs/decisions.md, "Identity without a row"): no identity row, yet its public key
/// is the same for its whole life, across restarts, and never another agent's.
@Suite struct DerivedIdentityTests {
    func pubkey(_ rt: Runtime, _ id: String) async throws -> String {
        try await rt.op.readString("/agents/\(id)/identity/pubkey").trimmingCharacters(in: .newlines)
    }

    func rows(_ path: String, _ sql: String) throws -> [[SQLValue]] {
        try SQLiteConnection(path: path, readOnly: true).query(sql)
    }

    @Test func aNewAgentHasNoIdentityRowAndKeepsItsKeysAcrossARestart() async throws {
        let path = try TestRuntime.temporaryDirectory() + "/agentd.sqlite"
        let (before, signature) = try await withRuntimeValue(databasePath: path) { rt in
            _ = try await rt.createAgents([AgentSpec(id: "a", kind: "echo"), AgentSpec(id: "b", kind: "echo")])
            return (try await pubkey(rt, "a"), try await rt.sign(as: "a", Data("hello".utf8)))
        }
        #expect(try rows(path, "SELECT count(*) FROM identity").first?[0].int == 0)
        #expect(try rows(path, "SELECT length(key_salt) FROM agents ORDER BY id").map { $0[0].int } == [16, 16])
        let secret = try rows(path, "SELECT value FROM secrets WHERE name = 'identity'")
        #expect(secret.count == 1 && secret[0][0].blob?.count == 32)
        #expect(Schnorr.verify(pubkey: before, data: Data("hello".utf8), signature: signature))
        try await withRuntime(databasePath: path) { rt in
            #expect(try await pubkey(rt, "a") == before)
            #expect(try await pubkey(rt, "b") != before)
            let again = try await rt.sign(as: "a", Data("hello again".utf8))
            #expect(Schnorr.verify(pubkey: before, data: Data("hello again".utf8), signature: again))
            // The export tells the same pair, and the secret is the one that makes the public key.
            let bundle = try await rt.exportAgent("a", includeSecret: true)
            #expect(bundle["identity"]?["pubkey"]?.stringValue == before)
            let hex = try #require(bundle["identity"]?["secret"]?.stringValue)
            let secret = try #require(Hex.decode(hex))
            #expect(try Schnorr.keyPair(secret: secret).publicKey == before)
            #expect(try await rt.exportAgent("a", includeSecret: false)["identity"]?["secret"] == nil)
        }
        // The secret is made once: a second start did not replace it.
        #expect(try rows(path, "SELECT value FROM secrets WHERE name = 'identity'")[0][0].blob == secret[0][0].blob)
    }

    /// A deleted agent's id made again is a new agent: a new incarnation, so a new identity.
    @Test func anIdMadeAgainGetsANewIdentity() async throws {
        try await withRuntime { rt in
            var seen = Set<String>()
            for _ in 0..<3 {
                _ = try await rt.createAgent(id: "again", kind: "echo")
                #expect(seen.insert(try await pubkey(rt, "again")).inserted)
                try await rt.deleteAgent("again")
            }
            await expectCode(.notFound) { _ = try await rt.sign(as: "again", Data("x".utf8)) }
        }
    }

    /// Two nodes started from one copy of a database (or a node restored from a backup) share
    /// the node secret and give out the same incarnations again: the agents they make next,
    /// of the same id, still get keys of their own (each agent's salt).
    @Test func copiesOfOneDatabaseGiveTheSameNewIdDifferentKeys() async throws {
        let dir = try TestRuntime.temporaryDirectory()
        try await withRuntime(databasePath: dir + "/one.sqlite") { rt in _ = try await rt.createAgent(id: "before", kind: "echo") }
        for suffix in ["", "-wal"] where FileManager.default.fileExists(atPath: dir + "/one.sqlite" + suffix) {
            try FileManager.default.copyItem(atPath: dir + "/one.sqlite" + suffix, toPath: dir + "/two.sqlite" + suffix)
        }
        var made: [(Int64?, String)] = []
        for copy in ["one", "two"] {
            made.append(try await withRuntimeValue(databasePath: dir + "/\(copy).sqlite") { rt in
                #expect(try await pubkey(rt, "before").count == 64)
                _ = try await rt.createAgent(id: "after", kind: "echo")
                return (try await rt.store.agent("after")?.incarnation, try await pubkey(rt, "after"))
            })
        }
        #expect(made[0].0 == made[1].0, "the copies gave out the same incarnation")
        #expect(made[0].1 != made[1].1)
        let secrets = try ["one", "two"].map { try rows(dir + "/\($0).sqlite", "SELECT value FROM secrets")[0][0].blob }
        #expect(secrets[0] != nil && secrets[0] == secrets[1], "the copies share the node secret")
    }

    /// A database whose node secret is gone is damaged: derived keys are `unavailable` with
    /// what to do, and no new secret is made in its place (every derived key would change).
    @Test func aMissingNodeSecretIsAnErrorNotANewSecret() async throws {
        let path = try TestRuntime.temporaryDirectory() + "/agentd.sqlite"
        try await withRuntime(databasePath: path) { rt in _ = try await rt.createAgent(id: "a", kind: "echo") }
        try SQLiteConnection(path: path, readOnly: false).exec("DELETE FROM secrets")
        try await withRuntime(databasePath: path) { rt in
            await expectCode(.unavailable) { _ = try await rt.sign(as: "a", Data("x".utf8)) }
            await expectCode(.unavailable) { _ = try await rt.op.read("/agents/a/identity/pubkey") }
            let status = try await rt.statusOf("a")  // the rest of the agent works
            #expect(status["id"]?.stringValue == "a")
        }
        #expect(try rows(path, "SELECT count(*) FROM secrets").first?[0].int == 0)
    }

    /// Two nodes that make the same id as their first agent (the same incarnation) give it
    /// different keys: the node secret is the node's own.
    @Test func twoNodesGiveTheSameIdDifferentKeys() async throws {
        let one = try await withRuntimeValue { rt in
            _ = try await rt.createAgent(id: "twin", kind: "echo")
            return (try await rt.store.agent("twin")?.incarnation, try await pubkey(rt, "twin"))
        }
        let two = try await withRuntimeValue { rt in
            _ = try await rt.createAgent(id: "twin", kind: "echo")
            return (try await rt.store.agent("twin")?.incarnation, try await pubkey(rt, "twin"))
        }
        #expect(one.0 == two.0)
        #expect(one.1 != two.1)
    }

    /// The derivation itself: every input counts, and the same inputs give the same pair.
    @Test func theDerivationDependsOnEveryInput() throws {
        let s1 = [UInt8](repeating: 7, count: 32), s2 = [UInt8](repeating: 8, count: 32)
        let salt = [UInt8](repeating: 1, count: 16), other = [UInt8](repeating: 2, count: 16)
        let base = Schnorr.derive(nodeSecret: s1, agent: "a", incarnation: 1, salt: salt)
        #expect(Schnorr.derive(nodeSecret: s1, agent: "a", incarnation: 1, salt: salt).publicKey == base.publicKey)
        let others = [
            Schnorr.derive(nodeSecret: s2, agent: "a", incarnation: 1, salt: salt),
            Schnorr.derive(nodeSecret: s1, agent: "b", incarnation: 1, salt: salt),
            Schnorr.derive(nodeSecret: s1, agent: "a", incarnation: 2, salt: salt),
            Schnorr.derive(nodeSecret: s1, agent: "a", incarnation: -1, salt: salt),
            Schnorr.derive(nodeSecret: s1, agent: "a", incarnation: Int64.max, salt: salt),
            Schnorr.derive(nodeSecret: s1, agent: "a", incarnation: 1, salt: other),
            Schnorr.derive(nodeSecret: s1, agent: "a", incarnation: 1, salt: []),
        ]
        #expect(Set(others.map(\.publicKey) + [base.publicKey]).count == others.count + 1)
        #expect(try Schnorr.keyPair(secret: base.secret).publicKey == base.publicKey)
    }

    /// An agent imported with its private key keeps it (a stored row, which wins over derivation),
    /// on a node whose own secret would have given it another.
    @Test func anImportedKeyIsKeptOnAnotherNode() async throws {
        let bundle = try await withRuntimeValue { rt in
            _ = try await rt.createAgent(id: "mover", kind: "echo")
            return try await rt.exportAgent("mover", includeSecret: true)
        }
        let exported = try #require(bundle["identity"]?["pubkey"]?.stringValue)
        let path = try TestRuntime.temporaryDirectory() + "/agentd.sqlite"
        try await withRuntime(databasePath: path) { rt in
            _ = try await rt.importAgent(bundle)
            #expect(try await pubkey(rt, "mover") == exported)
            let sig = try await rt.sign(as: "mover", Data("moved".utf8))
            #expect(Schnorr.verify(pubkey: exported, data: Data("moved".utf8), signature: sig))
        }
        #expect(try rows(path, "SELECT agent FROM identity").map { $0[0].text } == ["mover"])
    }
}
