import Foundation
import Glibc
import Namespace
import Runtime
import SandboxBubblewrap
import Testing

/// Every limit ends the exec (or, for output, cuts it) and the result says which.
@Suite(.serialized) struct ExecLimitTests {
    static func limits(_ change: (inout SandboxLimits) -> Void) -> SandboxLimits {
        var l = SandboxFixture.limits
        change(&l)
        return l
    }

    @Test func everyLimitIsEnforceableHere() {
        let box = Bubblewrap(root: NSTemporaryDirectory() + "agentns-sbx-probe")
        #expect(box.enforceable == Set(SandboxLimit.allCases), "\(box.problems)")
        let probe = Bubblewrap.probe()
        #expect(probe.enforceable == Set(SandboxLimit.allCases), "\(probe.problems)")
        // A machine without bwrap or the cgroups enforces nothing, and says why.
        let none = Bubblewrap.probe(bwrap: "/nonexistent/bwrap", cgroupRoot: "/nonexistent")
        #expect(none.enforceable.isEmpty && !none.problems.isEmpty)
    }

    @Test func memory() async throws {
        let f = try await SandboxFixture()
        let r = try await f.run(["python3", "-c", "x = bytearray(500 << 20); print('ALLOCATED')"], limits: Self.limits { $0.memoryBytes = 64 << 20 })
        #expect(r.exit.killedBy == .memory, "\(r.exit) \(r.all)")
        #expect(!r.stdout.contains("ALLOCATED"))
        #expect(r.exit.signal == SIGKILL)
        #expect(r.exit.maxRSSKB > 32 << 10 && r.exit.maxRSSKB <= 64 << 10, "\(r.exit.maxRSSKB)")
    }

    @Test func pids() async throws {
        let f = try await SandboxFixture()
        let r = try await f.sh("for i in $(seq 64); do sleep 2 & done; wait", limits: Self.limits { $0.pids = 16 })
        #expect(r.exit.killedBy == .pids, "\(r.exit) \(r.all)")
        #expect(r.exit.exitCode != 0)
        // Under the limit, nothing is said.
        let ok = try await f.sh("for i in $(seq 8); do true & done; wait", limits: Self.limits { $0.pids = 16 })
        #expect(ok.exit.killedBy == nil && ok.exit.exitCode == 0, "\(ok.exit) \(ok.all)")
    }

    @Test func cpu() async throws {
        let f = try await SandboxFixture()
        let r = try await f.run(["python3", "-c", "while True: pass"], limits: Self.limits { $0.cpuMs = 300 })
        #expect(r.exit.killedBy == .cpu, "\(r.exit)")
        #expect(r.exit.cpuMs >= 300 && r.exit.cpuMs < 1500, "\(r.exit.cpuMs)")
    }

    @Test func wallTime() async throws {
        let f = try await SandboxFixture()
        let r = try await f.run(["sleep", "60"], limits: Self.limits { $0.timeoutMs = 1000 })
        #expect(r.exit.killedBy == .timeout, "\(r.exit)")
        #expect(r.exit.durationMs >= 1000 && r.exit.durationMs < 5000, "\(r.exit.durationMs)")
        #expect(r.exit.signal == SIGKILL && r.exit.exitCode == nil)
    }

    @Test func disk() async throws {
        let f = try await SandboxFixture()
        let one = try await f.run(["dd", "if=/dev/zero", "of=big", "bs=64k", "count=400"], limits: Self.limits { $0.diskBytes = 8 << 20 })
        #expect(one.exit.killedBy == .disk, "\(one.exit) \(one.all)")
        try await f.box.remove(f.session, ["big"])
        // Many files, each under the per-file limit: the size check sees the total.
        let many = try await f.sh("for i in $(seq 40); do head -c 500000 /dev/zero > f$i; done; sleep 30",
                                  limits: Self.limits { $0.diskBytes = 8 << 20; $0.timeoutMs = 60_000 })
        #expect(many.exit.killedBy == .disk, "\(many.exit) \(many.all)")
        #expect(many.exit.durationMs < 20_000)
    }

