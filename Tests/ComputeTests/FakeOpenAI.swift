import AsyncHTTPClient
import ComputeOpenAI
import Foundation
import Namespace
import NIOCore
import NIOHTTP1
import Runtime
import Testing

/// Tests/support/fake_openai.py run as a child process on a free port, with the HTTP client
/// the providers under test use. One serves a whole suite (see FakeOpenAIScope).
final class FakeOpenAI: Sendable {
    @TaskLocal static var current: FakeOpenAI?

    let pid: Int32
    let port: Int
    let http: HTTPClient

    var baseURL: String { "http://127.0.0.1:\(port)/v1" }

    static var scriptPath: String {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("support/fake_openai.py").path
    }

    private init(pid: Int32, port: Int) {
        self.pid = pid
        self.port = port
        self.http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: OpenAIProviderFactory.httpConfiguration)
    }

    /// Starts the server and waits for its `PORT <n>` line.
    static func start() throws -> FakeOpenAI {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", scriptPath, "--port", "0"]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.standardError
        try process.run()
        var line: [UInt8] = []
        while !line.contains(UInt8(ascii: "\n")) {
            let data = out.fileHandleForReading.availableData
            if data.isEmpty { break }
            line += data
        }
        let text = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        guard text.hasPrefix("PORT "), let port = Int(text.dropFirst(5)) else {
            process.terminate()
            throw ProviderError("fake_openai.py did not start (said \(text.debugDescription))")
        }
        return FakeOpenAI(pid: process.processIdentifier, port: port)
    }

    func stop() async {
        try? await http.shutdown()
        kill(pid, SIGKILL)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
    }

    /// A provider on this server.
    func provider(key: String? = nil, timeoutMs: Int64 = 10_000, maxRetries: Int = 2, baseURL: String? = nil) throws -> any ComputeProvider {
        let config = ProviderConfig(name: "fake", baseURL: baseURL ?? self.baseURL, apiKey: key, models: ["fixed"],
                                    price: .init(input: 1, output: 2), timeoutMs: timeoutMs, maxRetries: maxRetries)
        return try OpenAIProviderFactory(http: http).provider(for: config)
    }

    // MARK: - The server's own endpoints

    func get(_ path: String) async throws -> JSON {
        let response = try await http.execute(HTTPClientRequest(url: "http://127.0.0.1:\(port)\(path)"), timeout: .seconds(5))
        return try JSON(parsing: try await response.body.collect(upTo: 1 << 20).readableBytesView)
    }

    /// Counts of chat, models and health requests, and of clients that went away.
    func calls() async throws -> [String: Int] {
        (try await get("/calls").objectValue ?? [:]).compactMapValues(\.intValue)
    }

    /// Polls `/calls` until `count` is `value`; records an issue if it is not within `limit`.
    func wait(for count: String, toReach value: Int, within limit: Duration) async throws {
        let deadline = ContinuousClock.now + limit
        var seen = try await calls()[count]
        while seen != value, ContinuousClock.now < deadline {
            try await Task.sleep(for: .milliseconds(10))
            seen = try await calls()[count]
        }
        #expect(seen == value, "\(count) within \(limit)")
    }

    func reset() async throws {
        var request = HTTPClientRequest(url: "http://127.0.0.1:\(port)/reset")
        request.method = .POST
        _ = try await http.execute(request, timeout: .seconds(5)).body.collect(upTo: 1 << 10)
    }

    /// The last chat request's body.
    func last() async throws -> JSON { try await get("/last") }

    func lastAuthorization() async throws -> String? { try await get("/last_auth")["authorization"]?.stringValue }
}
