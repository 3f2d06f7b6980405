import AgentNSTesting
import FUSEAdapter
import Foundation
import Glibc
import Namespace
import Runtime
import Testing

/// The FUSE adapter's decisions without a kernel mount (the real mounts are in
/// Tests/shell/fuse_test.sh): open checks, commit points, created files, the call offset.
@Suite struct AgentFileSystemTests {
    @Test func openRefusesWhatThePrincipalMayNotDo() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "c", kind: "echo")
            let fs = AgentFileSystem(client: rt.op)
            await expectCode(.permissionDenied) { _ = try await fs.open("/agents/c/status", flags: O_WRONLY | O_TRUNC) }
            await expectCode(.isDirectory) { _ = try await fs.open("/agents/c/goals", flags: O_RDONLY) }
            await expectCode(.notFound) { _ = try await fs.open("/agents/c/nothing", flags: O_RDONLY) }
            await expectCode(.permissionDenied) { _ = try await fs.create("/agents/c/newfile", flags: O_WRONLY | O_CREAT) }
            #expect(fs.openHandles == 0)
        }
    }

    @Test func writesCommitOnFlushExceptControlFiles() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "c", kind: "echo")
            let fs = AgentFileSystem(client: rt.op)
            // A goal is committed at flush: not before.
            let g = try await fs.create("/agents/c/goals/g1.json", flags: O_WRONLY | O_CREAT | O_TRUNC)
            _ = try await fs.write(g, Data(#"{"aim":"#.utf8))
            #expect(try await fs.getattr("/agents/c/goals/g1.json", handle: g).size == 7)
            await expectCode(.notFound) { _ = try await rt.op.stat("/agents/c/goals/g1.json") }
            _ = try await fs.write(g, Data(#""x"}"#.utf8))
            try await fs.flush(g)
            try await fs.release(g)
            #expect(try JSON(parsing: try await rt.op.read("/agents/c/goals/g1.json")) == .object(["aim": "x"]))
            // ctl: the bad command fails at write(2), where the shell's echo sees it.
            let ctl = try await fs.open("/agents/c/ctl", flags: O_WRONLY | O_TRUNC)
            await expectCode(.invalidInput) { _ = try await fs.write(ctl, Data("explode\n".utf8)) }
            _ = try await fs.write(ctl, Data("pause\n".utf8))
            #expect(try await rt.op.readString("/agents/c/ctl") == "paused\n")  // before any close
            try await fs.release(ctl)
            // A created file that is refused reports it at flush, and nothing is created.
            let bad = try await fs.create("/agents/c/goals/bad.json", flags: O_WRONLY | O_CREAT | O_TRUNC)
            _ = try await fs.write(bad, Data("not json".utf8))
            await expectCode(.invalidInput) { try await fs.flush(bad) }
            try? await fs.release(bad)
            #expect(try await rt.op.list("/agents/c/goals").map(\.name) == ["g1.json"])
            #expect(fs.openHandles == 0)
        }
    }

    @Test func aCallIsAnsweredAtTheHandlesWriteOffset() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "c", kind: "echo")
            let fs = AgentFileSystem(client: rt.op)
            let h = try await fs.open("/agents/c/identity/sign", flags: O_RDWR)
            _ = try await fs.write(h, Data("data".utf8))
            // `echo -n data >&3; cat <&3`: the descriptor is at offset 4 after the write.
            let fromFour = try await fs.read(h, offset: 4, count: 4096)
            let fromZero = try await fs.read(h, offset: 0, count: 4096)
            #expect(fromFour.count == 129)  // 128 hex digits and a newline
            #expect(fromFour == fromZero)
            #expect(try await fs.read(h, offset: 4 + 129, count: 4096).isEmpty)
            try await fs.release(h)
        }
    }

    @Test func readOnlyHandlesCloseWithoutARoundTrip() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "c", kind: "echo")
            let fs = AgentFileSystem(client: rt.op)
            _ = try await fs.getattr("/agents/c/status")
            let h = try #require(try fs.openCached("/agents/c/status", flags: O_RDONLY))  // the stat above is fresh
            #expect(fs.isReadOnly(h))
            #expect(try JSON(parsing: try await fs.read(h, offset: 0, count: 65536))["id"] == "c")
            fs.releaseReadOnly(h)
            #expect(fs.openHandles == 0)
            #expect(try fs.openCached("/agents/c/state", flags: O_RDONLY) == nil)  // never looked up
        }
    }
}
