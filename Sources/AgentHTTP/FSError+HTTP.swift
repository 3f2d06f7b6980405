import Foundation
import HTTPTypes
public import Hummingbird
public import Namespace

extension FSError {
    /// The error as the HTTP edge sends it: the status from the code's one table, a JSON body
    /// `{"error": {"code", "message", "path"}}`, and Retry-After where it applies.
    public var response: Response {
        var error: [String: JSON] = ["code": .string(code.rawValue), "message": .string(message)]
        if let path { error["path"] = .string(path) }
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfter { headers[.retryAfter] = "\(retryAfter)" }
        if code == .unauthorized { headers[.wwwAuthenticate] = "Bearer realm=\"agentd\"" }
        if code == .methodNotAllowed { headers[.allow] = "GET, HEAD, PUT, POST, DELETE" }
        let body = JSON.object(["error": .object(error)]).description + "\n"
        return Response(status: .init(code: code.httpStatus), headers: headers, body: .init(byteBuffer: ByteBuffer(string: body)))
    }
}
