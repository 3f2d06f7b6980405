import Testing

/// Runs a suite with one fake OpenAI server (FakeOpenAI.current), stopped when the suite ends.
struct FakeOpenAIScope: SuiteTrait, TestScoping {
    func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
        let server = try FakeOpenAI.start()
        do {
            try await FakeOpenAI.$current.withValue(server) { try await function() }
        } catch {
            await server.stop()
            throw error
        }
        await server.stop()
    }
}

extension Trait where Self == FakeOpenAIScope {
    static var fakeOpenAI: Self { Self() }
}
