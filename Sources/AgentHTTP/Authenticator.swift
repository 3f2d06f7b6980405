import Foundation
public import Namespace
public import Runtime

/// Maps a bearer token to a principal: the operator token (held as a hash in memory) or an
/// agent token (looked up by hash in storage).
public struct Authenticator: Sendable {
    let operatorHash: String
    let runtime: Runtime

    public init(operatorToken: String, runtime: Runtime) {
        operatorHash = Tokens.hash(operatorToken)
        self.runtime = runtime
    }

    /// The principal for an `Authorization` header value, or unauthorized.
    public func principal(authorization: String?) async throws(FSError) -> Principal {
        guard let header = authorization, header.count < 512 else {
            throw FSError(.unauthorized, "missing bearer token: send 'Authorization: Bearer <token>' (the operator token is in <data>/token)")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw FSError(.unauthorized, "the Authorization header must be 'Bearer <token>'")
        }
        let token = String(parts[1]).trimmingCharacters(in: .whitespaces)
        if Tokens.equal(Tokens.hash(token), operatorHash) { return .operator }
        if let agent = try? await runtime.agent(forToken: token) { return .agent(agent) }
        throw FSError(.unauthorized, "the token is not valid for this agentd")
    }
}
