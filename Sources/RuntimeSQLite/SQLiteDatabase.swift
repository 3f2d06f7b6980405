import CSQLite
import Foundation
import Namespace
import Synchronization

/// One database file: a writer thread that group-commits and a pool of reader connections.
///
/// Group commit: writes submitted while a commit is in progress wait and then share the next
/// transaction, each inside its own savepoint, so one failing write rolls back alone while the
/// others commit together, behind one fsync. A write's continuation resumes only after COMMIT
/// returned, so an acknowledged write is on disk.
final class SQLiteDatabase: Sendable {
    enum Durability: String, Sendable {
        /// fsync at every commit (WAL, synchronous=FULL): survives power loss.
        case full
        /// WAL, synchronous=NORMAL: survives a process crash (kill -9), not power loss.
        case normal
    }

    let path: String
    let writer: WriterThread
    /// Idle reader connections (nil once closed). Reads run on the calling thread, so as many
    /// run at once as there are threads reading: the Swift pool's (one per core) plus libfuse's
    /// workers with an in-process mount. Up to `maxIdleReaders` stay open for reuse; a read past
    /// that opens a connection and closes it after (docs/storage.md, "Readers").
    private let readers = Mutex<[SQLiteConnection]?>([])
    private let maxIdleReaders = 32
    /// Largest WAL file kept after a checkpoint: a burst of writes (or a long read holding a
    /// snapshot) may grow it, and the next checkpoint that resets it truncates it back to this.
    static let walSizeLimit = 64 << 20

    init(path: String, durability: Durability = .full) throws(FSError) {
        self.path = path
        let conn = try SQLiteConnection(path: path, readOnly: false)
        try conn.exec("PRAGMA journal_mode=WAL")
        try conn.exec("PRAGMA synchronous=\(durability == .full ? "FULL" : "NORMAL")")
        try conn.exec("PRAGMA foreign_keys=OFF")
        try conn.exec("PRAGMA journal_size_limit=\(Self.walSizeLimit)")
        try Schema.migrate(conn)
        writer = WriterThread(connection: conn, fsyncs: durability == .full)
    }

    /// Runs `body` on a reader connection of this thread's choosing. Reads are short: they run
    /// on the calling thread.
    func read<T>(_ body: (SQLiteConnection) throws -> T) throws -> T {
        let (open, idle) = readers.withLock { pool in (pool != nil, pool?.popLast()) }
        guard open else { throw FSError(.unavailable, "the database is closed (agentd is stopping)") }
        let conn = try idle ?? SQLiteConnection(path: path, readOnly: true)
        defer {
            readers.withLock { pool in
                if let count = pool?.count, count < maxIdleReaders { pool?.append(conn) }
            }
        }
        return try body(conn)
    }

    /// Runs `body` in the next group transaction and returns after it committed.
    ///
    /// `durable: false` is for writes no client is told of (a job's stream lines, its end): a
    /// transaction made only of such writes commits without an fsync (synchronous=NORMAL, which
    /// still survives kill -9). Power loss can lose only the newest of them: the next durable
    /// commit's fsync writes the whole WAL before it, so no acknowledged write is ever behind one.
    func write<T: Sendable>(durable: Bool = true, _ body: @escaping @Sendable (SQLiteConnection) throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (c: CheckedContinuation<T, any Error>) in
            writer.submit(WriterThread.Job(
                durable: durable,
                run: { conn in
                    do {
                        let value = try body(conn)
                        return .success { c.resume(returning: value) }
                    } catch {
                        return .failure { c.resume(throwing: error) }
                    }
                },
                fail: { error in c.resume(throwing: error) }
            ))
        }
    }

    func close() {
        readers.withLock { $0 = nil }
        writer.close()
    }
}

/// The one thread that writes. It takes every job queued since its last commit and runs them
/// in one transaction.
final class WriterThread: @unchecked Sendable {
    struct Job: @unchecked Sendable {
        enum Outcome {
            case success(() -> Void)
            case failure(() -> Void)
        }
        var durable = true
        let run: (SQLiteConnection) -> Outcome
        let fail: (any Error) -> Void
    }

    private let connection: SQLiteConnection
    private let condition = NSCondition()
    private var queue: [Job] = []
    private var closed = false
    private var finished = false
    private var thread: Thread?
    /// Runs on this thread after each commit, before any of its writers is resumed, with the
    /// connection whose `recorded` changes it takes (the store's change stream).
    private var onCommit: ((SQLiteConnection) -> Void)?
    /// Largest number of writes in one transaction.
    static let maxBatch = 1024
    /// Moves after every commit, before any of its writers is resumed: a value read before a
    /// read of the database, and unchanged after it, means what was read is still current.
    let generation = Atomic<UInt64>(0)
    /// Counters for benchmarks and metrics.
    private(set) var commits = 0
    private(set) var jobs = 0

