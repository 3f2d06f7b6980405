import AgentNSTesting
import FUSEAdapter
import Foundation
import Glibc
import Namespace
import Runtime
import Synchronization
import Testing

/// A FileClient that counts the reads that reach it: what the page cache spares the runtime.
final class CountingClient: FileClient {
    let inner: any FileClient
    let reads = Mutex([String: Int]())

    init(_ inner: any FileClient) { self.inner = inner }

    func count(_ path: String) -> Int { reads.withLock { $0[path] ?? 0 } }

    func stat(_ path: String) async throws -> FileStat { try await inner.stat(path) }
    func list(_ path: String) async throws -> [FileStat] { try await inner.list(path) }
    func read(_ path: String, _ range: ByteRange) async throws -> FileSlice {
        reads.withLock { $0[path, default: 0] += 1 }
        return try await inner.read(path, range)
    }
    func write(_ path: String, _ data: Data, mode: WriteMode) async throws -> Data { try await inner.write(path, data, mode: mode) }
    func remove(_ path: String) async throws { try await inner.remove(path) }
    func watch(_ path: String, after: UInt64?) async throws -> AsyncThrowingStream<FeedRecord, any Error> {
        try await inner.watch(path, after: after)
    }
}

/// The in-process mount with its page cache fed by the runtime's changes (as `agentd --mount`):
/// unchanged documents are answered by the kernel, changed ones never are.
@Suite(.serialized) struct PageCacheMountTests {
    func withMount(cache: Bool = true, fed: Bool = true, _ body: @escaping @Sendable (Runtime, String, CountingClient) async throws -> Void) async throws {
        try await withRuntime { rt in
            let client = CountingClient(rt.op)
            let pageCache = cache ? PageCache() : nil
            let observer = fed ? pageCache.map { pc in rt.observeChanges { pc.changed(agents: $0) } } : nil
            defer { if let observer { rt.stopObservingChanges(observer) } }
            try await FUSEMountTests.mounted(AgentFileSystem(client: client, pageCache: pageCache)) { dir in try await body(rt, dir, client) }
        }
    }

    /// open/read/close on a thread of its own (the Swift pool answers the mount).
    static func cat(_ path: String) async -> Data? {
        await FUSEMountTests.onThread {
            let fd = open(path, O_RDONLY)
            guard fd >= 0 else { return nil }
            defer { close(fd) }
            var out = Data()
            var buf = [UInt8](repeating: 0, count: 1 << 17)
            while true {
                let n = read(fd, &buf, buf.count)
                if n <= 0 { return n == 0 ? out : nil }
                out.append(contentsOf: buf[0..<n])
            }
        }
    }

    @Test func unchangedDocumentsComeFromThePageCache() async throws {
        try await withMount { rt, dir, client in
            _ = try await rt.createAgent(id: "a", kind: "echo")
            _ = try await rt.op.write("/agents/a/goals/g.json", #"{"aim":1}"#)
            for file in ["status", "config", "goals/g.json"] {
                let path = "/agents/a/" + file
                let want = try await rt.op.read(path)
                for _ in 0..<100 { #expect(await Self.cat(dir + path) == want, "\(file)") }
                // The first open fills the cache (or a direct read, until the kernel has the
                // size): at most a few of the 100 reach the runtime.
                #expect(client.count(path) <= 3, "\(file): \(client.count(path)) of 100 reads reached the runtime")
            }
        }
    }

    @Test func aChangeIsSeenByTheNextReadAndOnlyThatAgentsFilesAreDropped() async throws {
        try await withMount { rt, dir, client in
            _ = try await rt.createAgent(id: "a", kind: "echo")
            _ = try await rt.createAgent(id: "b", kind: "echo")
            for id in ["a", "b"] { for _ in 0..<3 { _ = await Self.cat("\(dir)/agents/\(id)/status") } }
            let before = client.count("/agents/b/status")
            for round in 0..<200 {
                _ = try await rt.op.write("/agents/a/ctl", "tick")
                let want = try await rt.op.read("/agents/a/status")
                let got = await Self.cat(dir + "/agents/a/status")
                #expect(got == want, "round \(round)")
                if got != want { break }
                _ = await Self.cat(dir + "/agents/b/status")
            }
            #expect(client.count("/agents/b/status") - before <= 2, "b did not change: its reads stay cached while a ticks")
        }
    }

    /// Logs, streams and anything opened for writing never come from the cache.
    @Test func logsAndWritersAreDirect() async throws {
        try await withMount { rt, dir, client in
            _ = try await rt.createAgent(id: "a", kind: "echo")
            for _ in 0..<5 { _ = await Self.cat(dir + "/agents/a/logs/trace") }
            #expect(client.count("/agents/a/logs/trace") >= 5)
            #expect(PageCache.cacheableAgent("/agents/a/logs/trace") == nil)
            #expect(PageCache.cacheableAgent("/agents/a/outbox") == nil)
            #expect(PageCache.cacheableAgent("/agents/a/goals/") == nil)
            #expect(PageCache.cacheableAgent("/agents/a/goals/.json") == nil)
            #expect(PageCache.cacheableAgent("/agents/a/compute/jobs/x/status") == nil)
            #expect(PageCache.cacheableAgent("/runtime/status") == nil)
            #expect(PageCache.cacheableAgent("/agents/a/status") == "a")
        }
    }

    /// A mount sees its own writes at once, before any change stream could tell it (a remote
    /// mount's stream lags): here the cache is fed by nothing but the mount itself.
    @Test func theMountsOwnWritesAreSeenAtOnce() async throws {
        try await withMount(fed: false) { rt, dir, client in
            _ = try await rt.createAgent(id: "a", kind: "echo")
            let path = dir + "/agents/a/config"
            for _ in 0..<3 { _ = await Self.cat(path) }
            for round in 0..<20 {
                let text = #"{"name":"n\#(round)"}"# + "\n"
                let wrote = await FUSEMountTests.onThread { () -> Bool in
                    let fd = open(path, O_WRONLY | O_TRUNC)
                    guard fd >= 0 else { return false }
                    let n = text.withCString { write(fd, $0, strlen($0)) }
                    return close(fd) == 0 && n == text.utf8.count
                }
                #expect(wrote)
                let want = try await rt.op.read("/agents/a/config")
                #expect(await Self.cat(path) == want, "round \(round)")
                _ = await Self.cat(dir + "/agents/a/status")
                _ = try await rt.op.write("/agents/a/ctl", "tick")  // not through the mount: unseen here, by design
                _ = await FUSEMountTests.onThread { () -> Int32 in
                    let fd = open(dir + "/agents/a/ctl", O_WRONLY)
                    defer { close(fd) }
                    return fd >= 0 && write(fd, "tick", 4) == 4 ? 0 : errno
                }
                #expect(await Self.cat(dir + "/agents/a/status") == (try await rt.op.read("/agents/a/status")), "after a ctl write through the mount")
            }
        }
    }

    /// --no-cache: every read reaches the runtime, as before the page cache.
    @Test func withoutAPageCacheEveryReadIsDirect() async throws {
        try await withMount(cache: false) { rt, dir, client in
            _ = try await rt.createAgent(id: "a", kind: "echo")
            for _ in 0..<20 { _ = await Self.cat(dir + "/agents/a/status") }
            #expect(client.count("/agents/a/status") >= 20)
        }
    }
}
