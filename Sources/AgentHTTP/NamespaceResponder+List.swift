import Foundation
import HTTPTypes
import Hummingbird
import Namespace
import NIOCore
import Runtime

extension NamespaceResponder {
    /// The most agents one page of `GET /agents?limit=N` holds.
    static let maxAgentsPage = 10_000
    /// Rows fetched from the store at a time while streaming the whole list.
    static let streamedAgentsPage = 1_000

    /// `GET /agents`: agents in id order, `{id, kind, state, tick_count}` each.
    ///
    /// - `?limit=N` (1 to 10,000) answers one page of at most N; when agents follow it, a
    ///   `Link: </agents?after=<last id>&limit=N>; rel="next"` header names the next page, and
    ///   its absence says this is the last one.
    /// - `?after=<id>` starts after that id (it need not be an agent that exists).
    /// - Without `limit` the whole list is answered, streamed a store page at a time, so a
    ///   node of millions of agents is listed in bounded memory and nothing is cut off.
    ///
    /// The list is not a snapshot: an agent created or deleted while it is read may be in it
    /// or not, but every id is there at most once and in order, and every agent that exists
    /// from the first byte to the last is there.
    func listAgents(_ request: Request, principal: Principal, head: Bool) async throws -> Response {
        let query = request.uri.queryParameters
        let after = try query["after"].map { raw throws(FSError) in try AgentID.validate(String(raw), what: "after") }
        let limit: Int? = try query["limit"].map { raw throws(FSError) in
            guard let n = Int(raw), (1...Self.maxAgentsPage).contains(n) else {
                throw FSError.invalidInput("limit must be a whole number from 1 to \(Self.maxAgentsPage)", path: "/agents")
            }
            return n
        }
        if case .agent(let own) = principal {
            // An agent's token sees its own agent only: no walk over everyone else's rows.
            let own = (after.map { own > $0 } ?? true) ? try await runtime.agentSummary(own) : nil
            return json(.array(own.map { [$0] } ?? []), head: head)
        }
        if let limit {
            var page = try await runtime.listAgents(after: after, limit: limit + 1)
            let more = page.count > limit
            if more { page.removeLast() }
            var response = json(.array(page), head: head)
            if more, let last = page.last?["id"]?.stringValue {
                response.headers[HTTPField.Name("Link")!] = "</agents?after=\(last)&limit=\(limit)>; rel=\"next\""
            }
            return response
        }
        let headers: HTTPFields = [.contentType: "application/json"]
        if head { return Response(status: .ok, headers: headers, body: ResponseBody()) }
        let runtime = self.runtime
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            var cursor = after
            var buffer = ByteBuffer(string: "[")
            var first = true
            while true {
                let page = try await runtime.listAgents(after: cursor, limit: Self.streamedAgentsPage)
                for row in page {
                    if !first { buffer.writeString(",") }
                    first = false
                    buffer.writeString(row.description)
                }
                guard page.count == Self.streamedAgentsPage, let last = page.last?["id"]?.stringValue else { break }
                cursor = last
                try await writer.write(buffer)
                buffer.clear()
            }
            buffer.writeString("]\n")
            try await writer.write(buffer)
            try await writer.finish(nil)
        })
    }
}
