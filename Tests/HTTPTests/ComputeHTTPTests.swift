import AgentClient
import AsyncHTTPClient
import AgentHTTP
import AgentNSTesting
import Foundation
import HTTPTypes
import HummingbirdTesting
import Namespace
import NIOCore
import Runtime
import Testing

/// compute/ and /runtime/providers over the HTTP mapping.
@Suite struct ComputeHTTPTests {
    static let provider = #"{"kind":"openai","base_url":"http://127.0.0.1:9/v1","api_key":"sk-never-shown","models":["fixed","hold"],"price":{"input":1000000,"output":1000000000}}"#

    func setUp(_ rt: Runtime, _ c: any TestClientProtocol) async throws -> String {
        let put = try await c.execute(uri: "/runtime/providers/p.json", method: .put, headers: auth, body: Self.provider.buffer)
        #expect(put.status == .noContent)
        _ = try await rt.createAgent(id: "a", kind: "echo")
        return try await rt.issueToken(for: "a")
    }

    @Test func callStatusPolicyAndRefusals() async throws {
        let scripted = ScriptedProvider()
        try await withServer(providers: scripted) { rt, c in
            let token = try await setUp(rt, c)
            let new = try await c.execute(uri: "/agents/a/compute/new", method: .post, headers: bearer(token),
                                          body: #"{"model":"fixed","prompt":"hi","max_tokens":2}"#.buffer)
            #expect(new.status == .ok)
            let id = try #require(new.json["job_id"]?.stringValue)
            #expect(try await TestRuntime.eventually {
                try await c.execute(uri: "/agents/a/compute/jobs/\(id)/status", method: .get, headers: bearer(token)).json["state"] == "succeeded"
            })
            let result = try await c.execute(uri: "/agents/a/compute/jobs/\(id)/result", method: .get, headers: bearer(token))
            #expect(result.status == .ok && result.json["text"] == "Hello world")
            let head = try await c.execute(uri: "/agents/a/compute/jobs/\(id)/stream", method: .head, headers: bearer(token))
            #expect(head.headers[HTTPField.Name("X-File-Type")!] == "stream" && head.headers[.contentLength] == "37")
            let part = try await c.execute(uri: "/agents/a/compute/jobs/\(id)/stream?offset=18&count=100", method: .get, headers: bearer(token))
            #expect(part.text == "{\"delta\":\" world\"}\n")
            // The operator sets a limit; the agent cannot.
            let refused = try await c.execute(uri: "/agents/a/compute/policy", method: .put, headers: bearer(token), body: #"{"limit":0}"#.buffer)
            #expect(refused.status == .forbidden && refused.errorCode == "permission_denied")
            let set = try await c.execute(uri: "/agents/a/compute/policy", method: .put, headers: auth, body: #"{"limit":2100}"#.buffer)
            #expect(set.status == .ok && set.json == .object(["limit": 2100]))
            let over = try await c.execute(uri: "/agents/a/compute/new", method: .post, headers: bearer(token),
                                           body: #"{"model":"fixed","prompt":"hi","max_tokens":2}"#.buffer)
            #expect(over.status == HTTPResponse.Status(code: 402) && over.errorCode == "budget_exceeded")
            #expect(scripted.calls == 1)
            let usage = try await c.execute(uri: "/agents/a/compute/usage", method: .get, headers: bearer(token))
            #expect(usage.json["spent"] == .integer(2010) && usage.json["reserved"] == .integer(0))
            for (body, code) in [("nope", "invalid_input"), (#"{"prompt":"x","max_tokens":-1}"#, "invalid_input"), (#"{"provider":"q","prompt":"x"}"#, "not_found")] {
                let r = try await c.execute(uri: "/agents/a/compute/new", method: .post, headers: bearer(token), body: body.buffer)
                #expect(r.errorCode == code, "\(body)")
            }
            let list = try await c.execute(uri: "/agents/a/compute/jobs/", method: .get, headers: bearer(token))
            #expect(list.json.arrayValue?.compactMap { $0["name"]?.stringValue } == [id])
        }
    }

    @Test func providersAreTheOperatorsAndTheKeyNeverComesBack() async throws {
        try await withServer(providers: ScriptedProvider()) { rt, c in
            let token = try await setUp(rt, c)
            var seen: [String] = []
            for (uri, method, headers) in [("/runtime/providers/p.json", HTTPRequest.Method.get, auth), ("/runtime/providers/", .get, auth),
                                            ("/runtime/providers/p.json", .get, bearer(token)), ("/runtime/providers/", .get, bearer(token)),
                                            ("/agents/a/compute/providers/p/info", .get, bearer(token)), ("/metrics", .get, auth),
                                            ("/agents/a/compute/providers/", .get, bearer(token)), ("/runtime/", .get, auth)] {
                let r = try await c.execute(uri: uri, method: method, headers: headers)
                seen.append("\(uri) \(r.status.code)")
                #expect(!r.text.contains("sk-never-shown"), "\(uri)")
            }
            #expect(seen == ["/runtime/providers/p.json 200", "/runtime/providers/ 200", "/runtime/providers/p.json 403", "/runtime/providers/ 403",
                             "/agents/a/compute/providers/p/info 200", "/metrics 200", "/agents/a/compute/providers/ 200", "/runtime/ 200"])
            let shown = try await c.execute(uri: "/runtime/providers/p.json", method: .get, headers: auth)
            #expect(shown.json["api_key"] == "***" && shown.json["models"] == .array(["fixed", "hold"]))
            // A merge-patch (POST) changes one field and keeps the key.
            let patch = try await c.execute(uri: "/runtime/providers/p.json", method: .post, headers: auth, body: #"{"models":["fixed"]}"#.buffer)
            #expect(patch.status == .noContent)
            #expect(try await rt.store.providers().first?.apiKey == "sk-never-shown")
            let bad = try await c.execute(uri: "/runtime/providers/p.json", method: .put, headers: auth,
                                          body: #"{"base_url":"nope","api_key":"sk-in-a-bad-request"}"#.buffer)
            #expect(bad.status == .badRequest && !bad.text.contains("sk-in-a-bad-request"))
            let gone = try await c.execute(uri: "/runtime/providers/p.json", method: .delete, headers: auth)
            #expect(gone.status == .noContent)
            let missing = try await c.execute(uri: "/runtime/providers/p.json", method: .get, headers: auth)
            #expect(missing.status == .notFound)
        }
    }

    /// A watcher of a job's stream gets each delta as it is committed, and resumes by id.
    @Test func watchTheStreamAndResume() async throws {
        let scripted = ScriptedProvider()
        try await withServer(.live, providers: scripted) { rt, c in
            let token = try await setUp(rt, c)
            let fs = HTTPFileClient(url: "http://127.0.0.1:\(c.port!)", token: token)
            let answer = try JSON(parsing: try await fs.write("/agents/a/compute/new", Data(#"{"model":"hold","prompt":"hi"}"#.utf8), mode: .append))
            let id = try #require(answer["job_id"]?.stringValue)
            // From the first record (`after: 0`); without it a watch sees what comes next.
            let stream = try await fs.watch("/agents/a/compute/jobs/\(id)/stream", after: 0)
            var iterator = stream.makeAsyncIterator()
            let first = try #require(try await iterator.next())
            #expect(first.event == "record" && first.data == #"{"delta":"…"}"#)
            let resumed = try await fs.watch("/agents/a/compute/jobs/\(id)/stream", after: first.id)
            scripted.release()
            #expect(try await TestRuntime.eventually { try await rt.op.readString("/agents/a/compute/jobs/\(id)/status").contains("succeeded") })
            #expect(try await iterator.next()?.data == #"{"delta":" done"}"#)
            var resumedIterator = resumed.makeAsyncIterator()
            #expect(try await resumedIterator.next()?.data == #"{"delta":" done"}"#)
            #expect(try await rt.op.readString("/agents/a/compute/jobs/\(id)/stream") == "{\"delta\":\"…\"}\n{\"delta\":\" done\"}\n")
        }
    }
}
