import AgentNSTesting
import Foundation
import Namespace
import Runtime
import Testing

/// Handle semantics: the Plan 9 call-file pattern and commit-on-close.
@Suite struct OpenFileTests {
    /// `cat inbox` reads in chunks; a tick that dequeues between two chunks must not tear a
    /// line or skip one: the handle reads one snapshot, taken at its first read.
    @Test func inboxReadsInChunksAreOneSnapshot() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "q", kind: "echo")
            try await rt.ctl("q", "pause")
            for i in 0..<40 { try await rt.send("q", "message \(i) " + String(repeating: "x", count: 100)) }
            let whole = try await rt.op.read("/agents/q/inbox")
            let h = try await OpenFile(client: rt.op, path: "/agents/q/inbox", flags: .read)
            var read = try await h.read(offset: 0, count: 1000)
            // A tick dequeues the head of the inbox between two reads of the same handle.
            try await rt.ctl("q", "tick")
            try await rt.ctl("q", "tick")
            #expect(try await rt.statusOf("q")["queue_depth"] == 38)
            while true {
                let chunk = try await h.read(offset: Int64(read.count), count: 1000)
                if chunk.isEmpty { break }
                read.append(chunk)
            }
            try await h.close()
            #expect(read == whole)
            let lines = String(decoding: read, as: UTF8.self).split(separator: "\n")
            #expect(lines.count == 40)
            #expect(lines.allSatisfy { (try? JSON(parsing: String($0))) != nil })
        }
    }

    @Test func callAnswersBelongToTheirOwnHandle() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "c", kind: "echo")
            let pubkey = try await rt.op.readString("/agents/c/identity/pubkey").trimmingCharacters(in: .newlines)
            // Many handles open at once, each writes then reads on itself.
            let results = try await withThrowingTaskGroup(of: (String, String).self) { group in
                for i in 0..<16 {
                    group.addTask {
                        let h = try await OpenFile(client: rt.op, path: "/agents/c/identity/sign", flags: [.read, .write])
                        try await h.write(Data("payload-\(i)".utf8))
                        let sig = String(decoding: try await h.read(offset: 0, count: 4096), as: UTF8.self)
                        try await h.close()
                        return ("payload-\(i)", sig.trimmingCharacters(in: .newlines))
                    }
                }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(Set(results.map(\.1)).count == 16)
            for (data, sig) in results {
                #expect(Schnorr.verify(pubkey: pubkey, data: Data(data.utf8), signature: sig), "\(data)")
            }
        }
    }

    @Test func writesCommitOnCloseAndCloseReportsTheError() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "c", kind: "echo")
            let ctl = try await OpenFile(client: rt.op, path: "/agents/c/ctl", flags: [.write, .truncate])
            try await ctl.write(Data("paus".utf8))
            try await ctl.write(Data("e\n".utf8))
            #expect(try await rt.op.readString("/agents/c/ctl") == "active\n")  // nothing until close
            try await ctl.close()
            #expect(try await rt.op.readString("/agents/c/ctl") == "paused\n")
            let bad = try await OpenFile(client: rt.op, path: "/agents/c/ctl", flags: [.write, .truncate])
            try await bad.write(Data("explode\n".utf8))
            await expectCode(.invalidInput) { try await bad.close() }
            await expectCode(.isDirectory) { _ = try await OpenFile(client: rt.op, path: "/agents/c/logs", flags: [.read]) }
        }
    }

    @Test func streamsAreReadLiveAndFilesFromOneSnapshot() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "c", kind: "echo")
            let trace = try await OpenFile(client: rt.op, path: "/agents/c/logs/trace", flags: [.read])
            let first = try await trace.read(offset: 0, count: 1 << 20)
            try await rt.send("c", "more")
            #expect(try await rt.drained("c"))
            let next = try await trace.read(offset: Int64(first.count), count: 1 << 20)
            #expect(!next.isEmpty)  // a follower sees the log grow on the same handle
            let status = try await OpenFile(client: rt.op, path: "/agents/c/status", flags: [.read])
            let head = try await status.read(offset: 0, count: 10)
            try await rt.send("c", "again")
            #expect(try await rt.drained("c"))
            let rest = try await status.read(offset: 10, count: 1 << 20)
            #expect(try JSON(parsing: head + rest)["tick_count"] == 1)  // one consistent snapshot
        }
    }

    /// Regression: a read at exactly the end of a log (what `cat` and `tail -f` do next) used
    /// to loop forever on the last record and wedge the reader's thread.
    @Test(.timeLimit(.minutes(1))) func readingAtTheEndOfALogReturnsNothing() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "c", kind: "echo")
            try await rt.send("c", "one")
            #expect(try await rt.drained("c"))
            let size = try await rt.op.stat("/agents/c/outbox").size
            #expect(size > 0)
            #expect(try await rt.op.read("/agents/c/outbox", offset: size, count: 4096).isEmpty)
            #expect(try await rt.op.read("/agents/c/outbox", offset: size - 1, count: 4096) == Data("\n".utf8))
            #expect(try await rt.op.read("/agents/c/outbox", offset: size + 100, count: 4096).isEmpty)
        }
    }
}
