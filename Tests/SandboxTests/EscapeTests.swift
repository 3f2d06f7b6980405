import Foundation
import Glibc
import Namespace
import Runtime
import SandboxBubblewrap
import Testing

/// The escape corpus, run against the real bwrap: each check fails if the escape worked.
@Suite(.serialized) struct EscapeTests {
    @Test func theProgramRunsAsTheSandboxUserInItsWorkDirectory() async throws {
        let f = try await SandboxFixture()
        let r = try await f.sh("id -u; id -g; pwd; echo $HOME $TMPDIR $LANG; echo $PATH; echo x > made.txt")
        #expect(r.exit.exitCode == 0, "\(r.all)")
        #expect(r.stdout == "65534\n65534\n/work\n/work /tmp C.UTF-8\n/usr/local/bin:/usr/bin:/bin\n")
        var st = stat()
        #expect(lstat(f.workDir + "/made.txt", &st) == 0 && st.st_uid == 65534)
    }

    @Test func nothingOutsideTheWorkDirectoryIsVisibleOrWritable() async throws {
        let f = try await SandboxFixture()
        // A secret of agentd's, root's and 0600, outside the sandbox root.
        let secretDir = NSTemporaryDirectory() + "agentns-secret-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: secretDir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: secretDir) }
        let secret = secretDir + "/key"
        let token = "SECRET-" + UUID().uuidString
        try token.write(toFile: secret, atomically: false, encoding: .utf8)
        chmod(secret, 0o600)
        chmod(secretDir, 0o755)
        // Another session of the same root, with a file of its own.
        let other = SandboxSession(agent: "b", id: "s2")
        try await f.box.createSession(other)
        let otherToken = "OTHER-" + UUID().uuidString
        try await f.box.write(other, ["note.txt"], Data(otherToken.utf8), offset: nil, diskLimit: nil)

        let r = try await f.sh(
            """
            cat \(secret); ls \(secretDir); cat \(f.root)/sandbox/b/s2/work/note.txt; ls /work/..; ls \(f.root)
            grep -r -s -l -e \(otherToken) -e \(token) /tmp /work /etc /dev 2>/dev/null
            cat /proc/1/root/etc/shadow; cat /etc/shadow; ls /root
            echo pwned > /usr/x; echo pwned > /etc/x; echo pwned > /x; mkdir /n/x; touch /proc/x
            true
            """)
        #expect(r.exit.exitCode == 0)
        #expect(!r.all.contains(token))
        #expect(!r.all.contains(otherToken))
        #expect(!r.all.contains("root:"))
        #expect(!r.stdout.contains("s2"))
        #expect(r.stderr.contains("Read-only file system") || r.stderr.contains("Permission denied"))
        for path in ["/usr/x", "/etc/x", "/x"] { #expect(!FileManager.default.fileExists(atPath: path), "\(path)") }
        try await f.box.removeSession(other)
    }

    @Test func thereIsNoNetwork() async throws {
        let f = try await SandboxFixture()
        // A real listener on the host's loopback: the sandbox must not reach it.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, len) == 0 && getsockname(listener, $0, &len) == 0 }
        }
        #expect(bound && listen(listener, 8) == 0)
        let port = Int(UInt16(bigEndian: addr.sin_port))
        let probe = """
            import socket
            for host, port in [("127.0.0.1", \(port)), ("1.1.1.1", 80), ("10.0.2.2", 80)]:
                try:
                    socket.create_connection((host, port), timeout=2)
                    print("CONNECTED", host)
                except OSError as e:
                    print("refused", host, e.errno)
            try:
                socket.getaddrinfo("example.com", 80)
                print("RESOLVED")
            except OSError:
                print("no dns")
            """
        let r = try await f.run(["python3", "-c", probe])
        #expect(r.exit.exitCode == 0, "\(r.all)")
        #expect(!r.stdout.contains("CONNECTED") && !r.stdout.contains("RESOLVED"), "\(r.stdout)")
        #expect(r.stdout.components(separatedBy: "refused").count == 4, "\(r.stdout)")
        // Nothing reached the listener.
        _ = fcntl(listener, F_SETFL, O_NONBLOCK)
        let conn = accept(listener, nil, nil)
        #expect(conn < 0)
        if conn >= 0 { close(conn) }
        // Only loopback inside.
        let ifs = try await f.sh("ls /sys/class/net 2>/dev/null || cat /proc/net/dev")
        #expect(!ifs.stdout.contains("eth"), "\(ifs.stdout)")
    }

    @Test func mountUnshareAndPtraceFail() async throws {
        let f = try await SandboxFixture()
        let r = try await f.sh(
            """
            mount -t tmpfs x /tmp && echo MOUNTED
            unshare -r true && echo UNSHARED-root
            unshare -U true && echo UNSHARED-user
            unshare -n true && echo UNSHARED-net
            strace -f true >/dev/null 2>&1 && echo STRACED
            true
            """)
        #expect(r.exit.exitCode == 0)
        for word in ["MOUNTED", "UNSHARED", "STRACED"] { #expect(!r.stdout.contains(word), "\(r.all)") }
        // PTRACE_ATTACH of a sibling (same uid, same PID namespace: allowed without the filter).
        let ptrace = """
            import ctypes, os, time
            libc = ctypes.CDLL(None, use_errno=True)
            pid = os.fork()
            if pid == 0:
                time.sleep(3)
                os._exit(0)
            time.sleep(0.05)
            r = libc.ptrace(16, pid, 0, 0)
            print("ATTACHED" if r == 0 else "refused %d" % ctypes.get_errno())
            os.kill(pid, 9)
            r = libc.process_vm_readv(pid, 0, 0, 0, 0, 0)
            print("pvm", ctypes.get_errno())
            """
        let p = try await f.run(["python3", "-c", ptrace])
        #expect(p.stdout.hasPrefix("refused 1\n"), "\(p.all)")
    }

    @Test func nothingOutlivesTheRun() async throws {
        let f = try await SandboxFixture()
        let marker = SandboxFixture.marker()
        let sleeper = "python3 -c 'import time; time.sleep(100)' \(marker)"
        let r = try await f.sh(
            """
            setsid \(sleeper) &
            nohup \(sleeper) >/dev/null 2>&1 &
            ( ( \(sleeper) & ) & )
            sh -c '\(sleeper.replacingOccurrences(of: "'", with: "\""))' </dev/null >/dev/null 2>&1 &
            sleep 0.3
            echo started
            """)
        #expect(r.stdout == "started\n", "\(r.all)")
        #expect(r.exit.exitCode == 0)
        #expect(SandboxFixture.processes(containing: marker).isEmpty)
        // One that keeps stdout open, and one that closed it: the run still ends, and they go too.
        let held = try await f.sh("setsid \(sleeper) & exec >&- 2>&-; echo never")
        #expect(held.exit.durationMs < 5000)
        #expect(SandboxFixture.processes(containing: marker).isEmpty)
    }

    @Test func aProgramThatClosesItsOutputStillHasATimeout() async throws {
        let f = try await SandboxFixture()
        var l = SandboxFixture.limits
        l.timeoutMs = 800
        let r = try await f.sh("exec >&- 2>&-; sleep 30", limits: l)
        #expect(r.exit.killedBy == .timeout)
        #expect(r.exit.durationMs < 4000)
    }
}
