import Foundation
public import Namespace
public import Runtime

/// Maps a bearer token to a principal: the operator token (held as a hash in memory) or an
/// agent token (looked up by hash in storage).
public struct Authenticator: Sendable {
    let operatorDigest: [UInt8]
    let runtime: Runtime

    public init(operatorToken: String, runtime: Runtime) {
        operatorDigest = Tokens.digest(operatorToken)
        self.runtime = runtime
    }

    /// The principal for an `Authorization` header value, or unauthorized.
    public func principal(authorization: String?) async throws(FSError) -> Principal {
        guard let header = authorization, header.utf8.count < 512 else {
            throw FSError(.unauthorized, "missing bearer token: send 'Authorization: Bearer <token>' (the operator token is in <data>/token)")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw FSError(.unauthorized, "the Authorization header must be 'Bearer <token>'")
        }
        let token = parts[1].trimmingSpaces
        if Tokens.equal(Tokens.digest(token), operatorDigest) { return .operator }
        let agent: String?
        do {
            agent = try await runtime.agent(forToken: token)
        } catch let e as FSError {
            // Storage could not answer: the token may well be valid, so say so, not 401.
            throw FSError(.unavailable, "cannot check the token now (storage unavailable); try again", cause: e.cause ?? e.message)
        } catch {
            throw FSError(.unavailable, "cannot check the token now; try again", cause: String(describing: error))
        }
        if let agent { return .agent(agent) }
        throw FSError(.unauthorized, "the token is not valid for this agentd")
    }
}

extension Substring {
    /// Without leading and trailing spaces and tabs (a bearer token has neither inside).
    var trimmingSpaces: String {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" }
        guard let first = firstIndex(where: { !blank($0) }), let last = lastIndex(where: { !blank($0) }) else { return "" }
        return String(self[first...last])
    }
}
