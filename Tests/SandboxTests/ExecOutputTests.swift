import Foundation
import Glibc
import Namespace
import Runtime
@testable import SandboxBubblewrap
import Testing

/// Exit status, output order and decoding, stdin and the environment.
@Suite(.serialized) struct ExecOutputTests {
    @Test func exitCodeSignalAndOrder() async throws {
        let f = try await SandboxFixture()
        // (Two pipes: the order holds for writes further apart than the reader's wake.)
        let r = try await f.sh("echo out1; sleep 0.25; echo err1 >&2; sleep 0.25; echo out2; exit 3")
        #expect(r.exit.exitCode == 3 && r.exit.signal == nil && r.exit.killedBy == nil)
        #expect(r.pieces.map(\.data) == ["out1\n", "err1\n", "out2\n"])
        #expect(r.pieces.map(\.stream) == [.stdout, .stderr, .stdout])
        #expect(r.exit.durationMs >= 500)
        let killed = try await f.sh("kill -TERM $$")
        #expect(killed.exit.exitCode == nil && killed.exit.signal == SIGTERM, "\(killed.exit)")
        let missing = try await f.run(["no-such-program"])
        #expect(missing.exit.exitCode != 0 && missing.stderr.contains("no-such-program"), "\(missing.all)")
    }

    @Test func stdinIsDelivered() async throws {
        let f = try await SandboxFixture()
        let r = try await f.run(["cat"], stdin: Data("hello\nworld\n".utf8))
        #expect(r.stdout == "hello\nworld\n")
        let big = try await f.sh("wc -c", stdin: Data(count: 3_000_000))
        #expect(big.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "3000000")
        // A program that never reads a big stdin: our write fails (EPIPE), the run goes on.
        let ignored = try await f.run(["true"], stdin: Data(count: 3_000_000))
        #expect(ignored.exit.exitCode == 0)
        let none = try await f.sh("cat; echo end")
        #expect(none.stdout == "end\n")
    }

    @Test func ignoredSignalsDoNotReachTheProgram() async throws {
        let f = try await SandboxFixture()
        // As agentd (NIO) does: SIGPIPE ignored in the parent must not be in the program.
        let old = signal(SIGPIPE, SIG_IGN)
        defer { signal(SIGPIPE, old) }
        let r = try await f.sh("yes | head -c 10 >/dev/null; grep SigIgn /proc/self/status")
        #expect(!r.stderr.contains("Broken pipe"), "\(r.all)")
        // SigIgn's bit 13 is SIGPIPE (bits 32 and 33, glibc's own, cannot be reset by sigaction).
        let ignored = r.stdout.split(separator: "\t").last.flatMap { UInt64($0.trimmingCharacters(in: .whitespacesAndNewlines), radix: 16) }
        #expect(ignored.map { $0 & (1 << (UInt64(SIGPIPE) - 1)) == 0 } == true, "\(r.all)")
    }

    @Test func utf8IsKeptWholeAcrossReads() async throws {
        let f = try await SandboxFixture()
        let r = try await f.sh("printf '\\303'; sleep 0.1; printf '\\251 ok\\n'; printf '\\377\\n'")
        #expect(r.stdout == "é ok\n\u{FFFD}\n", "\(r.pieces)")
    }

    @Test func environment() async throws {
        let f = try await SandboxFixture()
        let r = try await f.run(["sh", "-c", "echo \"$GREETING $_X1\"; env | sort | cut -d= -f1 | tr '\\n' ' '"],
                                env: ["GREETING": "hi there", "_X1": "y"])
        #expect(r.stdout.hasPrefix("hi there y\n"))
        #expect(!r.stdout.contains("SSH_") && !r.stdout.contains("PYENV"), "\(r.stdout)")
        for bad in ["1X", "A-B", "A=B", "", "É"] {
            await expectFSError(.invalidInput, "env name \(bad)") {
                _ = try await f.box.run(f.session, SandboxExec(argv: ["true"], env: [bad: "x"], limits: SandboxFixture.limits)) { _ in }
            }
        }
        await expectFSError(.invalidInput, "empty argv") {
            _ = try await f.box.run(f.session, SandboxExec(argv: [], limits: SandboxFixture.limits)) { _ in }
        }
    }

    @Test func decoderCarriesSplitSequences() {
        var d = OutputDecoder()
        let bytes = Array("aé€😀b".utf8)
        var out = ""
        for b in bytes { out += d.decode([b]) }
        out += d.decode([], final: true)
        #expect(out == "aé€😀b")
        var e = OutputDecoder()
        #expect(e.decode([0x61, 0xF0, 0x9F]) == "a")
        #expect(e.decode([], final: true) == "\u{FFFD}")
        var g = OutputDecoder()
        #expect(g.decode([0xFF, 0x80, 0x41]) == "\u{FFFD}\u{FFFD}A")
    }

    @Test func piecesAndTheCapCutBetweenScalars() {
        let text = String(repeating: "€", count: 10_000)  // 30,000 bytes
        let pieces = OutputDecoder.pieces(text)
        #expect(pieces.allSatisfy { $0.utf8.count <= OutputDecoder.pieceBytes })
        #expect(pieces.joined() == text && pieces.count == 2)
        var budget = OutputBudget(10)
        #expect(budget.take("€€€€") == "€€€")
        #expect(budget.truncated && budget.left == 1)
        #expect(budget.take("a") == "a" && budget.left == 0)
        var replaced = OutputBudget(4)
        #expect(replaced.take("\u{FFFD}\u{FFFD}") == "\u{FFFD}")
    }
}
