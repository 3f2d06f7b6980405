import AgentHTTP
import AgentNSTesting
import Foundation
import HTTPTypes
import HummingbirdTesting
import Namespace
import NIOCore
import Runtime
import Testing

/// `GET /agents`: pages that join to the whole list whatever their size, the whole list
/// streamed without a limit, and refusals that change nothing.
@Suite struct ListAgentsHTTPTests {
    static let link = HTTPField.Name("Link")!

    /// Ids that sort in the order they are made: a-00000, a-00001, ...
    static func ids(_ n: Int, prefix: String = "a") -> [String] { (0..<n).map { prefix + "-" + String(format: "%05d", $0) } }

    static func create(_ ids: [String], _ rt: Runtime) async throws {
        for id in ids { _ = try await rt.createAgent(id: id, kind: "echo") }
    }

    /// Walks the pages from `start` by their Link headers; returns every id and each page's size.
    static func walk(_ client: any TestClientProtocol, start: String, headers: HTTPFields = auth) async throws -> (ids: [String], pages: [Int]) {
        var uri: String? = start
        var ids: [String] = []
        var pages: [Int] = []
        while let next = uri {
            let page = try await client.execute(uri: next, method: .get, headers: headers)
            #expect(page.status == .ok)
            let rows = page.json.arrayValue ?? []
            ids += rows.compactMap { $0["id"]?.stringValue }
            pages.append(rows.count)
            uri = page.headers[link].flatMap { value -> String? in
                #expect(value.hasSuffix("; rel=\"next\""))
                guard let open = value.firstIndex(of: "<"), let close = value.firstIndex(of: ">") else { return nil }
                return String(value[value.index(after: open)..<close])
            }
            if pages.count > 10_000 { Issue.record("more pages than agents: the cursor does not advance"); break }
        }
        return (ids, pages)
    }

    @Test func pagesOfEverySizeJoinToTheWholeList() async throws {
        try await withServer { rt, client in
            let all = Self.ids(2_001)
            try await Self.create(all.shuffled(), rt)
            for limit in [1, 2, 7, 999, 1_000, 1_001, 2_000, 2_001, 10_000] {
                let (ids, pages) = try await Self.walk(client, start: "/agents?limit=\(limit)")
                #expect(ids == all, "limit \(limit): the pages join to every agent, once each, in id order")
                #expect(pages.allSatisfy { $0 <= limit } && pages.dropLast().allSatisfy { $0 == limit }, "limit \(limit): \(pages.prefix(5))")
                #expect(pages.count == (all.count + limit - 1) / limit, "limit \(limit): no empty page after the last")
            }
            // after: an id that is not an agent starts between two that are; the last id ends it.
            let (fromMiddle, _) = try await Self.walk(client, start: "/agents?after=a-00999z&limit=300")
            #expect(fromMiddle == Array(all[1_000...]))
            let past = try await client.execute(uri: "/agents?after=\(all.last!)&limit=5", method: .get, headers: auth)
            #expect(past.status == .ok && past.json.arrayValue?.isEmpty == true && past.headers[Self.link] == nil)
        }
    }

    @Test func withoutALimitTheWholeListIsStreamed() async throws {
        try await withServer { rt, client in
            // Past two of the streamed store pages, and one exactly at a page boundary.
            for (count, prefix) in [(2_000, "b"), (2_345, "c")] {
                let all = Self.ids(count, prefix: prefix)
                try await Self.create(all, rt)
                let listed = try await client.execute(uri: "/agents", method: .get, headers: auth)
                #expect(listed.status == .ok && listed.headers[.contentType] == "application/json")
                #expect(listed.text.hasSuffix("]\n"))
                let ids = listed.json.arrayValue?.compactMap { $0["id"]?.stringValue } ?? []
                #expect(ids.sorted() == ids && Set(ids).count == ids.count)
                #expect(Set(ids).isSuperset(of: all) && ids.count == (prefix == "b" ? 2_000 : 4_345))
                let rows = listed.json.arrayValue ?? []
                #expect(rows.allSatisfy { $0["kind"] == "echo" && $0["state"] != nil && $0["tick_count"] != nil })
                let after = try await client.execute(uri: "/agents?after=\(all[1_499])", method: .get, headers: auth)
                #expect(after.json.arrayValue?.compactMap { $0["id"]?.stringValue }.filter { $0.hasPrefix(prefix) } == Array(all[1_500...]))
            }
            let head = try await client.execute(uri: "/agents", method: .head, headers: auth)
            #expect(head.status == .ok && head.body.readableBytes == 0)
            let empty = try await client.execute(uri: "/agents?after=zzz", method: .get, headers: auth)
            #expect(empty.text == "[]\n")
        }
    }

