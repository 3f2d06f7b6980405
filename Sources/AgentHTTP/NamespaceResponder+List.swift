import Foundation
import HTTPTypes
import Hummingbird
import Namespace
import NIOCore
import Runtime
import ServiceLifecycle
import Synchronization

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
        if try Self.flag(query, "watch") { return try changes(principal: principal, head: head) }
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

extension NamespaceResponder {
    /// `GET /agents?watch=1`: which agents changed, as Server-Sent Events — `changed` with the
    /// agent's id as data, once per agent per commit (coalesced while the client is behind), sent
    /// after the commit and before its writers are answered. `reset` (no agent) says more
    /// changed than could be held for a slow client: anything may have changed. Ids count the
    /// stream's events (there is no resuming: a client that reconnects treats everything as
    /// changed). An agent's token sees its own agent's changes only. This is what a remote
    /// agentfs keeps its page cache fresh by.
    func changes(principal: Principal, head: Bool) throws -> Response {
        let headers = Self.eventStreamHeaders
        if head { return Response(status: .ok, headers: headers, body: ResponseBody()) }
        var only: String?
        if case .agent(let own) = principal { only = own }
        let queue = ChangeQueue(only: only)
        let runtime = self.runtime
        // At least every 2 s: a remote mount counts a stream silent for 12 s as lost (and its
        // HTTP client's read timeout, 10 s unless told, ends a silent connection sooner).
        let heartbeat = Duration.milliseconds(Int64(min(options.heartbeatSeconds, 2) * 1000))
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            let observer = runtime.observeChanges { queue.add($0) }
            defer { runtime.stopObservingChanges(observer) }
            // The first event: every commit from here on is told, what came before is not.
            try await writer.write(ByteBuffer(string: ": watching /agents\n\nid: 1\nevent: reset\ndata: \n\n"))
            var id: UInt64 = 1
            try await Self.pumpEvents(every: heartbeat, wake: { queue.wake() }, onShutdown: { queue.close() }) {
                var buffer = ByteBuffer()
                while let batch = await queue.next() {
                    buffer.clear()
                    if batch.reset {
                        id += 1
                        buffer.writeString("id: \(id)\nevent: reset\ndata: \n\n")
                    }
                    for agent in batch.agents {
                        id += 1
                        buffer.writeString("id: \(id)\nevent: changed\ndata: \(agent)\n\n")
                    }
                    if buffer.readableBytes == 0 { buffer.writeString(": keep-alive\n\n") }
                    try await writer.write(buffer)
                }
            }
            try await writer.finish(nil)
        })
    }
}

/// The agents changed since a change stream's client last took them: a set, so a client that
/// falls behind holds one entry per agent, never a backlog; past `limit` it is one `reset`.
final class ChangeQueue: Sendable {
    struct Batch {
        var agents: [String]
        var reset: Bool
    }

    struct State {
        var pending = Set<String>()
        var reset = false
        var woken = false
        var closed = false
        var waiter: CheckedContinuation<Void, Never>?
    }

    let state = Mutex(State())
    let only: String?
    let limit: Int

    init(only: String?, limit: Int = 10_000) {
        self.only = only
        self.limit = limit
    }

    /// On the store's writer: quick, never blocks.
    func add(_ agents: Set<String>) {
        if let only, !agents.contains(only) { return }
        update { s in
            if s.closed { return }
            if let only {
                s.pending.insert(only)
            } else if !s.reset {
                s.pending.formUnion(agents)
                if s.pending.count > limit {
                    s.pending.removeAll()
                    s.reset = true
                }
            }
        }
    }

    /// Wakes the stream for a keep-alive comment.
    func wake() { update { $0.woken = true } }

    func close() { update { $0.closed = true } }

    /// Changes the state and resumes the stream if it waits.
    private func update(_ change: (inout State) -> Void) {
        let waiter = state.withLock { s -> CheckedContinuation<Void, Never>? in
            change(&s)
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume()
    }

    /// What changed since the last call (empty after a wake), or nil once closed.
    func next() async -> Batch? {
        while true {
            if let batch = take() { return batch.agents.isEmpty && !batch.reset && state.withLock({ $0.closed }) ? nil : batch }
            await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                let ready = state.withLock { s -> Bool in
                    if s.closed || s.woken || s.reset || !s.pending.isEmpty { return true }
                    s.waiter = c
                    return false
                }
                if ready { c.resume() }
            }
        }
    }

    func take() -> Batch? {
        state.withLock { s -> Batch? in
            if s.closed { return Batch(agents: [], reset: false) }
            guard s.woken || s.reset || !s.pending.isEmpty else { return nil }
            let batch = Batch(agents: s.pending.sorted(), reset: s.reset)
            s.pending.removeAll(keepingCapacity: true)
            s.reset = false
            s.woken = false
            return batch
        }
    }
}
