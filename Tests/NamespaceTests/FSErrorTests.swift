import Glibc
import Namespace
import Testing

@Suite struct FSErrorTests {
    /// SPEC.md, HTTP mapping: one status per code.
    static let httpTable: [(FSError.Code, Int)] = [
        (.notFound, 404), (.permissionDenied, 403), (.unauthorized, 401), (.alreadyExists, 409), (.isDirectory, 409),
        (.notDirectory, 409), (.invalidPath, 400), (.invalidInput, 400), (.payloadTooLarge, 413), (.budgetExceeded, 402),
        (.queueFull, 429), (.unavailable, 503), (.methodNotAllowed, 405),
    ]

    /// SPEC.md, FUSE mapping, against the platform's own constants.
    static let errnoTable: [(FSError.Code, Int32)] = [
        (.notFound, ENOENT), (.permissionDenied, EACCES), (.unauthorized, EACCES), (.alreadyExists, EEXIST), (.isDirectory, EISDIR),
        (.notDirectory, ENOTDIR), (.invalidPath, EINVAL), (.invalidInput, EINVAL), (.payloadTooLarge, EFBIG), (.budgetExceeded, EDQUOT),
        (.queueFull, EAGAIN), (.unavailable, EIO), (.methodNotAllowed, EOPNOTSUPP),
    ]

    @Test func everyCodeHasOneHTTPStatus() {
        #expect(Self.httpTable.count == FSError.Code.allCases.count)
        for (code, status) in Self.httpTable { #expect(code.httpStatus == status, "\(code)") }
    }

    @Test func everyCodeHasOneErrno() {
        #expect(Self.errnoTable.count == FSError.Code.allCases.count)
        for (code, errno) in Self.errnoTable { #expect(code.errno == errno, "\(code)") }
    }

    @Test func codesAreSPECNames() {
        #expect(FSError.Code.allCases.map(\.rawValue).sorted() == [
            "already_exists", "budget_exceeded", "invalid_input", "invalid_path", "is_directory", "method_not_allowed", "not_directory",
            "not_found", "payload_too_large", "permission_denied", "queue_full", "unauthorized", "unavailable",
        ])
    }

    @Test func atKeepsTheFirstPath() {
        let e = FSError(.notFound, "x", path: "/a").at("/b")
        #expect(e.path == "/a")
        #expect(FSError(.notFound, "x").at("/b").path == "/b")
    }
}
