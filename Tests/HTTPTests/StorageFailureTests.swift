import AgentHTTP
import AgentNSTesting
import Foundation
import HTTPTypes
import HummingbirdTesting
import Namespace
import Runtime
import Testing

/// What a client sees when storage cannot answer: 503 with a code, never a 401 or a 500.
@Suite struct StorageFailureTests {
    @Test func aTokenLookupThatFailsIs503Not401() async throws {
        try await withServer { rt, client in
            _ = try await rt.createAgent(id: "a", kind: "echo")
            let token = try await rt.issueToken(for: "a")
            #expect(try await client.execute(uri: "/agents/a/status", method: .get, headers: bearer(token)).status == .ok)
            await rt.store.close()
            let r = try await client.execute(uri: "/agents/a/status", method: .get, headers: bearer(token))
            #expect(r.status == .serviceUnavailable, "\(r.status) \(r.text)")
            #expect(r.errorCode == "unavailable")
            // A wrong token is still refused as such: the operator token is checked in memory.
            #expect(try await client.execute(uri: "/agents/a/status", method: .get, headers: bearer("op_wrong")).status != .ok)
        }
    }

    @Test func readsAfterCloseFailWithUnavailable() async throws {
        try await withServer { rt, _ in
            _ = try await rt.createAgent(id: "a", kind: "echo")
            await rt.store.close()
            await expectUnavailable { _ = try await rt.store.agentCount() }
            await expectUnavailable { _ = try await rt.store.pending("a", limit: 10) }
        }
    }

    func expectUnavailable(_ body: () async throws -> Void) async {
        do {
            try await body()
            Issue.record("expected unavailable, got success")
        } catch let e as FSError {
            #expect(e.code == .unavailable, "\(e)")
        } catch {
            Issue.record("expected FSError, got \(error)")
        }
    }
}
