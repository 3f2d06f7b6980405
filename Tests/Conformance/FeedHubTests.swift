import AgentNSTesting
import Foundation
import Namespace
@testable import Runtime
import RuntimeSQLite
import Services
import Synchronization
import Testing

/// The hub's edges: watchers parked on a feed that is still loading, and the idle sweep.
@Suite struct FeedHubTests {
    /// A second watcher of a file whose feed is still loading waits on the hub; deleting the
    /// agent (or hibernating it) must let it go, not leave its request hanging for ever.
    @Test func watchersParkedOnALoadingFeedAreReleasedWhenTheAgentEnds() async throws {
        let hub = FeedHub()
        let key = FeedHub.Key(agent: "a", topic: .status)
        let (gate, open) = AsyncStream.makeStream(of: Void.self)
        let loader = Task { try await hub.feed(key) { for await _ in gate { break }; return nil } }
        _ = await TestRuntime.eventually(5) { hub.count == 1 }
        let done = Slot()
        let second = Task {
            _ = try? await hub.feed(key) { nil }
            done.value.withLock { $0 = "returned" }
        }
        try await Task.sleep(for: .milliseconds(100))  // parked on the loading entry
        hub.evict(agent: "a")  // hibernation leaves a loading feed alone
        hub.end(agent: "a", reason: "deleted")
        let released = await TestRuntime.eventually(5) { done.value.withLock { $0 != nil } }
        #expect(released, "the second watcher was never released")
        open.yield()
        open.finish()
        _ = try await loader.value
        if !released { second.cancel() }
    }

    /// With many small idle feeds, a new feed is the largest idle one until its watcher
    /// subscribes: the sweep must not retire it before it is handed out (the watch would ask
    /// again for ever).
    @Test func theIdleSweepSparesTheFeedBeingHandedOut() async throws {
        let path = try TestRuntime.temporaryDirectory() + "/agentd.sqlite"
        let store = try SQLiteStore(path: path)
        let rt = Runtime(store: store, kinds: .testing, feeds: FeedHub(maxIdleFeeds: 2))
        for i in 0..<3 { _ = try await rt.createAgent(id: "s\(i)", kind: "echo") }
        _ = try await rt.createAgent(id: "big", kind: "echo")
        for i in 0..<50 { try await rt.send("big", "message \(i)") }
        // Three small idle feeds, each watched once and let go.
        for i in 0..<3 {
            let sub = try await rt.op.subscribe("/agents/s\(i)/status", after: nil)
            _ = sub
        }
        let got = Slot()
        let watch = Task {
            _ = try await rt.op.subscribe("/agents/big/inbox", after: 0)
            got.value.withLock { $0 = "subscribed" }
        }
        let subscribed = await TestRuntime.eventually(5) { got.value.withLock { $0 != nil } }
        #expect(subscribed, "the watch of a fresh feed kept being retired by the sweep")
        if !subscribed { watch.cancel() }
        await store.close()
    }
}
