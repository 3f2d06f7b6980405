import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import Runtime

/// Transport failures worded for a person, and whether a retry may help.
extension OpenAIProvider {
    /// Where in an attempt a transport error struck.
    enum Phase {
        /// Before the response head: nothing was answered.
        case request
        /// Reading the answer, with or without text delivered yet.
        case answer(delivered: Bool)
    }

    /// Request shapes the transport refuses: retrying cannot help.
    static let unusable: [HTTPClientError] = [.invalidURL, .emptyHost, .emptyScheme, .missingSocketPath, .alreadyShutdown]

    func transportFailure(_ error: any Error, _ phase: Phase) -> AttemptFailure {
        if let error = error as? HTTPClientError {
            if error == .deadlineExceeded { return AttemptFailure(timeoutError, retryable: false) }
            if Self.unusable.contains(error) {
                return AttemptFailure(ProviderError("cannot send to provider '\(config.name)': \(Self.describe(error))"), retryable: false)
            }
        }
        let why = Self.describe(error)
        switch phase {
        case .request:
            return AttemptFailure(ProviderError("cannot reach provider '\(config.name)': \(why)"), retryable: true)
        case .answer(delivered: false):
            return AttemptFailure(ProviderError("the connection to the provider broke before the answer began: \(why)"), retryable: true)
        case .answer(delivered: true):
            // A retry would repeat text already delivered: the failure is final.
            return AttemptFailure(ProviderError("the provider closed the stream early: \(why)"), retryable: false)
        }
    }

    /// A short description of a transport error (never a header: no error here carries one).
    static func describe(_ error: any Error) -> String {
        switch error {
        case let error as NIOConnectionError:
            if let first = error.connectionErrors.first { return describe(first.error) }
            return "cannot connect to \(error.host):\(error.port)"
        case let error as IOError:
            return String(cString: strerror(error.errnoCode)).lowercased()
        case let error as HTTPParserError where error == .invalidEOFState:
            return "the connection closed in the middle of the answer"
        case let error as HTTPClientError:
            return error.description.lowercased()
        case let error as ChannelError:
            return "\(error)"
        default:
            return "\(error)"
        }
    }
}
