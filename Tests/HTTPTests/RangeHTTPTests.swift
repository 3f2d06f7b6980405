import AgentHTTP
import AgentNSTesting
import Foundation
import HTTPTypes
import HummingbirdTesting
import Namespace
import NIOCore
import Runtime
import Testing

/// `?offset=N&count=M` on every file of an agent's tree over HTTP, found by listing from the
/// agent's root: 200 with exactly the slice of the whole read, or 400 invalid_input for a
/// negative or malformed value, and the server still answers afterwards. Regression:
/// `GET /agents/a/status?offset=1` trapped on `offset + Int.max` and killed agentd.
@Suite struct RangeHTTPTests {
    static func files(_ client: any TestClientProtocol, under dir: String) async throws -> [String] {
        var out: [String] = []
        let listing = try await client.execute(uri: dir + "/", method: .get, headers: auth)
        #expect(listing.status == .ok, "\(dir)/")
        for entry in listing.json.arrayValue ?? [] {
            guard let name = entry["name"]?.stringValue else { continue }
            if entry["type"] == "dir" { out += try await files(client, under: dir + "/" + name) } else { out.append(dir + "/" + name) }
        }
        return out
    }

    @Test func everyFileOfTheTreeAnswersEveryRange() async throws {
        try await withServer { rt, client in
            _ = try await rt.createAgent(id: "a", kind: "echo", config: .object(["inbox": .object(["max_depth": 1, "overflow": "dead_letter"])]))
            try await rt.send("a", "hello")
            #expect(try await rt.drained("a"))
            try await rt.op.write("/agents/a/goals/g1.json", #"{"aim":"range"}"#)
            try await rt.ctl("a", "pause")
            try await rt.send("a", "pending")
            try await rt.send("a", "overflow")
            let files = try await Self.files(client, under: "/agents/a")
            #expect(files.count >= 16, "\(files)")
            for must in ["status", "ctl", "config", "state", "inbox", "outbox", "logs/trace", "logs/trajectory", "mounts",
                         "identity/pubkey", "goals/g1.json", "deadletter/count", "deadletter/list", "deadletter/ctl"] {
                #expect(files.contains("/agents/a/" + must), "walk missed \(must)")
            }
            let huge = String(Int64.max)
            for path in files {
                let whole = try await client.execute(uri: path, method: .get, headers: auth)
                #expect(whole.status == .ok, "\(path)")
                let bytes = Array(whole.body.readableBytesView)
                let n = bytes.count
                let offsets = ["0", "1", "\(n / 2)", "\(max(0, n - 1))", "\(n)", "\(n + 1)", huge, "99999999999999999999999"]
                let counts: [String?] = [nil, "0", "1", "\(n / 2)", "\(n + 1)", huge, "99999999999999999999999"]
                for offset in offsets {
                    for count in counts {
                        let uri = path + "?offset=" + offset + (count.map { "&count=" + $0 } ?? "")
                        let r = try await client.execute(uri: uri, method: .get, headers: auth)
                        let o = Int(offset) ?? Int.max
                        let start = min(o, n)
                        let end = count.map { min(n, start + min(Int($0) ?? Int.max, n)) } ?? n
                        #expect(r.status == .ok, "\(uri): \(r.text)")
                        #expect(Array(r.body.readableBytesView) == Array(bytes[start..<end]), "\(uri)")
                        #expect(r.headers[HTTPField.Name("X-Offset")!] == String(Int64(offset) ?? .max), "\(uri)")
                    }
                }
                for bad in ["offset=-1", "offset=-9223372036854775808", "count=-1", "offset=1&count=-5", "offset=abc", "count=1.5",
                            "offset=", "count=", "offset=%2B1", "offset=0x10", "count=1e3", "offset=%201"] {
                    let r = try await client.execute(uri: path + "?" + bad, method: .get, headers: auth)
                    #expect(r.status == .badRequest, "\(path)?\(bad): \(r.status)")
                    #expect(r.errorCode == "invalid_input", "\(path)?\(bad)")
                }
            }
            // /runtime/status is a file too.
            let rs = try await client.execute(uri: "/runtime/status?offset=1&count=" + huge, method: .get, headers: auth)
            #expect(rs.status == .ok)
            #expect(rs.text.hasSuffix("}\n"))
            #expect(try await client.execute(uri: "/runtime/status?offset=-1", method: .get, headers: auth).errorCode == "invalid_input")
            // Still alive and answering.
            #expect(try await client.execute(uri: "/agents/a/status", method: .get, headers: auth).json["id"] == "a")
        }
    }

    /// A live server (real socket): the request from the issue, with an agent token.
    @Test func theReportedRequestNoLongerKillsTheServer() async throws {
        try await withServer(.live) { rt, client in
            _ = try await rt.createAgent(id: "a", kind: "echo")
            let token = try await rt.issueToken(for: "a")
            for query in ["offset=1", "count=9223372036854775807", "offset=1&count=9223372036854775807", "offset=9223372036854775807"] {
                let r = try await client.execute(uri: "/agents/a/status?" + query, method: .get, headers: bearer(token))
                #expect(r.status == .ok, "\(query)")
            }
            let whole = try await client.execute(uri: "/agents/a/status", method: .get, headers: bearer(token))
            #expect(whole.json["id"] == "a")
            #expect(whole.text.hasSuffix("\n"))
        }
    }

    /// Every file has a time: `HEAD` of a new agent's never-changed files has `Last-Modified`,
    /// and no listing shows `"mtime": null` (dead letters and goals/ included).
    @Test func everyFileHasLastModifiedAndEveryEntryAnMtime() async throws {
        try await withServer { rt, client in
            _ = try await rt.createAgent(id: "fresh", kind: "echo")
            _ = try await rt.createAgent(id: "busy", kind: "echo", config: .object(["inbox": .object(["max_depth": 1, "overflow": "dead_letter"])]))
            try await rt.op.write("/agents/busy/goals/g1.json", #"{"aim":1}"#)
            try await rt.ctl("busy", "pause")
            try await rt.send("busy", "pending")
            try await rt.send("busy", "overflow")
            for agent in ["fresh", "busy"] {
                var dirs = ["/agents/\(agent)"]
                while let dir = dirs.popLast() {
                    let listing = try await client.execute(uri: dir + "/", method: .get, headers: auth)
                    for entry in listing.json.arrayValue ?? [] {
                        let name = entry["name"]?.stringValue ?? "?"
                        #expect(entry["mtime"]?.stringValue?.hasSuffix("Z") == true, "\(dir)/\(name): \(entry)")
                        let head = try await client.execute(uri: dir + "/" + name, method: .head, headers: auth)
                        #expect(head.status == .ok)
                        #expect(head.headers[.lastModified]?.hasSuffix(" GMT") == true, "HEAD \(dir)/\(name)")
                        if entry["type"] == "dir" { dirs.append(dir + "/" + name) }
                    }
                }
            }
            #expect(try await client.execute(uri: "/agents/fresh/status", method: .head, headers: auth).headers[.lastModified] != nil)
        }
    }
}