    @Test func outputIsCutAtTheCapWhileTheProgramRuns() async throws {
        let f = try await SandboxFixture()
        let cap: Int64 = 1 << 20
        let before = SandboxFixture.rssKB()
        let peak = Tally()
        let start = ContinuousClock.now
        var total = 0
        let exit = try await f.box.run(f.session, SandboxExec(argv: ["sh", "-c", "yes abcdefghijklmnopqrstuvwxyz | head -c 100000000; echo done >&2"],
                                                               limits: Self.limits { $0.outputBytes = cap; $0.timeoutMs = 120_000 })) { piece in
            peak.note(SandboxFixture.rssKB())
            peak.add(piece.data.utf8.count)
        }
        total = peak.total
        #expect(exit.truncated)
        #expect(exit.exitCode == 0, "\(exit)")
        #expect(total <= Int(cap) && total > Int(cap) - 64, "\(total)")
        #expect(ContinuousClock.now - start < .seconds(120))
        #expect(max(peak.peak, SandboxFixture.rssKB()) - before < 16 << 10, "RSS grew from \(before) KiB to \(peak.peak) KiB")
    }

    @Test func aSlowConsumerSlowsTheProgram() async throws {
        let f = try await SandboxFixture()
        let before = SandboxFixture.rssKB()
        let seen = Tally()
        // 64 MiB allowed, 50 MB written, a consumer that takes 10 ms a piece: the program must
        // wait for it (and hit its wall time), not finish into a buffer.
        let exit = try await f.box.run(f.session, SandboxExec(argv: ["sh", "-c", "head -c 50000000 /dev/zero | tr '\\0' a"],
                                                               limits: Self.limits { $0.outputBytes = 64 << 20; $0.timeoutMs = 1500 })) { piece in
            seen.add(piece.data.utf8.count)
            seen.note(SandboxFixture.rssKB())
            try? await Task.sleep(for: .milliseconds(10))
        }
        #expect(exit.killedBy == .timeout, "\(exit)")
        #expect(seen.total < 10_000_000, "\(seen.total) bytes delivered")
        #expect(seen.peak - before < 16 << 10, "RSS grew from \(before) KiB to \(seen.peak) KiB")
    }

    @Test func cancellingKillsTheTree() async throws {
        let f = try await SandboxFixture()
        let marker = SandboxFixture.marker()
        let box = f.box
        let session = f.session
        let task = Task {
            try await box.run(session, SandboxExec(argv: ["sh", "-c", "setsid python3 -c 'import time; time.sleep(100)' \(marker) & sleep 100"],
                                                   limits: SandboxFixture.limits)) { _ in }
        }
        // Running (however slowly this machine starts it) before the cancel.
        let until = ContinuousClock.now + .seconds(10)
        while SandboxFixture.processes(containing: marker).isEmpty, ContinuousClock.now < until { try await Task.sleep(for: .milliseconds(20)) }
        #expect(!SandboxFixture.processes(containing: marker).isEmpty)
        let start = ContinuousClock.now
        task.cancel()
        let exit = try await task.value
        #expect(exit.cancelled && exit.killedBy == nil, "\(exit)")
        #expect(ContinuousClock.now - start < .seconds(2))
        #expect(SandboxFixture.processes(containing: marker).isEmpty)
    }
}

/// A tally the output callback keeps (it runs one piece at a time).
final class Tally: @unchecked Sendable {
    private let lock = NSLock()
    private var _total = 0
    private var _peak: Int64 = 0
    var total: Int { lock.withLock { _total } }
    var peak: Int64 { lock.withLock { _peak } }
    func add(_ n: Int) { lock.withLock { _total += n } }
    func note(_ rss: Int64) { lock.withLock { _peak = max(_peak, rss) } }
}
