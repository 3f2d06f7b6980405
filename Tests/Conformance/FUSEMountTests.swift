import AgentNSTesting
import FUSEAdapter
import Foundation
import Glibc
import Namespace
import Runtime
import Synchronization
import Testing

/// A real kernel mount of the in-process runtime (as `agentd --mount`), for what only the
/// kernel and libfuse's loop can show. Needs /dev/fuse and root, like Tests/shell/fuse_test.sh.
@Suite(.serialized) struct FUSEMountTests {
    /// Runs `body` with the runtime mounted at a fresh directory, then unmounts.
    func withMount(_ body: @escaping @Sendable (Runtime, String) async throws -> Void) async throws {
        try await withRuntime { rt in try await Self.mounted(AgentFileSystem(client: rt.op)) { dir in try await body(rt, dir) } }
    }

    /// Mounts `fileSystem` (in process, as agentd does) at a fresh directory for `body`, then unmounts.
    static func mounted(_ fileSystem: AgentFileSystem, _ body: (String) async throws -> Void) async throws {
        let dir = try TestRuntime.temporaryDirectory("agentns-mnt")
        let mount = FUSEMount(fileSystem: fileSystem, mountpoint: dir, runsInline: true, report: { _ in })
        try mount.mount()
        let loop = Task { await mount.run() }
        defer { try? FileManager.default.removeItem(atPath: dir) }
        do {
            try await body(dir)
        } catch {
            mount.unmount()
            _ = await loop.value
            throw error
        }
        mount.unmount()
        _ = await loop.value
    }

    /// Runs blocking file system calls on a thread of their own (never on the Swift pool, whose
    /// two threads the runtime needs to answer them).
    static func onThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
        await withCheckedContinuation { c in Thread { c.resume(returning: body()) }.start() }
    }

    /// `echo tick > ctl` holds a libfuse worker for as long as the tick runs. With libfuse's
    /// default of 10 workers, 24 slow ticks stalled every other request on the mount.
    @Test func slowRequestsDoNotStallTheMount() async throws {
        try await withMount { rt, dir in
            let agents = (0..<24).map { "fuse-gate-\($0)" }
            for a in agents {
                GateKind.close(a)
                _ = try await rt.createAgent(id: a, kind: "gate")
            }
            _ = try await rt.createAgent(id: "bystander", kind: "echo")
            let ticks = Task {
                await withTaskGroup(of: Int32.self) { group in
                    for a in agents {
                        group.addTask {
                            await Self.onThread {
                                let fd = open("\(dir)/agents/\(a)/ctl", O_WRONLY | O_TRUNC)
                                guard fd >= 0 else { return errno }
                                defer { close(fd) }
                                return write(fd, "tick\n", 5) == 5 ? 0 : errno
                            }
                        }
                    }
                    return await group.reduce(into: [Int32]()) { $0.append($1) }
                }
            }
            let held = { agents.reduce(0) { $0 + GateKind.entered($1) } }
            let allHeld = await TestRuntime.eventually(20) { held() == agents.count }
            #expect(allHeld, "only \(held()) of \(agents.count) ticks reached their gate through the mount")
            // With every slow tick in flight, a read on the mount is still answered at once.
            let status = Slot()
            let read = Task {
                let text = await Self.onThread { (try? String(contentsOfFile: "\(dir)/agents/bystander/status", encoding: .utf8)) ?? "" }
                status.value.withLock { $0 = text }
            }
            let answered = await TestRuntime.eventually(5) { status.value.withLock { $0 != nil } }
            #expect(answered, "a read of status waited behind \(agents.count) slow ticks")
            for a in agents { GateKind.open(a) }
            _ = await read.value
            #expect(status.value.withLock { $0 }?.contains("\"id\":\"bystander\"") == true)
            let results = await ticks.value
            #expect(results == Array(repeating: 0, count: agents.count), "errnos: \(results)")
        }
    }
}

/// A value a thread hands to the test.
final class Slot: Sendable {
    let value = Mutex<String?>(nil)
}
