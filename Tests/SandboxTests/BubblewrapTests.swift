import Foundation
import Namespace
import Runtime
import SandboxBubblewrap
import Testing

/// The bubblewrap provider itself, against the real bwrap (as root, as make test runs): the
/// files API never leaves the work directory, whatever the sandboxed program made, and an exec
/// is confined and limited. The same corpus runs over HTTP in Tests/fire/containers.py.
@Suite(.serialized) struct BubblewrapTests {
    let root: String
    let box: Bubblewrap
    let session = SandboxSession(agent: "a", id: "s1")

    init() throws {
        root = NSTemporaryDirectory() + "agentns-bwrap-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        chmod(root, 0o711)
        box = Bubblewrap(root: root + "/sandbox")
    }

    static let limits = SandboxLimits(memoryBytes: 128 << 20, pids: 32, cpuMs: 5000, timeoutMs: 10_000, outputBytes: 1 << 20, diskBytes: 8 << 20)

    func run(_ argv: [String], limits: SandboxLimits = limits) async throws -> (SandboxExit, String) {
        let out = OutputBox()
        let exit = try await box.run(session, SandboxExec(argv: argv, limits: limits)) { await out.add($0.data) }
        return (exit, await out.text)
    }

    actor OutputBox {
        var text = ""
        func add(_ s: String) { text += s }
    }

    @Test func everyLimitIsEnforceableHere() {
        #expect(box.enforceable == Set(SandboxLimit.allCases), "\(box.problems)")
    }

    @Test func theProgramIsConfined() async throws {
        try await box.createSession(session)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let secret = root + "/secret.txt"
        try "agentd-secret".write(toFile: secret, atomically: false, encoding: .utf8)
        let (exit, out) = try await run(["sh", "-c", "id -u; cat \(secret) 2>&1; ls /; echo x > /usr/x 2>&1; cat /proc/1/root/etc/shadow 2>&1; true"])
        #expect(exit.exitCode == 0)
        #expect(out.hasPrefix("65534\n"))
        #expect(!out.contains("agentd-secret"))
        #expect(!out.contains("root:"))
        #expect(out.contains("work"))
        #expect(!FileManager.default.fileExists(atPath: "/usr/x"))
    }

    @Test func filesNeverLeaveTheWorkDirectory() async throws {
        try await box.createSession(session)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let canary = root + "/canary.txt"
        try "original".write(toFile: canary, atomically: false, encoding: .utf8)
        chmod(canary, 0o666)
        let (exit, _) = try await run(["sh", "-c", "ln -s \(canary) c; ln -s / r; ln -s ../.. up; echo in > inside.txt; ln -s inside.txt ok"])
        #expect(exit.exitCode == 0)
        for path in [["c"], ["r", "etc", "passwd"], ["up", "canary.txt"]] {
            await #expect(throws: FSError.self) { _ = try await box.read(session, path, offset: 0, count: nil) }
            await #expect(throws: FSError.self) { try await box.write(session, path, Data("pwned".utf8), offset: nil, diskLimit: nil) }
        }
        #expect(try String(contentsOfFile: canary, encoding: .utf8) == "original")
        // A link that stays inside is followed; a link that leads out can be removed, not followed.
        #expect(try await box.read(session, ["ok"], offset: 0, count: nil) == Data("in\n".utf8))
        #expect(try await box.stat(session, ["c"]).kind == .symlink)
        try await box.remove(session, ["c"])
        #expect(FileManager.default.fileExists(atPath: canary))
        // A hard link is never written through.
        let (linked, _) = try await run(["sh", "-c", "echo a > f; ln f g"])
        #expect(linked.exitCode == 0)
        await #expect(throws: FSError.self) { try await box.write(session, ["g"], Data("x".utf8), offset: nil, diskLimit: nil) }
    }

    @Test func limitsEndTheExecAndSayWhich() async throws {
        try await box.createSession(session)
        defer { try? FileManager.default.removeItem(atPath: root) }
        var l = Self.limits
        l.memoryBytes = 64 << 20
        #expect(try await run(["python3", "-c", "x = bytearray(500 << 20)"], limits: l).0.killedBy == .memory)
        l = Self.limits
        l.timeoutMs = 500
        let slept = try await run(["sleep", "60"], limits: l).0
        #expect(slept.killedBy == .timeout && slept.durationMs < 5000)
        l = Self.limits
        l.cpuMs = 300
        #expect(try await run(["python3", "-c", "while True: pass"], limits: l).0.killedBy == .cpu)
        l = Self.limits
        l.outputBytes = 1000
        let (loud, text) = try await run(["sh", "-c", "yes | head -c 1000000"], limits: l)
        #expect(loud.truncated && text.utf8.count == 1000)
        l = Self.limits
        l.diskBytes = 1 << 20
        #expect(try await run(["dd", "if=/dev/zero", "of=big", "bs=64k", "count=100"], limits: l).0.killedBy == .disk)
    }
}
