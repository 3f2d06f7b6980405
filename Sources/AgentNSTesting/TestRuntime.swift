public import Foundation
public import Runtime
public import RuntimeSQLite

/// A runtime over a real SQLite file in a fresh temporary directory, with its engine running,
/// for tests and benchmarks.
public enum TestRuntime {
    /// A new empty directory under the system's temporary directory.
    public static func temporaryDirectory(_ label: String = "agentns") throws -> String {
        let path = NSTemporaryDirectory() + "\(label)-\(UUID().uuidString.prefix(8).lowercased())"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    /// Opens a runtime over `databasePath` (a new temporary one by default), runs its engine
    /// while `body` runs, then stops the engine and closes the database.
    public static func with<T: Sendable>(
        databasePath: String? = nil, clock: any AgentClock = SystemClock(), kinds: KindRegistry = .testing,
        options: SQLiteStore.Options = .init(), maxConcurrentTicks: Int = 64,
        wrapStore: (@Sendable (SQLiteStore) -> any AgentStore)? = nil, providers: (any ComputeProviderFactory)? = nil,
        sandbox: (any SandboxProvider)? = nil, selfMount: String? = nil, _ body: (Runtime) async throws -> T
    ) async throws -> T {
        let path = try databasePath ?? (temporaryDirectory() + "/agentd.sqlite")
        let trace = ProcessInfo.processInfo.environment["AGENTNS_TEST_TRACE"] != nil
        func mark(_ s: String) { if trace { FileHandle.standardError.write(Data("[harness] \(path): \(s)\n".utf8)) } }
        mark("open")
        defer { mark("closed") }
        let store = try SQLiteStore(path: path, options: options)
        let runtime = Runtime(store: wrapStore?(store) ?? store, clock: clock, kinds: kinds, maxConcurrentTicks: maxConcurrentTicks,
                              providers: providers, sandbox: sandbox, selfMount: selfMount)
        let result: Result<T, any Error> = await withTaskGroup(of: Void.self) { group in
            group.addTask { await runtime.run() }
            let r: Result<T, any Error>
            do { r = .success(try await body(runtime)) } catch { r = .failure(error) }
            mark("body done")
            group.cancelAll()
            await group.waitForAll()
            mark("engine stopped")
            return r
        }
        await store.close()
        return try result.get()
    }

    /// Polls `condition` until it holds or `seconds` pass; returns whether it held. For waiting
    /// on work the engine does asynchronously, never for asserting on time.
    public static func eventually(_ seconds: Double = 10, _ condition: () async throws -> Bool) async rethrows -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try? await Task.sleep(for: .milliseconds(5))
        }
        return try await condition()
    }
}
