import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore

/// The framework's own ceiling on this machine, for `make bench-http`: a Hummingbird server with
/// agentd's server configuration and nothing else. GET answers fixed bytes (the status the
/// benchmark reads from agentd), POST reads the body and answers 202 with a receipt-sized JSON.
/// agentd's figures divided by these show what the runtime and the mapping cost on top of
/// Hummingbird, in the same run as the nginx baseline. Its logger discards everything, so the
/// ceiling carries no logging cost at all (agentd's formats metadata only for lines it writes).
struct CeilingResponder: HTTPResponder {
    typealias Context = BasicRequestContext
    let body: ByteBuffer
    let receipt = ByteBuffer(string: #"{"id":"00000000-0000-0000-0000-000000000000","outcome":"queued"}"#)

    func respond(to request: Request, context: Context) async throws -> Response {
        switch request.method {
        case .post:
            _ = try await request.body.collect(upTo: 1 << 20)
            return Response(status: .accepted, headers: [.contentType: "application/json"], body: .init(byteBuffer: receipt))
        default:
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: body))
        }
    }
}

func runCeilingServer(port: Int, bodyFile: String) async throws {
    let bytes = try Data(contentsOf: URL(fileURLWithPath: bodyFile))
    let app = Application(
        responder: CeilingResponder(body: ByteBuffer(bytes: bytes)),
        configuration: .init(address: .hostname("127.0.0.1", port: port), serverName: "agentd"),
        logger: Logger(label: "ceiling") { _ in SwiftLogNoOpLogHandler() }
    )
    try await app.runService()
}
