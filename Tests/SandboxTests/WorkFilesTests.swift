import Foundation
import Glibc
import Namespace
import Runtime
import SandboxBubblewrap
import Testing

/// The files API over a work directory the program filled with hostile entries: nothing is
/// followed out of it, and nothing it refuses is changed.
@Suite(.serialized) struct WorkFilesTests {
    @Test func symlinksOutAreNeverFollowed() async throws {
        let f = try await SandboxFixture()
        let canary = f.root + "/canary.txt"
        try "original".write(toFile: canary, atomically: false, encoding: .utf8)
        chmod(canary, 0o666)
        let made = try await f.sh(
            "ln -s /etc/shadow shadow; ln -s / root; ln -s ../../../../canary.txt up; ln -s \(canary) abs; mkdir d; ln -s ../.. d/out; "
                + "echo in > inside.txt; ln -s inside.txt ok; ln -s d dirlink")
        #expect(made.exit.exitCode == 0, "\(made.all)")
        for path in [["shadow"], ["root", "etc", "passwd"], ["up"], ["abs"], ["d", "out", "canary.txt"], ["root"]] {
            await expectFSError(.permissionDenied, "read \(path)") { _ = try await f.box.read(f.session, path, offset: 0, count: nil) }
            await expectFSError(.permissionDenied, "write \(path)") {
                try await f.box.write(f.session, path, Data("pwned".utf8), offset: nil, diskLimit: nil)
            }
            await expectFSError(.permissionDenied, "write at an offset \(path)") {
                try await f.box.write(f.session, path, Data("pwned".utf8), offset: 0, diskLimit: nil)
            }
        }
        await expectFSError(.permissionDenied, "list /") { _ = try await f.box.list(f.session, ["root"]) }
        await expectFSError(.permissionDenied, "mkdir through a link") { try await f.box.makeDirectory(f.session, ["root", "tmp", "x"]) }
        await expectFSError(.permissionDenied, "remove through a link") { try await f.box.remove(f.session, ["root", "etc", "hostname"]) }
        #expect(try String(contentsOfFile: canary, encoding: .utf8) == "original")
        #expect(FileManager.default.fileExists(atPath: "/etc/hostname"))
        // A link that leads out is shown (and removed) as the link itself.
        #expect(try await f.box.stat(f.session, ["shadow"]).kind == .symlink)
        try await f.box.remove(f.session, ["abs"])
        #expect(FileManager.default.fileExists(atPath: canary))
        // Links that stay inside work.
        #expect(try await f.box.read(f.session, ["ok"], offset: 0, count: nil) == Data("in\n".utf8))
        #expect(try await f.box.list(f.session, ["dirlink"]).map(\.name) == ["out"])
    }

    @Test func hostileComponentsAreRefusedAnyway() async throws {
        let f = try await SandboxFixture()
        for path in [[".."], ["..", "..", "canary"], ["/etc/passwd"], ["a", "..", "..", "x"], ["../x"], ["/"]] {
            do {
                _ = try await f.box.read(f.session, path, offset: 0, count: nil)
                Issue.record("read \(path) passed")
            } catch let e as FSError {
                #expect([.permissionDenied, .notFound, .invalidPath].contains(e.code), "\(path): \(e)")
            }
            do {
                try await f.box.write(f.session, path, Data("x".utf8), offset: nil, diskLimit: nil)
                Issue.record("write \(path) passed")
            } catch let e as FSError {
                #expect([.permissionDenied, .notFound, .invalidPath, .isDirectory].contains(e.code), "\(path): \(e)")
            }
        }
        #expect(!FileManager.default.fileExists(atPath: f.root + "/sandbox/a/x"))
        #expect(!FileManager.default.fileExists(atPath: f.root + "/sandbox/x"))
    }

    @Test func hardLinksAreNeverWrittenThrough() async throws {
        let f = try await SandboxFixture()
        let r = try await f.sh("echo original > f; ln f g")
        #expect(r.exit.exitCode == 0)
        for offset in [nil, Int64(0)] {
            await expectFSError(.permissionDenied, "write a hard link") {
                try await f.box.write(f.session, ["g"], Data("x".utf8), offset: offset, diskLimit: nil)
            }
            await expectFSError(.permissionDenied, "write its other name") {
                try await f.box.write(f.session, ["f"], Data("x".utf8), offset: offset, diskLimit: nil)
            }
        }
        // Refused before anything was cut or written.
        #expect(try String(contentsOfFile: f.workDir + "/f", encoding: .utf8) == "original\n")
    }

    @Test func fifosAndSocketsDoNotHang() async throws {
        let f = try await SandboxFixture()
        let r = try await f.sh("mkfifo p")
        #expect(r.exit.exitCode == 0)
        let start = ContinuousClock.now
        await #expect(throws: FSError.self) { _ = try await f.box.read(f.session, ["p"], offset: 0, count: nil) }
        await expectFSError(.permissionDenied, "write a FIFO") { try await f.box.write(f.session, ["p"], Data("x".utf8), offset: nil, diskLimit: nil) }
        #expect(ContinuousClock.now - start < .seconds(2))
        #expect(try await f.box.stat(f.session, ["p"]).kind == .other)
    }

