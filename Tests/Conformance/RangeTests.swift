import AgentNSTesting
import Foundation
import Namespace
import Runtime
import RuntimeSQLite
import Testing

/// Byte ranges on every file of an agent's tree: each file found by walking the tree from its
/// root (nothing listed by hand), read at every kind of offset and count, must answer exactly
/// the slice of its whole read, and negative values must be `invalid_input`. Regression: an
/// offset on a file without its own ranged read computed `offset + Int.max` and killed agentd.
@Suite struct RangeTests {
    /// An agent with something in every file: messages answered, a goal, a dead letter, a
    /// pending envelope; then paused, so nothing moves while its files are read.
    static func populate(_ rt: Runtime, _ id: String = "r") async throws {
        _ = try await rt.createAgent(id: id, kind: "echo", config: .object(["inbox": .object(["max_depth": 1, "overflow": "dead_letter"])]))
        try await rt.send(id, "hello")
        #expect(try await rt.drained(id))
        try await rt.op.write("/agents/\(id)/goals/g1.json", #"{"aim":"range"}"#)
        try await rt.ctl(id, "pause")
        try await rt.send(id, "pending")
        try await rt.send(id, "overflow")  // inbox full: dead-lettered
    }

    /// Every file under `dir`, found by listing from it.
    static func files(_ client: some FileClient, under dir: String) async throws -> [String] {
        var out: [String] = []
        for entry in try await client.list(dir) {
            let path = dir + "/" + entry.name
            if entry.type == .dir { out += try await files(client, under: path) } else { out.append(path) }
        }
        return out
    }

    /// Offsets and counts worth trying on a file of `size` bytes (nil count: to the end).
    static func ranges(size: Int) -> [(Int64, Int?)] {
        let offsets: [Int64] = [0, 1, Int64(size / 2), Int64(max(0, size - 1)), Int64(size), Int64(size) + 1, Int64(size) * 2 + 7, .max - 1, .max]
        let counts: [Int?] = [nil, 0, 1, 7, size / 2, size, size + 1, .max - 1, .max]
        return offsets.flatMap { o in counts.map { (o, $0) } }
    }

    static func expected(_ whole: Data, _ offset: Int64, _ count: Int?) -> Data {
        guard offset < whole.count else { return Data() }
        let start = Int(offset)
        let end = count.map { start + min($0, whole.count - start) } ?? whole.count
        return whole.subdata(in: start..<end)
    }

    @Test func everyFileOfTheTreeReadsEveryRangeAsASliceOfTheWhole() async throws {
        try await withRuntime { rt in
            try await Self.populate(rt)
            let files = try await Self.files(rt.op, under: "/agents/r")
            // The walk found the whole tree, deadletter entries and goal files included.
            for must in ["ctl", "status", "config", "state", "inbox", "outbox", "mounts", "logs/trace", "logs/trajectory",
                         "identity/pubkey", "goals/g1.json", "deadletter/count", "deadletter/list", "deadletter/ctl"] {
                #expect(files.contains("/agents/r/" + must), "walk missed \(must)")
            }
            #expect(files.contains { $0.hasPrefix("/agents/r/deadletter/") && !["count", "list", "ctl"].contains($0.split(separator: "/").last!) })
            var checked = 0
            for path in files + ["/runtime/status"] {
                let whole = try await rt.op.read(path)
                for (offset, count) in Self.ranges(size: whole.count) {
                    if path == "/runtime/status" {  // uptime moves between reads: no crash, and the length is right
                        let part = try await rt.op.read(path, offset: offset, count: count)
                        #expect(part.count <= (count ?? .max))
                        continue
                    }
                    let part = try await rt.op.read(path, offset: offset, count: count)
                    #expect(part == Self.expected(whole, offset, count), "\(path) offset=\(offset) count=\(String(describing: count))")
                    checked += 1
                }
                await expectCode(.invalidInput) { _ = try await rt.op.read(path, offset: -1, count: nil) }
                await expectCode(.invalidInput) { _ = try await rt.op.read(path, offset: .min, count: 1) }
                await expectCode(.invalidInput) { _ = try await rt.op.read(path, offset: 0, count: -1) }
                await expectCode(.invalidInput) { _ = try await rt.op.read(path, offset: 1, count: .min) }
            }
            #expect(checked > 1000)
            // Still serving.
            #expect(try await rt.statusOf("r")["id"] == "r")
        }
    }

    /// The FUSE seam: an open handle read at the same offsets equals the slice of the whole
    /// file, and a read past the end of a handle is empty.
    @Test func openHandlesReadEveryRangeAsASliceOfTheWhole() async throws {
        try await withRuntime { rt in
            try await Self.populate(rt)
            for path in try await Self.files(rt.op, under: "/agents/r") {
                let stat = try await rt.op.stat(path)
                guard stat.type != .call else { continue }
                let whole = try await rt.op.read(path)
                for (offset, count) in Self.ranges(size: whole.count) where count != nil {
                    let h = try await OpenFile(client: rt.op, path: path, flags: [.read])
                    let part = try await h.read(offset: offset, count: count!)
                    #expect(part == Self.expected(whole, offset, count), "\(path) offset=\(offset) count=\(count!)")
                }
            }
        }
    }

    @Test func byteRangeChecksAndSaturates() throws {
        #expect(throws: FSError.self) { try ByteRange(offset: -1) }
        #expect(throws: FSError.self) { try ByteRange(offset: 0, count: Int64(-1)) }
        #expect(try ByteRange(offset: .max, count: Int64.max).end == .max)
        #expect(try ByteRange(offset: 5, count: Int64(3)).end == 8)
        #expect(try ByteRange(offset: 1).slice(Data("abc".utf8)) == Data("bc".utf8))
        #expect(try ByteRange(offset: .max, count: Int64.max).slice(Data("abc".utf8)).isEmpty)
        #expect(try ByteRange(offset: 1, count: Int64.max).slice(Data("abc".utf8)) == Data("bc".utf8))
        #expect(try ByteRange(offset: String?("99999999999999999999999"), count: nil).offset == .max)
        for bad in ["-1", "", "abc", "1.5", "+1", "0x10", " 1", "1 ", "1e3", "-0", "--1", "١"] {
            #expect(throws: FSError.self, "\(bad)") { try ByteRange(offset: bad, count: nil) }
            #expect(throws: FSError.self, "\(bad)") { try ByteRange(offset: nil, count: bad) }
        }
    }
}
