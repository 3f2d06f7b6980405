import AgentHTTP
import AgentNSTesting
import Foundation
import HTTPTypes
import HummingbirdTesting
import Namespace
import NIOCore
import Runtime
import Testing

@Suite struct MappingTests {
    @Test func everyRowOfTheMappingTable() async throws {
        try await withServer { rt, client in
            // agents: create, list, get
            let created = try await client.execute(uri: "/agents", method: .post, headers: auth, body: #"{"id":"a","kind":"echo"}"#.buffer)
            #expect(created.status == .created)
            #expect(created.headers[.location] == "/agents/a")
            #expect(created.json["id"] == "a")
            #expect(try await client.execute(uri: "/agents", method: .get, headers: auth).json.arrayValue?.count == 1)
            #expect(try await client.execute(uri: "/agents/a", method: .get, headers: auth).json["kind"] == "echo")
            // list a directory: trailing slash, or Accept: application/json
            let root = try await client.execute(uri: "/agents/a/", method: .get, headers: auth)
            #expect(root.status == .ok)
            #expect(root.json.arrayValue?.compactMap { $0["name"]?.stringValue }.contains("inbox") == true)
            var acceptJSON = auth
            acceptJSON[.accept] = "application/json"
            #expect(try await client.execute(uri: "/agents/a/logs", method: .get, headers: acceptJSON).json.arrayValue?.count == 2)
            // send: POST inbox answers 202 with the receipt
            let sent = try await client.execute(uri: "/agents/a/inbox", method: .post, headers: auth, body: "hello".buffer)
            #expect(sent.status == .accepted)
            #expect(sent.json["status"] == "queued")
            #expect(try await TestRuntime.eventually { try await rt.op.readString("/agents/a/outbox").contains("hello") })
            // read a file
            let outbox = try await client.execute(uri: "/agents/a/outbox", method: .get, headers: auth)
            #expect(outbox.status == .ok)
            #expect(outbox.text.contains("\"body\":\"hello\""))
            // stat
            let head = try await client.execute(uri: "/agents/a/outbox", method: .head, headers: auth)
            #expect(head.status == .ok)
            #expect(head.headers[HTTPField.Name("X-File-Type")!] == "stream")
            #expect(head.headers[.contentLength] == "\(outbox.body.readableBytes)")
            #expect(head.headers[.eTag] != nil)
            #expect(try await client.execute(uri: "/agents/a/identity/sign", method: .head, headers: auth).headers[HTTPField.Name("X-File-Type")!] == "call")
            #expect(try await client.execute(uri: "/agents/a/goals", method: .head, headers: auth).headers[HTTPField.Name("X-File-Type")!] == "dir")
            // replace, read back, remove
            #expect(try await client.execute(uri: "/agents/a/goals/g1.json", method: .put, headers: auth, body: #"{"aim":1}"#.buffer).status == .noContent)
            #expect(try await client.execute(uri: "/agents/a/goals/g1.json", method: .get, headers: auth).json["aim"] == 1)
            #expect(try await client.execute(uri: "/agents/a/goals/g1.json", method: .delete, headers: auth).status == .noContent)
            // call: the answer is the response body
            let sig = try await client.execute(uri: "/agents/a/identity/sign", method: .post, headers: auth, body: "data".buffer)
            #expect(sig.status == .ok)
            #expect(sig.text.count == 129)
            // offsets
            let part = try await client.execute(uri: "/agents/a/outbox?offset=2&count=5", method: .get, headers: auth)
            #expect(part.text == String(outbox.text.dropFirst(2).prefix(5)))
            // control shortcuts
            #expect(try await client.execute(uri: "/agents/a/send", method: .post, headers: auth, body: "again".buffer).status == .accepted)
            #expect(try await client.execute(uri: "/agents/a/hibernate", method: .post, headers: auth).json["state"] == "hibernated")
            #expect(try await client.execute(uri: "/agents/a/wake", method: .post, headers: auth).json["state"] == "active")
            let ticked = try await client.execute(uri: "/agents/a/tick", method: .post, headers: auth)
            #expect(ticked.status == .ok && (ticked.json["tick_count"]?.intValue ?? 0) >= 2)
            // runtime status needs no token
            let status = try await client.execute(uri: "/runtime/status", method: .get)
            #expect(status.status == .ok && status.json["agents"] == 1)
            // delete the agent
            #expect(try await client.execute(uri: "/agents/a", method: .delete, headers: auth).status == .noContent)
            #expect(try await client.execute(uri: "/agents/a", method: .get, headers: auth).status == .notFound)
        }
    }

    /// Each code with the status of SPEC's table, a JSON body with code, message and path, and
    /// no change behind it.
    @Test func everyErrorCodeHasItsStatusAndBody() async throws {
        var opts = AgentHTTPOptions()
        opts.maxBodyBytes = 1000
        try await withServer(options: opts) { rt, client in
            _ = try await rt.createAgent(id: "e", kind: "echo", config: .object([
                "inbox": .object(["max_depth": 1, "overflow": "reject"]), "access": .object(["/identity": "budgeted"]), "budget": .object(["limit": 0]),
            ]))
            try await rt.op.write("/agents/e/ctl", "pause")
            try await rt.op.write("/agents/e/inbox", "fills it", mode: .append)
            let agentToken = try await rt.issueToken(for: "e")
            let cases: [(String, HTTPRequest.Method, HTTPFields, String?, String, Int)] = [
                ("/agents/e/nothing", .get, auth, nil, "not_found", 404),
                ("/agents/e/config", .put, bearer(agentToken), "{}", "permission_denied", 403),
                ("/agents/e/status", .get, [:], nil, "unauthorized", 401),
                ("/agents", .post, auth, #"{"id":"e","kind":"echo"}"#, "already_exists", 409),
                ("/agents/e/logs", .put, auth, "x", "is_directory", 409),
                ("/agents/e/status/x", .get, auth, nil, "not_directory", 409),
                ("/agents/e/%2e%2e/x", .get, auth, nil, "invalid_path", 400),
                ("/agents/e/config", .put, auth, "not json", "invalid_input", 400),
                ("/agents/e/inbox", .post, auth, String(repeating: "x", count: 2000), "payload_too_large", 413),
                ("/agents/e/identity/sign", .post, bearer(agentToken), "x", "budget_exceeded", 402),
                ("/agents/e/inbox", .post, auth, "one more", "queue_full", 429),
                ("/agents/e/status", .init("TRACE")!, auth, nil, "method_not_allowed", 405),
                ("/agents/e/status?watch=yes", .get, auth, nil, "invalid_input", 400),
            ]
            for (uri, method, headers, body, code, status) in cases {
                let r = try await client.execute(uri: uri, method: method, headers: headers, body: body?.buffer)
                #expect(Int(r.status.code) == status, "\(method) \(uri)")
                #expect(r.errorCode == code, "\(method) \(uri): \(r.text)")
                #expect(r.json["error"]?["message"]?.stringValue?.isEmpty == false)
                #expect(r.headers[.contentType] == "application/json")
                if code == "queue_full" { #expect(r.headers[.retryAfter] != nil) }
                if code == "method_not_allowed" { #expect(r.headers[.allow] == "GET, HEAD, PUT, POST, DELETE") }
            }
            #expect(try await rt.statusOf("e")["queue_depth"] == 1)
            #expect(try JSON(parsing: try await rt.op.readString("/agents/e/config"))["inbox"]?["overflow"] == "reject")
            #expect(try await client.execute(uri: "/agents/e/nothing", method: .get, headers: auth).json["error"]?["path"] == "/agents/e/nothing")
            // unavailable: the store is closed under the server.
            await rt.store.close()
            let r = try await client.execute(uri: "/agents", method: .post, headers: auth, body: #"{"id":"z","kind":"echo"}"#.buffer)
            #expect(r.status == .serviceUnavailable)
            #expect(r.errorCode == "unavailable")
        }
    }

    @Test func authMatrix() async throws {
        try await withServer { rt, client in
            _ = try await rt.createAgent(id: "a", kind: "echo")
            _ = try await rt.createAgent(id: "b", kind: "echo")
            let tokenA = try await client.execute(uri: "/agents/a/tokens", method: .post, headers: auth).json["token"]!.stringValue!
            // Only the operator issues tokens or creates agents.
            #expect(try await client.execute(uri: "/agents/b/tokens", method: .post, headers: bearer(tokenA)).status == .forbidden)
            #expect(try await client.execute(uri: "/agents", method: .post, headers: bearer(tokenA), body: #"{"id":"c","kind":"echo"}"#.buffer).status == .forbidden)
            let refused: [(String, HTTPRequest.Method, HTTPFields, HTTPResponse.Status)] = [
                ("/agents", .get, [:], .unauthorized),
                ("/agents/a/status", .get, [:], .unauthorized),
                ("/agents/a/status", .get, [.authorization: "Bearer wrong"], .unauthorized),
                ("/agents/a/status", .get, [.authorization: "Basic Zm9vOmJhcg=="], .unauthorized),
                ("/metrics", .get, [:], .unauthorized),
                ("/agents/b/status", .get, bearer(tokenA), .forbidden),
                ("/agents/b/inbox", .post, bearer(tokenA), .forbidden),
                ("/agents/b", .delete, bearer(tokenA), .forbidden),
                ("/agents/a", .delete, bearer(tokenA), .forbidden),
                ("/agents/a/config", .put, bearer(tokenA), .forbidden),
                ("/agents/a/status", .put, bearer(tokenA), .forbidden),
                ("/agents/a/logs/trace", .post, bearer(tokenA), .forbidden),
                // Compute providers are the operator's, there or not.
                ("/runtime/providers/", .get, bearer(tokenA), .forbidden),
                ("/runtime/providers/p.json", .put, bearer(tokenA), .forbidden),
                ("/runtime/providers/p.json", .delete, bearer(tokenA), .forbidden),
            ]
            for (uri, method, headers, status) in refused {
                let r = try await client.execute(uri: uri, method: method, headers: headers, body: method == .get ? nil : "{}".buffer)
                #expect(r.status == status, "\(method) \(uri)")
            }
            // What the agent token may do: its own files, under its mount table.
            #expect(try await client.execute(uri: "/agents", method: .get, headers: bearer(tokenA)).json.arrayValue?.count == 1)
            #expect(try await client.execute(uri: "/agents/a/status", method: .get, headers: bearer(tokenA)).status == .ok)
            #expect(try await client.execute(uri: "/agents/a/identity/sign", method: .post, headers: bearer(tokenA), body: "x".buffer).status == .ok)
            #expect(try await client.execute(uri: "/agents/a/inbox", method: .post, headers: bearer(tokenA), body: "x".buffer).status == .accepted)
            // Nothing was touched by the refused requests.
            #expect(try await rt.listAgents().count == 2)
            #expect(try await rt.statusOf("b")["tick_count"] == 0)
            // Tokens are stored hashed: the database holds no token text.
            #expect(try await rt.store.tokenAgent(hash: tokenA) == nil)
            #expect(try await rt.store.tokenAgent(hash: Tokens.hash(tokenA)) == "a")
        }
    }
}

@Suite struct MetricsTests {
    @Test func metricsAreForTheOperatorAndCountRequests() async throws {
        try await withServer { rt, client in
            _ = try await rt.createAgent(id: "m", kind: "echo")
            _ = try await client.execute(uri: "/agents/m/status", method: .get, headers: auth)
            _ = try await client.execute(uri: "/agents/m/nothing", method: .get, headers: auth)
            let token = try await rt.issueToken(for: "m")
            #expect(try await client.execute(uri: "/metrics", method: .get, headers: bearer(token)).status == .forbidden)
            let r = try await client.execute(uri: "/metrics", method: .get, headers: auth)
            #expect(r.status == .ok)
            #expect(r.text.contains(#"agentd_http_requests_total{route="file",status="200"} 1"#))
            #expect(r.text.contains(#"agentd_http_requests_total{route="file",status="404"} 1"#))
            #expect(r.text.contains("agentd_agents 1"))
            #expect(r.text.contains("# TYPE agentd_http_request_duration_seconds histogram"))
        }
    }

    @Test func commitsAndInboxDepthsAreReported() async throws {
        try await withServer { rt, client in
            func series(_ name: String) async throws -> Double? {
                let text = try await client.execute(uri: "/metrics", method: .get, headers: auth).text
                return text.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ")[1]) }
            }
            _ = try await rt.createAgent(id: "q1", kind: "echo")
            _ = try await rt.createAgent(id: "q2", kind: "echo")
            try await rt.ctl("q1", "pause")
            try await rt.ctl("q2", "pause")
            let commitsBefore = try await series("agentd_commits_total") ?? -1
            for i in 0..<3 { try await rt.send("q1", "m\(i)") }
            try await rt.send("q2", "x")
            #expect(try await series("agentd_inbox_pending") == 4)
            #expect(try await series("agentd_inbox_deepest") == 3)
            #expect(try await series("agentd_deadletters") == 0)
            let commitsAfter = try await series("agentd_commits_total") ?? -1
            #expect(commitsAfter >= commitsBefore + 1)  // group commit may put the four sends in fewer
            #expect(try await series("agentd_commit_writes_total") ?? 0 >= commitsAfter)
        }
    }
}
