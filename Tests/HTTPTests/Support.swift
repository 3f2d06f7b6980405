import AgentHTTP
import AgentNSTesting
import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Namespace
import NIOCore
import Runtime
import RuntimeSQLite
import Testing

let operatorToken = "op_test_token"
let auth: HTTPFields = [.authorization: "Bearer \(operatorToken)"]

func bearer(_ token: String) -> HTTPFields { [.authorization: "Bearer \(token)"] }

/// A runtime over a real SQLite file and the agentd application over it: the router test
/// client for the many (no socket), `.live` for the few that need a real one.
func withServer(_ setup: TestingSetup = .router, options: AgentHTTPOptions = .init(), store: SQLiteStore.Options = .init(),
                providers: (any ComputeProviderFactory)? = nil,
                _ body: @escaping @Sendable (Runtime, any TestClientProtocol) async throws -> Void) async throws {
    try await TestRuntime.with(options: store, providers: providers) { rt in
        let app = AgentHTTPServer.application(runtime: rt, operatorToken: operatorToken, port: 0, options: options)
        try await app.test(setup) { client in try await body(rt, client) }
    }
}

extension TestResponse {
    var text: String { String(buffer: body) }
    var json: JSON { (try? JSON(parsing: Array(body.readableBytesView))) ?? .null }
    var errorCode: String? { json["error"]?["code"]?.stringValue }
}

extension String {
    var buffer: ByteBuffer { ByteBuffer(string: self) }
}