    /// Whether the database fsyncs at commit (synchronous=FULL), and what the connection is set
    /// to now: a batch of only non-durable jobs commits at NORMAL.
    private let fsyncs: Bool
    private var syncingNow: Bool
    /// Set when a commit failed with an I/O error (its fsync or its writes to the WAL): what is
    /// on disk is then unknown (the kernel may have dropped the pages it could not write, and a
    /// later fsync that succeeds says nothing about them), so every later write fails with it
    /// until agentd is restarted. Reads go on. Only this thread touches it.
    private var failedDisk: FSError?

    init(connection: SQLiteConnection, fsyncs: Bool) {
        self.connection = connection
        self.fsyncs = fsyncs
        self.syncingNow = fsyncs
        let t = Thread { [unowned self] in self.loop() }
        t.name = "agentns-sqlite-writer"
        thread = t
        t.start()
    }

    func setOnCommit(_ hook: @escaping (SQLiteConnection) -> Void) {
        condition.lock()
        onCommit = hook
        condition.unlock()
    }

    func submit(_ job: Job) {
        condition.lock()
        if closed {
            condition.unlock()
            job.fail(FSError(.unavailable, "the runtime is shutting down"))
            return
        }
        queue.append(job)
        condition.signal()
        condition.unlock()
    }

    var stats: (commits: Int, jobs: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (commits, jobs)
    }

    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        while !finished { condition.wait() }
        condition.unlock()
    }

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && !closed { condition.wait() }
            if queue.isEmpty && closed {
                condition.unlock()
                // Before close() returns: a process that exits right after finds the WAL folded
                // into the database and truncated, not half checkpointed.
                try? connection.exec("PRAGMA wal_checkpoint(TRUNCATE)")
                condition.lock()
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let batch = Array(queue.prefix(Self.maxBatch))
            queue.removeFirst(batch.count)
            let hook = onCommit
            condition.unlock()
            process(batch, hook)
        }
    }

    /// Transaction and savepoint statements go through `query`, whose statement cache prepares
    /// them once (`exec` would parse them for every job).
    private func process(_ batch: [Job], _ onCommit: ((SQLiteConnection) -> Void)?) {
        if let failedDisk {
            for job in batch { job.fail(failedDisk) }
            return
        }
        connection.recorded.removeAll(keepingCapacity: true)
        let sync = fsyncs && batch.contains { $0.durable }
        if sync != syncingNow {
            do {
                try connection.exec(sync ? "PRAGMA synchronous=FULL" : "PRAGMA synchronous=NORMAL")
                syncingNow = sync
            } catch {
                // A durable batch never commits without its fsync; a non-durable one may fsync.
                if sync { for job in batch { job.fail(error) }; return }
            }
        }
        do {
            try connection.query("BEGIN IMMEDIATE")
        } catch {
            for job in batch { job.fail(error) }
            return
        }
        var done: [() -> Void] = []
        done.reserveCapacity(batch.count)
        for job in batch {
            let mark = connection.recorded.count
            do {
                try connection.query("SAVEPOINT job")
                switch job.run(connection) {
                case .success(let resume):
                    try connection.query("RELEASE job")
                    done.append(resume)
                case .failure(let resume):
                    connection.recorded.removeSubrange(mark...)
                    try connection.query("ROLLBACK TO job")
                    try connection.query("RELEASE job")
                    done.append(resume)
                }
            } catch {
                // The savepoint machinery itself failed: the transaction is in doubt.
                try? connection.exec("ROLLBACK")
                for j in batch { j.fail(error) }
                return
            }
        }
        do {
            try connection.query("COMMIT")
        } catch {
            let code = sqlite3_extended_errcode(connection.db)
            try? connection.exec("ROLLBACK")
            if code & 0xff == SQLITE_IOERR {
                failedDisk = FSError(
                    .unavailable,
                    "the disk failed to write or flush the database's log; writes since the last good commit may not survive a power loss, and agentd refuses every write until it is restarted (check the disk and its logs, then restart agentd)",
                    cause: "\(String(cString: sqlite3_errmsg(connection.db))) [\(code)] at COMMIT")
            }
            for job in batch { job.fail(failedDisk ?? error) }
            return
        }
        generation.add(1, ordering: .releasing)
        condition.lock()
        commits += 1
        jobs += batch.count
        condition.unlock()
        // Watchers get this commit's changes before any of its writers runs on: commit order.
        onCommit?(connection)
        connection.recorded.removeAll(keepingCapacity: true)
        for resume in done { resume() }
    }
}
