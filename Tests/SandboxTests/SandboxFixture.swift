import Foundation
import Glibc
import Namespace
import Runtime
import SandboxBubblewrap
import Testing

/// A provider over a fresh root in /tmp (0711, as agentd's is), a session in it, and helpers to
/// run a program and collect what it printed. Each test makes its own and removes it.
final class SandboxFixture: Sendable {
    let root: String
    let box: Bubblewrap
    let session: SandboxSession

    static let limits = SandboxLimits(memoryBytes: 256 << 20, pids: 64, cpuMs: 10_000, timeoutMs: 15_000, outputBytes: 4 << 20, diskBytes: 16 << 20)

    init(session id: String = "s1") async throws {
        root = NSTemporaryDirectory() + "agentns-sbx-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        chmod(root, 0o711)
        box = Bubblewrap(root: root + "/sandbox")
        session = SandboxSession(agent: "a", id: id)
        try await box.createSession(session)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    var workDir: String { "\(root)/sandbox/\(session.agent)/\(session.id)/work" }

    struct Run: Sendable {
        var exit: SandboxExit
        var pieces: [SandboxOutput]
        var stdout: String { pieces.filter { $0.stream == .stdout }.map(\.data).joined() }
        var stderr: String { pieces.filter { $0.stream == .stderr }.map(\.data).joined() }
        var all: String { pieces.map(\.data).joined() }
    }

    actor Collector {
        var pieces: [SandboxOutput] = []
        func add(_ p: SandboxOutput) { pieces.append(p) }
    }

    func run(_ argv: [String], stdin: Data = Data(), env: [String: String] = [:], limits: SandboxLimits = limits,
             session: SandboxSession? = nil) async throws -> Run {
        let c = Collector()
        let exit = try await box.run(session ?? self.session, SandboxExec(argv: argv, stdin: stdin, env: env, limits: limits)) { await c.add($0) }
        return Run(exit: exit, pieces: await c.pieces)
    }

    func sh(_ script: String, stdin: Data = Data(), limits: SandboxLimits = limits) async throws -> Run {
        try await run(["sh", "-c", script], stdin: stdin, limits: limits)
    }

    /// Host processes whose command line contains `marker` (other than this test process).
    static func processes(containing marker: String) -> [Int32] {
        let me = getpid()
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return names.compactMap(Int32.init).filter { pid in
            guard pid != me, let d = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: d.map { $0 == 0 ? 0x20 : $0 }, as: UTF8.self).contains(marker)
        }
    }

    /// This process's resident set, in KiB.
    static func rssKB() -> Int64 {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        for line in status.split(separator: "\n") where line.hasPrefix("VmRSS:") {
            return Int64(line.split(separator: " ").dropFirst().first ?? "0") ?? 0
        }
        return 0
    }

    static func marker() -> String { "agentns-marker-\(UUID().uuidString.prefix(12).lowercased())" }
}

/// Whether `body` throws an FSError with `code`.
func expectFSError(_ code: FSError.Code, _ what: String, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("\(what): no error, expected \(code.rawValue)", sourceLocation: sourceLocation)
    } catch let e as FSError {
        #expect(e.code == code, "\(what): \(e)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("\(what): \(error), expected FSError \(code.rawValue)", sourceLocation: sourceLocation)
    }
}
