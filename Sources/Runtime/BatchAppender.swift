public import Namespace

/// Writes records of a stream (a job's tokens, an exec's output) while their producer keeps
/// producing them: each write takes every item that arrived while the previous one was
/// committing (group commit for one stream), so the producer never waits on the disk and a
/// watcher still gets each item one commit after it arrived. Items are written in arrival
/// order, by one writer at a time.
actor BatchAppender<Item: Sendable> {
    let write: @Sendable ([Item]) async throws -> Void
    var pending: [Item] = []
    var writing = false
    var failure: (any Error)?
    /// Set by `close`: the writer finishes the write in flight and takes no more.
    var closing = false
    var idle: [CheckedContinuation<Void, Never>] = []
    /// Items added so far.
    private(set) var added = 0

    init(write: @escaping @Sendable ([Item]) async throws -> Void) { self.write = write }

    /// Queues an item; throws the first failed write's error.
    func add(_ item: Item) throws {
        if let failure { throw failure }
        pending.append(item)
        added += 1
        guard !writing else { return }
        writing = true
        Task { await drain() }
    }

    private func drain() async {
        while !pending.isEmpty, failure == nil, !closing {
            let items = pending
            pending = []
            do { try await write(items) } catch { failure = error }
        }
        writing = false
        let waiters = idle
        idle = []
        for w in waiters { w.resume() }
    }

    /// Waits for the write in flight and hands back what is still queued, for the end to
    /// commit with it; throws the first failed write's error. Items added after this are refused.
    func close() async throws -> [Item] {
        closing = true
        if writing { await withCheckedContinuation { idle.append($0) } }
        if let failure { throw failure }
        defer {
            pending = []
            failure = FSError(.invalidInput, "the stream is closed")
        }
        return pending
    }
}

/// A job's stream line, with the trace record committed with it (the first token's).
struct StreamLine: Sendable {
    var line: String
    var trace: JSON?
}
