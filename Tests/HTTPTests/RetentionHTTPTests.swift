import AgentClient
import AgentHTTP
import AgentNSTesting
import Foundation
import HTTPTypes
import HummingbirdTesting
import Namespace
import NIOCore
import Runtime
import RuntimeSQLite
import Testing

/// Pruned logs over HTTP: a whole GET, GETs by offset in chunks reassembled by `X-Offset`, and
/// the remote mount's client (HTTPFileClient under an open handle, as agentfs reads) give the
/// same retained records, each once, in order.
@Suite struct RetentionHTTPTests {
    static func store() -> SQLiteStore.Options {
        var o = SQLiteStore.Options()
        o.logRetain = 20
        o.fsyncEveryCommit = false
        return o
    }

    @Test(.timeLimit(.minutes(3))) func prunedLogsReadTheSameWholeInChunksAndThroughAHandle() async throws {
        try await withServer(.live, store: Self.store()) { rt, client in
            _ = try await rt.createAgent(id: "p", kind: "echo")
            for i in 0..<500 { try await rt.send("p", "m\(i)") }
            #expect(try await rt.drained("p", seconds: 60))
            let remote = HTTPFileClient(url: "http://127.0.0.1:\(client.port!)", token: operatorToken)
            for path in ["outbox", "logs/trace", "logs/trajectory"] {
                let whole = try await client.execute(uri: "/agents/p/\(path)", method: .get, headers: auth)
                let text = whole.text
                let lines = text.split(separator: "\n")
                #expect(Set(lines).count == lines.count, "\(path): duplicates")
                #expect(lines.count < 500 || path == "logs/trace", "\(path): never pruned")
                let size = Int64(try await client.execute(uri: "/agents/p/\(path)", method: .head, headers: auth).headers[.contentLength] ?? "") ?? 0
                #expect(size > Int64(whole.body.readableBytes), "\(path): the size counts pruned bytes")
                for chunk in [17, 512, 65536] {
                    var offset: Int64 = 0
                    var out = ""
                    while true {
                        let r = try await client.execute(uri: "/agents/p/\(path)?offset=\(offset)&count=\(chunk)", method: .get, headers: auth)
                        #expect(r.status == .ok)
                        if r.body.readableBytes == 0 { break }
                        let begins = Int64(r.headers[HTTPField.Name("X-Offset")!] ?? "") ?? -1
                        #expect(begins >= offset)
                        out += r.text
                        offset = begins + Int64(r.body.readableBytes)
                    }
                    #expect(out == text, "\(path): chunks of \(chunk)")
                }
                // What agentfs does: one handle over the HTTP client, read at its own positions.
                let h = try await OpenFile(client: remote, path: "/agents/p/\(path)", flags: [.read])
                var viaHandle = Data()
                while true {
                    let part = try await h.read(offset: Int64(viaHandle.count), count: 4096)
                    if part.isEmpty { break }
                    viaHandle += part
                }
                #expect(String(decoding: viaHandle, as: UTF8.self) == text, "\(path): through a remote handle")
            }
        }
    }
}
