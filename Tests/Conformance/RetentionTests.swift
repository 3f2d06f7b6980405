import AgentNSTesting
import Foundation
import Namespace
import Runtime
import RuntimeSQLite
import Services
import Testing

/// Every log at and past retention (a small `logRetain`): a whole read, reads by offset in
/// chunks of several sizes reassembled, and reads through an open handle the way `cat`, `wc`
/// and `tail` make them, all give the retained records, each once, in order. Regression:
/// reads below the retained window started at its first record, so `cat` on a mount repeated
/// the retained tail for every chunk below it.
@Suite struct RetentionTests {
    static let retain = 20

    static func options() -> SQLiteStore.Options {
        var o = SQLiteStore.Options()
        o.logRetain = retain
        o.fsyncEveryCommit = false
        return o
    }

    /// The retained records of `log` as the store holds them: the truth every read must equal.
    static func retained(_ rt: Runtime, _ agent: String, _ log: LogName) async throws -> String {
        try await rt.store.logTail(agent, log, limit: 1_000_000).records.map { $0.line + "\n" }.joined()
    }

    /// Reads the file by offset in `chunk`-byte pieces, going on from where each piece's bytes
    /// begin (its FileSlice offset, X-Offset over HTTP).
    static func chunked(_ client: some FileClient, _ path: String, _ chunk: Int) async throws -> Data {
        var out = Data()
        var offset: Int64 = 0
        while true {
            let slice = try await client.read(path, try ByteRange(offset: offset, count: Int64(chunk)))
            if slice.data.isEmpty { return out }
            #expect(slice.offset >= offset)
            out += slice.data
            offset = slice.offset + Int64(slice.data.count)
        }
    }

    /// Reads through one open handle at the handle's own positions, as `cat` does over FUSE.
    static func cat(_ client: some FileClient, _ path: String, _ chunk: Int) async throws -> Data {
        let h = try await OpenFile(client: client, path: path, flags: [.read])
        var out = Data()
        while true {
            let part = try await h.read(offset: Int64(out.count), count: chunk)
            if part.isEmpty { return out }
            out += part
        }
    }

    static func lines(_ data: Data) -> [String] { String(decoding: data, as: UTF8.self).split(separator: "\n").map(String.init) }

    @Test(.timeLimit(.minutes(3))) func everyLogReadsItsRetainedRecordsOnceInOrder() async throws {
        try await TestRuntime.with(options: Self.options()) { rt in
            _ = try await rt.createAgent(id: "p", kind: "echo")
            var sent = 0
            // At retention, then well past it (each log pruned several times).
            for target in [Self.retain, 600] {
                while sent < target {
                    try await rt.send("p", "m\(sent)")
                    sent += 1
                }
                #expect(try await rt.drained("p", seconds: 60))
                for log in LogName.allCases {
                    let path = log == .outbox ? "/agents/p/outbox" : "/agents/p/logs/\(log.rawValue)"
                    let truth = try await Self.retained(rt, "p", log)
                    let records = Self.lines(Data(truth.utf8))
                    #expect(Set(records).count == records.count, "\(log): duplicate records in the store")
                    if target > Self.retain { #expect(records.count < sent, "\(log) was never pruned") }
                    let whole = try await rt.op.read(path)
                    #expect(String(decoding: whole, as: UTF8.self) == truth, "\(log): whole read")
                    for chunk in [13, 100, 333, 4096, 1 << 20] {
                        let byOffset = try await Self.chunked(rt.op, path, chunk)
                        #expect(byOffset == whole, "\(log): offsets in chunks of \(chunk)")
                        let byHandle = try await Self.cat(rt.op, path, chunk)
                        #expect(byHandle == whole,
                                "\(log): one handle in chunks of \(chunk): \(Self.lines(byHandle).count) lines, want \(records.count)")
                    }
                    // The size counts every byte ever written; the bytes at the end are the last record,
                    // so `tail` (which reads back from the size) finds the newest records where they are.
                    let size = try await rt.op.stat(path).size
                    let last = Data((records.last! + "\n").utf8)
                    #expect(try await rt.op.read(path, offset: size - Int64(last.count), count: nil) == last, "\(log): tail")
                    #expect(try await rt.op.read(path, offset: size, count: nil).isEmpty)
                }
            }
            // The outbox holds each reply once: the retained window is a run of the newest messages.
            let bodies = Self.lines(try await rt.op.read("/agents/p/outbox")).compactMap { try? JSON(parsing: $0)["body"]?.stringValue }
            let numbers = bodies.compactMap { Int($0.dropFirst()) }
            #expect(numbers == Array((sent - numbers.count)..<sent))
        }
    }

    /// `tail -f`'s reads through one handle: it reads back from the size, then follows; with the
    /// log pruned under it the whole time, it sees each new record once, in order (a follower
    /// that falls more than the retention behind loses what was pruned, as it must).
    @Test(.timeLimit(.minutes(3))) func aFollowerOnOneHandleSeesEachNewRecordOnce() async throws {
        try await TestRuntime.with(options: Self.options()) { rt in
            _ = try await rt.createAgent(id: "f", kind: "echo")
            for i in 0..<300 { try await rt.send("f", "a\(i)") }
            #expect(try await rt.drained("f", seconds: 60))
            let path = "/agents/f/outbox"
            let h = try await OpenFile(client: rt.op, path: path, flags: [.read])
            var position = try await rt.op.stat(path).size
            var seen = Data()
            for i in 0..<300 {
                try await rt.send("f", "b\(i)")
                if i % 10 == 9 {  // a follower that keeps up: fewer new records than retention between reads
                    #expect(try await rt.drained("f", seconds: 60))
                    while true {
                        let part = try await h.read(offset: position, count: 4096)
                        if part.isEmpty { break }
                        seen += part
                        position += Int64(part.count)
                    }
                }
            }
            let bodies = Self.lines(seen).compactMap { try? JSON(parsing: $0)["body"]?.stringValue }
            #expect(bodies == (0..<300).map { "b\($0)" })
        }
    }
}
