public import Runtime
import Synchronization

/// An in-memory compute provider for tests: the model name picks the behaviour, and every call
/// is counted, so a test can prove a refusal or a journaled retry never reached a provider.
///
/// - `fixed`: deltas "Hello", " world"; usage 10 prompt + 2 completion tokens.
/// - `nousage`: the same text with no usage.
/// - `echo`: the last message's content as one delta, usage 1 + 1.
/// - `hold`: one delta "…", then waits until `release()` (or cancellation), then " done" and usage 10 + 2.
/// - `fail`: throws a ProviderError (status 500).
public final class ScriptedProvider: ComputeProvider, ComputeProviderFactory {
    struct State {
        var calls = 0
        var cancelled = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
        var released = false
        var requests: [CompletionRequest] = []
    }

    let state = Mutex(State())
    public let health = ProviderHealth(ok: true, latencyMs: 0.5, checkedAt: 0)

    public init() {}

    public func provider(for config: ProviderConfig) throws -> any ComputeProvider { self }

    /// Provider calls so far.
    public var calls: Int { state.withLock { $0.calls } }
    /// Every request received, in order.
    public var requests: [CompletionRequest] { state.withLock { $0.requests } }
    /// Calls that ended by cancellation.
    public var cancelled: Int { state.withLock { $0.cancelled } }

    /// Lets every `hold` call (present and future) finish.
    public func release() {
        let waiters = state.withLock { s in
            s.released = true
            defer { s.waiters = [] }
            return s.waiters
        }
        for w in waiters { w.resume() }
    }

    public func complete(_ request: CompletionRequest, onDelta: @escaping @Sendable (String) async throws -> Void) async throws -> CompletionResult {
        state.withLock { s in
            s.calls += 1
            s.requests.append(request)
        }
        do {
            switch request.model {
            case "nousage":
                try await onDelta("Hello")
                try await onDelta(" world")
                return CompletionResult(text: "Hello world", finishReason: "stop", usage: nil)
            case "echo":
                let text = request.messages.last?.content ?? ""
                try await onDelta(text)
                return CompletionResult(text: text, finishReason: "stop", usage: TokenUsage(promptTokens: 1, completionTokens: 1))
            case "hold":
                try await onDelta("…")
                await withTaskCancellationHandler {
                    await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
                        let go = state.withLock { s -> Bool in
                            if s.released || Task.isCancelled { return true }
                            s.waiters.append(c)
                            return false
                        }
                        if go { c.resume() }
                    }
                } onCancel: {
                    let waiters = state.withLock { s in
                        defer { s.waiters = [] }
                        return s.waiters
                    }
                    for w in waiters { w.resume() }
                }
                try Task.checkCancellation()
                try await onDelta(" done")
                return CompletionResult(text: "… done", finishReason: "stop", usage: TokenUsage(promptTokens: 10, completionTokens: 2))
            case "fail":
                throw ProviderError("the provider answered 500: boom", status: 500)
            default:
                try await onDelta("Hello")
                try await onDelta(" world")
                return CompletionResult(text: "Hello world", finishReason: "stop", usage: TokenUsage(promptTokens: 10, completionTokens: 2))
            }
        } catch is CancellationError {
            state.withLock { $0.cancelled += 1 }
            throw CancellationError()
        }
    }

    public func probe() async -> ProviderHealth { health }
}
