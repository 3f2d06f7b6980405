import CSQLite
import Foundation
import Namespace
import Synchronization

/// One database file: a writer thread that group-commits and a pool of reader connections.
///
/// Group commit: writes submitted while a commit is in progress wait and then share the next
/// transaction, each inside its own savepoint, so one failing write rolls back alone while the
/// others commit together, behind one flush. A write's continuation resumes only after the
/// flush that covers its commit returned, so an acknowledged write is on disk.
///
/// With `.full` durability the flush is pipelined (docs/storage.md, "Durability"): the writer
/// commits at synchronous=NORMAL and hands the commit to a `LogFlusher`, which fdatasyncs the
/// write-ahead log, then publishes the commit's changes and resumes its writers, while the
/// writer already runs the next batch. A batch is written while the one before is flushed.
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
        // Migrations commit with SQLite's own fsync; every commit after them flushes through
        // the LogFlusher, so the connection stays at NORMAL (which still syncs around checkpoints).
        try conn.exec("PRAGMA synchronous=\(durability == .full ? "FULL" : "NORMAL")")
        try conn.exec("PRAGMA foreign_keys=OFF")
        try conn.exec("PRAGMA journal_size_limit=\(Self.walSizeLimit)")
        try Schema.migrate(conn)
        var flusher: LogFlusher?
        if durability == .full {
            try conn.exec("PRAGMA synchronous=NORMAL")
            flusher = LogFlusher(log: path + "-wal")
        }
        writer = WriterThread(connection: conn, flusher: flusher)
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

    /// Runs `body` in the next group transaction and returns after it committed and (if
    /// `durable`) the write-ahead log holding it was flushed.
    ///
    /// `durable: false` is for writes no client is told of (a job's stream lines, its end): a
    /// transaction made only of such writes needs no flush (it still survives kill -9). Power
    /// loss can lose only the newest of them: the next durable commit's flush writes the whole
    /// WAL before it, so no acknowledged write is ever behind one.
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
/// in one transaction, then hands the commit to the flusher (or, without one, resumes its
/// writers itself).
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
    /// Runs on this thread after each commit, with the connection whose `recorded` changes it
    /// takes (the store's change stream); what it returns hands them to watchers, and runs
    /// before any of the commit's writers is resumed, after the commit's flush.
    private var onCommit: ((SQLiteConnection) -> (() -> Void)?)?
    /// Flushes the log after commits (nil: durability `.normal`, nothing to flush).
    private let flusher: LogFlusher?
    /// Largest number of writes in one transaction.
    static let maxBatch = 1024
    /// Moves after every commit, before any of its writers is resumed: a value read before a
    /// read of the database, and unchanged after it, means what was read is still current.
    let generation = Atomic<UInt64>(0)
    /// Counters for benchmarks and metrics.
    private(set) var commits = 0
    private(set) var jobs = 0

    init(connection: SQLiteConnection, flusher: LogFlusher?) {
        self.connection = connection
        self.flusher = flusher
        let t = Thread { [unowned self] in self.loop() }
        t.name = "agentns-sqlite-writer"
        thread = t
        t.start()
    }

    func setOnCommit(_ hook: @escaping (SQLiteConnection) -> (() -> Void)?) {
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

    var stats: (commits: Int, jobs: Int, flushes: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (commits, jobs, flusher?.flushes ?? 0)
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
            // One commit may be flushing while the next is written; a third waits, and the jobs
            // arriving meanwhile join its batch (what a slow flush buys is bigger batches).
            flusher?.waitUntilPending(below: 2)
            condition.lock()
            while queue.isEmpty && !closed { condition.wait() }
            if queue.isEmpty && closed {
                condition.unlock()
                flusher?.close()
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
    private func process(_ batch: [Job], _ onCommit: ((SQLiteConnection) -> (() -> Void)?)?) {
        if let failure = flusher?.failure {
            for job in batch { job.fail(failure) }
            return
        }
        connection.recorded.removeAll(keepingCapacity: true)
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
            try? connection.exec("ROLLBACK")
            for job in batch { job.fail(error) }
            return
        }
        generation.add(1, ordering: .releasing)
        condition.lock()
        commits += 1
        jobs += batch.count
        condition.unlock()
        let publish = onCommit?(connection)
        connection.recorded.removeAll(keepingCapacity: true)
        let durable = batch.contains { $0.durable }
        if let flusher, durable || flusher.pending > 0 {
            // Changes are published in commit order, so a commit that needs no flush still
            // waits behind one that does.
            flusher.submit(LogFlusher.Commit(flush: durable, publish: publish, resume: done, fail: batch.map(\.fail)))
            return
        }
        // Watchers get this commit's changes before any of its writers runs on: commit order.
        publish?()
        for resume in done { resume() }
    }
}

/// The thread that makes commits durable: it fdatasyncs the write-ahead log once for every
/// commit handed to it since its last flush, then publishes their changes and resumes their
/// writers, in commit order.
///
/// A commit at synchronous=NORMAL has written its frames to the WAL file but not flushed them.
/// Until the flush returns, readers of the database already see the commit (kill -9 keeps it:
/// it is in the OS's page cache) but power loss could take it, so no writer is told of it and
/// no watcher gets it. A flush that fails leaves the log's state on disk unknown (the kernel
/// may have dropped the pages it could not write, and a later flush that succeeds proves
/// nothing about them): the writes it covered fail, and so does every write after it, until
/// agentd is restarted.
final class LogFlusher: @unchecked Sendable {
    struct Commit {
        var flush: Bool
        var publish: (() -> Void)?
        var resume: [() -> Void]
        var fail: [(any Error) -> Void]
    }

    /// The WAL file.
    let log: String
    private let condition = NSCondition()
    private var queue: [Commit] = []
    /// Commits handed over and not yet published (queued or being flushed).
    private var pendingCount = 0
    private var failed: FSError?
    private var closed = false
    private var finished = false
    private(set) var flushes = 0
    /// The WAL open for flushing, and the file it was when opened (a WAL deleted and made again
    /// is a different file: flushing the old one would flush nothing).
    private var fd: Int32 = -1
    private var identity: (dev: UInt64, ino: UInt64) = (0, 0)

    init(log: String) {
        self.log = log
        let t = Thread { [unowned self] in self.loop() }
        t.name = "agentns-sqlite-flusher"
        t.start()
    }

    deinit { if fd >= 0 { Glibc.close(fd) } }

    var pending: Int {
        condition.lock()
        defer { condition.unlock() }
        return pendingCount
    }

    /// Set once a flush failed; every later write fails with it.
    var failure: FSError? {
        condition.lock()
        defer { condition.unlock() }
        return failed
    }

    func submit(_ commit: Commit) {
        condition.lock()
        queue.append(commit)
        pendingCount += 1
        condition.broadcast()
        condition.unlock()
    }

    func waitUntilPending(below limit: Int) {
        condition.lock()
        while pendingCount >= limit { condition.wait() }
        condition.unlock()
    }

    /// Flushes and publishes what was handed over, then stops the thread.
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
                finished = true
                condition.broadcast()
                condition.unlock()
                return
            }
            let commits = queue
            queue.removeAll(keepingCapacity: true)
            var error = failed
            condition.unlock()
            if error == nil, commits.contains(where: \.flush) {
                error = flush()
            }
            condition.lock()
            if let error, failed == nil { failed = error }
            if error == nil, commits.contains(where: \.flush) { flushes += 1 }
            condition.unlock()
            for c in commits {
                // The changes are in the database (readers see them) whether or not the flush
                // held: watchers get them either way, so a watch never disagrees with a read.
                c.publish?()
                if let error {
                    for f in c.fail { f(error) }
                } else {
                    for r in c.resume { r() }
                }
            }
            condition.lock()
            pendingCount -= commits.count
            condition.broadcast()
            condition.unlock()
        }
    }

    /// fdatasync of the WAL; nil when it held.
    private func flush() -> FSError? {
        var now = stat()
        let exists = stat(log, &now) == 0
        if fd < 0 || !exists || (UInt64(now.st_dev), UInt64(now.st_ino)) != identity {
            if fd >= 0 { Glibc.close(fd); fd = -1 }
            guard exists else { return wholeFileSystem() }
            let opened = open(log, O_RDWR | O_CLOEXEC)
            var st = stat()
            guard opened >= 0, fstat(opened, &st) == 0 else {
                if opened >= 0 { Glibc.close(opened) }
                return failure("open the write-ahead log \(log) to flush it", errno)
            }
            fd = opened
            identity = (UInt64(st.st_dev), UInt64(st.st_ino))
            // A log made since the last flush also needs its name on disk.
            if let e = syncDirectory() { return e }
        }
        guard fdatasync(fd) == 0 else { return failure("flush the write-ahead log \(log)", errno) }
        return nil
    }

    /// The WAL is missing, which SQLite does not do while its writer is open: flush everything
    /// (sync(2)), which covers whatever file the commit went to, and find the WAL at the next flush.
    private func wholeFileSystem() -> FSError? {
        Glibc.sync()
        return nil
    }

    private func syncDirectory() -> FSError? {
        let dir = open((log as NSString).deletingLastPathComponent, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dir >= 0 else { return failure("open the database's directory to flush it", errno) }
        defer { Glibc.close(dir) }
        return fsync(dir) == 0 ? nil : failure("flush the database's directory", errno)
    }

    private func failure(_ what: String, _ code: Int32) -> FSError {
        FSError(
            .unavailable,
            "the disk failed to \(what); writes since the last good flush may not survive a power loss, and agentd refuses every write until it is restarted (check the disk and its logs, then restart agentd)",
            cause: String(cString: strerror(code)))
    }
}