    @Test func filesRoundTrip() async throws {
        let f = try await SandboxFixture()
        try await f.box.write(f.session, ["dir", "sub", "a.txt"], Data("hello world".utf8), offset: nil, diskLimit: nil)
        #expect(try await f.box.read(f.session, ["dir", "sub", "a.txt"], offset: 6, count: 3) == Data("wor".utf8))
        #expect(try await f.box.read(f.session, ["dir", "sub", "a.txt"], offset: 6, count: nil) == Data("world".utf8))
        #expect(try await f.box.read(f.session, ["dir", "sub", "a.txt"], offset: 100, count: 10) == Data())
        try await f.box.write(f.session, ["dir", "sub", "a.txt"], Data("W".utf8), offset: 6, diskLimit: nil)
        #expect(try await f.box.read(f.session, ["dir", "sub", "a.txt"], offset: 0, count: nil) == Data("hello World".utf8))
        try await f.box.write(f.session, ["dir", "sub", "a.txt"], Data("new".utf8), offset: nil, diskLimit: nil)
        #expect(try await f.box.read(f.session, ["dir", "sub", "a.txt"], offset: 0, count: nil) == Data("new".utf8))
        let info = try await f.box.stat(f.session, ["dir", "sub", "a.txt"])
        #expect(info.kind == .file && info.size == 3 && info.name == "a.txt")
        #expect(try await f.box.list(f.session, ["dir"]).map(\.name) == ["sub"])
        // The sandbox user owns what agentd made, and can change it.
        let r = try await f.sh("echo more >> dir/sub/a.txt && mkdir dir/sub/inner && cat dir/sub/a.txt")
        #expect(r.stdout == "newmore\n", "\(r.all)")
        await expectFSError(.alreadyExists, "mkdir over a file") { try await f.box.makeDirectory(f.session, ["dir", "sub", "a.txt"]) }
        try await f.box.makeDirectory(f.session, ["x", "y"])
        await expectFSError(.alreadyExists, "mkdir twice") { try await f.box.makeDirectory(f.session, ["x", "y"]) }
        await expectFSError(.invalidInput, "rmdir of a full directory") { try await f.box.remove(f.session, ["dir"]) }
        await expectFSError(.notFound, "read a missing file") { _ = try await f.box.read(f.session, ["nope"], offset: 0, count: nil) }
        await expectFSError(.notDirectory, "a file as a directory") { _ = try await f.box.list(f.session, ["dir", "sub", "a.txt", "x"]) }
        await expectFSError(.isDirectory, "read a directory") { _ = try await f.box.read(f.session, ["dir"], offset: 0, count: nil) }
        try await f.box.remove(f.session, ["dir", "sub", "a.txt"])
        try await f.box.remove(f.session, ["dir", "sub", "inner"])
        try await f.box.remove(f.session, ["dir", "sub"])
        await expectFSError(.notFound, "removed") { _ = try await f.box.stat(f.session, ["dir", "sub"]) }
        try await f.box.removeSession(f.session)
        #expect(await !f.box.sessionExists(f.session))
        try await f.box.removeSession(f.session)
    }

    @Test func theDiskLimitRefusesAWriteBeforeWriting() async throws {
        let f = try await SandboxFixture()
        try await f.box.write(f.session, ["a"], Data(count: 600_000), offset: nil, diskLimit: 1_000_000)
        await expectFSError(.budgetExceeded, "a second file past the limit") {
            try await f.box.write(f.session, ["sub", "b"], Data(count: 600_000), offset: nil, diskLimit: 1_000_000)
        }
        #expect(!FileManager.default.fileExists(atPath: f.workDir + "/sub"))
        // Replacing counts the old size out.
        try await f.box.write(f.session, ["a"], Data(count: 900_000), offset: nil, diskLimit: 1_000_000)
        await expectFSError(.budgetExceeded, "an append past it") {
            try await f.box.write(f.session, ["a"], Data(count: 200_000), offset: 900_000, diskLimit: 1_000_000)
        }
        #expect(try await f.box.stat(f.session, ["a"]).size == 900_000)
    }

    @Test func diskUsageCountsDeepTrees() async throws {
        let f = try await SandboxFixture()
        let deep = Array(repeating: "d", count: 40).joined(separator: "/")
        let r = try await f.sh("mkdir -p \(deep) && head -c 2000000 /dev/zero > \(deep)/big && ln -s /usr usr && ln -s . loop")
        #expect(r.exit.exitCode == 0, "\(r.all)")
        let used = try await f.box.diskUsage(f.session)
        #expect(used >= 2_000_000 && used < 3_000_000, "\(used)")
        // Deeper than the walk goes: nothing may hide there, so it counts as past any limit.
        // (Made through the files API: an exec making it would race the monitor's size check,
        // which kills it as soon as the tree passes the walk's depth.)
        let deeper = Array(repeating: "e", count: 300)
        try await f.box.write(f.session, deeper + ["hidden"], Data(count: 1000), offset: nil, diskLimit: nil)
        #expect(try await f.box.diskUsage(f.session) > 1 << 40)
        let next = try await f.sh("true")
        #expect(next.exit.killedBy == .disk, "\(next.exit)")
    }

    /// A tree of any depth is removed with its session (an exec agent's tick directory is
    /// emptied so before every tick: a leftover would fail each later one for disk).
    @Test func removingASessionRemovesTreesOfAnyDepth() async throws {
        let f = try await SandboxFixture()
        let deep = Array(repeating: "e", count: 1500) + ["f"]
        try await f.box.write(f.session, deep, Data("x".utf8), offset: nil, diskLimit: nil)
        #expect(try await f.box.stat(f.session, deep).size == 1)
        try await f.box.removeSession(f.session)
        #expect(await !f.box.sessionExists(f.session))
        let dir = "\(f.root)/sandbox/\(f.session.agent)/\(f.session.id)"
        #expect(!FileManager.default.fileExists(atPath: dir), "\((try? FileManager.default.subpathsOfDirectory(atPath: dir))?.prefix(5) ?? [])")
    }
}
