/// The one error type of agentns. Every failure a client can cause is one of these codes;
/// the HTTP edge maps the code to a status and the FUSE edge to an errno, each from one table.
public struct FSError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, CaseIterable, Codable {
        case notFound = "not_found"
        case permissionDenied = "permission_denied"
        case unauthorized
        case alreadyExists = "already_exists"
        case isDirectory = "is_directory"
        case notDirectory = "not_directory"
        case invalidPath = "invalid_path"
        case invalidInput = "invalid_input"
        case payloadTooLarge = "payload_too_large"
        case budgetExceeded = "budget_exceeded"
        case queueFull = "queue_full"
        case unavailable
        /// An HTTP method the route does not take (never raised by file operations).
        case methodNotAllowed = "method_not_allowed"
    }

    public var code: Code
    public var message: String
    public var path: String?
    /// Seconds a client should wait before retrying (queue_full, unavailable).
    public var retryAfter: Int?
    /// A description of the underlying failure, for logs only; never sent to clients.
    public var cause: String?

    public init(_ code: Code, _ message: String, path: String? = nil, retryAfter: Int? = nil, cause: String? = nil) {
        self.code = code
        self.message = message
        self.path = path
        self.retryAfter = retryAfter
        self.cause = cause
    }

    public var description: String {
        if let path { return "\(code.rawValue): \(message) (\(path))" }
        return "\(code.rawValue): \(message)"
    }

    /// The same error, naming `path` if it did not name one yet.
    public func at(_ path: String) -> FSError {
        var copy = self
        if copy.path == nil { copy.path = path }
        return copy
    }

    public static func notFound(_ path: String) -> FSError { FSError(.notFound, "no such file or directory", path: path) }
    public static func denied(_ path: String, _ why: String = "permission denied") -> FSError {
        FSError(.permissionDenied, why, path: path)
    }
    public static func invalidInput(_ message: String, path: String? = nil) -> FSError { FSError(.invalidInput, message, path: path) }
}

extension FSError.Code {
    /// HTTP status for each code (SPEC.md, HTTP mapping).
    public var httpStatus: Int {
        switch self {
        case .notFound: 404
        case .permissionDenied: 403
        case .unauthorized: 401
        case .alreadyExists: 409
        case .isDirectory, .notDirectory: 409
        case .invalidPath, .invalidInput: 400
        case .payloadTooLarge: 413
        case .budgetExceeded: 402
        case .queueFull: 429
        case .unavailable: 503
        case .methodNotAllowed: 405
        }
    }

    /// Linux errno for each code (SPEC.md, FUSE mapping). Values are Linux's, written out so this
    /// module needs no platform import; a test checks them against Glibc.
    public var errno: Int32 {
        switch self {
        case .notFound: 2  // ENOENT
        case .permissionDenied, .unauthorized: 13  // EACCES
        case .alreadyExists: 17  // EEXIST
        case .isDirectory: 21  // EISDIR
        case .notDirectory: 20  // ENOTDIR
        case .invalidPath, .invalidInput: 22  // EINVAL
        case .payloadTooLarge: 27  // EFBIG
        case .budgetExceeded: 122  // EDQUOT
        case .queueFull: 11  // EAGAIN
        case .unavailable: 5  // EIO
        case .methodNotAllowed: 95  // EOPNOTSUPP
        }
    }
}