    @Test func badPagesAreRefusedAndChangeNothing() async throws {
        try await withServer { rt, client in
            try await Self.create(Self.ids(3), rt)
            for (query, code) in [
                ("limit=0", "invalid_input"), ("limit=10001", "invalid_input"), ("limit=-1", "invalid_input"),
                ("limit=abc", "invalid_input"), ("limit=", "invalid_input"), ("limit=99999999999999999999999", "invalid_input"),
                ("limit=1.5", "invalid_input"), ("after=UPPER", "invalid_path"), ("after=", "invalid_path"),
                ("after=\(String(repeating: "a", count: 64))", "invalid_path"), ("after=..&limit=1", "invalid_path"),
            ] {
                let answer = try await client.execute(uri: "/agents?\(query)", method: .get, headers: auth)
                #expect(answer.status == .badRequest, "\(query)")
                #expect(answer.errorCode == code, "\(query): \(answer.text)")
            }
            #expect(try await rt.listAgents().count == 3)
        }
    }

    /// An agent's token lists its own agent and nothing else, whatever the page.
    @Test func anAgentSeesOnlyItself() async throws {
        try await withServer { rt, client in
            try await Self.create(Self.ids(50), rt)
            let token = try await rt.issueToken(for: "a-00020")
            for query in ["", "?limit=1", "?limit=10000", "?after=a-00019", "?after=a-00019&limit=1"] {
                let answer = try await client.execute(uri: "/agents\(query)", method: .get, headers: bearer(token))
                #expect(answer.json.arrayValue?.compactMap { $0["id"]?.stringValue } == ["a-00020"], "\(query)")
                #expect(answer.headers[Self.link] == nil)
            }
            for query in ["?after=a-00020", "?after=z&limit=3"] {
                #expect(try await client.execute(uri: "/agents\(query)", method: .get, headers: bearer(token)).json.arrayValue?.isEmpty == true)
            }
        }
    }

    /// Agents created and deleted while the pages are walked: every agent there throughout is
    /// listed exactly once, and no id twice or out of order.
    @Test func pagingWhileAgentsComeAndGo() async throws {
        try await withServer { rt, client in
            let stable = Self.ids(600, prefix: "s")
            let churn = Self.ids(600, prefix: "t")
            try await Self.create(stable + churn, rt)
            let writer = Task {
                for (i, id) in churn.enumerated() {
                    try await rt.deleteAgent(id)
                    _ = try await rt.createAgent(id: "n-" + String(format: "%05d", i), kind: "echo")
                }
            }
            for _ in 0..<3 {
                for start in ["/agents?limit=37", "/agents"] {
                    let (ids, _) = start.contains("limit") ? try await Self.walk(client, start: start)
                        : (try await client.execute(uri: start, method: .get, headers: auth).json.arrayValue?.compactMap { $0["id"]?.stringValue } ?? [], [])
                    #expect(ids == ids.sorted() && Set(ids).count == ids.count, "\(start): in order, once each")
                    #expect(Set(ids).isSuperset(of: stable), "\(start): every agent that was there throughout")
                }
            }
            try await writer.value
        }
    }
}
