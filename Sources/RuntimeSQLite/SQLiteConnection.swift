import CSQLite
import Namespace

/// A value bound to or read from SQLite.
enum SQLValue: Sendable, Equatable {
    case null
    case int(Int64)
    case double(Double)
    case text(String)
    case blob([UInt8])

    var int: Int64? { if case .int(let v) = self { return v } else { return nil } }
    var text: String? { if case .text(let v) = self { return v } else { return nil } }
    var blob: [UInt8]? {
        switch self {
        case .blob(let b): b
        case .text(let t): Array(t.utf8)
        default: nil
        }
    }
}

extension SQLValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral {
    init(stringLiteral value: String) { self = .text(value) }
    init(integerLiteral value: Int64) { self = .int(value) }
}

/// One SQLite connection with a statement cache. Used by one thread at a time: the writer
/// thread owns one, readers borrow theirs from a pool.
final class SQLiteConnection: @unchecked Sendable {
    let db: OpaquePointer
    private var cache: [String: OpaquePointer] = [:]
    /// What the writer's current transaction changed, for the store's change sink (writer only).
    var recorded: [RecordedChange] = []

    init(path: String, readOnly: Bool) throws(FSError) {
        var handle: OpaquePointer?
        let flags = (readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)) | SQLITE_OPEN_NOMUTEX
        let rc = sqlite3_open_v2(path, &handle, flags, nil)
        guard rc == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            if let handle { sqlite3_close_v2(handle) }
            throw FSError(.unavailable, "cannot open the database at \(path): \(message)")
        }
        db = handle
        sqlite3_busy_timeout(db, 5000)
        sqlite3_extended_result_codes(db, 1)
    }

    deinit {
        for stmt in cache.values { sqlite3_finalize(stmt) }
        sqlite3_close_v2(db)
    }

    func error(_ rc: Int32, _ sql: String) -> FSError {
        let message = String(cString: sqlite3_errmsg(db))
        let primary = rc & 0xff
        let what: String
        switch primary {
        case SQLITE_FULL: what = "the disk is full; free space and retry"
        case SQLITE_BUSY, SQLITE_LOCKED: what = "the database is locked by another process; retry"
        case SQLITE_READONLY: what = "the database is read-only; check the data directory's permissions"
        case SQLITE_CORRUPT, SQLITE_NOTADB: what = "the database file is damaged"
        case SQLITE_IOERR: what = "the disk reported an I/O error"
        case SQLITE_CONSTRAINT: return FSError(.alreadyExists, "already exists", cause: message)
        default: what = "storage error"
        }
        return FSError(.unavailable, what, retryAfter: primary == SQLITE_BUSY ? 1 : nil, cause: "\(message) [\(rc)] in \(sql.prefix(80))")
    }

    /// Runs one or more statements with no arguments.
    func exec(_ sql: String) throws(FSError) {
        let rc = sqlite3_exec(db, sql, nil, nil, nil)
        guard rc == SQLITE_OK else { throw error(rc, sql) }
    }

    private func statement(_ sql: String) throws(FSError) -> OpaquePointer {
        if let s = cache[sql] { return s }
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw error(rc, sql) }
        cache[sql] = stmt
        return stmt
    }

    private func bind(_ stmt: OpaquePointer, _ args: [SQLValue]) {
        for (i, arg) in args.enumerated() {
            let idx = Int32(i + 1)
            switch arg {
            case .null: sqlite3_bind_null(stmt, idx)
            case .int(let v): sqlite3_bind_int64(stmt, idx, v)
            case .double(let v): sqlite3_bind_double(stmt, idx, v)
            case .text(let v): sqlite3_bind_text(stmt, idx, v, -1, agentns_sqlite_transient())
            case .blob(let v):
                v.withUnsafeBytes { p in _ = sqlite3_bind_blob(stmt, idx, p.baseAddress, Int32(v.count), agentns_sqlite_transient()) }
            }
        }
    }

    private func column(_ stmt: OpaquePointer, _ i: Int32) -> SQLValue {
        switch sqlite3_column_type(stmt, i) {
        case SQLITE_INTEGER: return .int(sqlite3_column_int64(stmt, i))
        case SQLITE_FLOAT: return .double(sqlite3_column_double(stmt, i))
        case SQLITE_TEXT:
            let n = Int(sqlite3_column_bytes(stmt, i))
            guard let p = sqlite3_column_text(stmt, i) else { return .text("") }
            return .text(String(decoding: UnsafeBufferPointer(start: p, count: n), as: UTF8.self))
        case SQLITE_BLOB:
            let n = Int(sqlite3_column_bytes(stmt, i))
            guard n > 0, let p = sqlite3_column_blob(stmt, i) else { return .blob([]) }
            return .blob(Array(UnsafeRawBufferPointer(start: p, count: n)))
        default: return .null
        }
    }

    /// Runs a statement and returns its rows.
    @discardableResult
    func query(_ sql: String, _ args: SQLValue...) throws(FSError) -> [[SQLValue]] { try query(sql, args) }

    func query(_ sql: String, _ args: [SQLValue]) throws(FSError) -> [[SQLValue]] {
        let stmt = try statement(sql)
        defer {
            sqlite3_reset(stmt)
            sqlite3_clear_bindings(stmt)
        }
        bind(stmt, args)
        var rows: [[SQLValue]] = []
        let n = sqlite3_column_count(stmt)
        while true {
            let rc = sqlite3_step(stmt)
            if rc == SQLITE_DONE { break }
            guard rc == SQLITE_ROW else { throw error(rc, sql) }
            rows.append((0..<n).map { column(stmt, $0) })
        }
        return rows
    }

    /// The first column of the first row.
    func scalar(_ sql: String, _ args: SQLValue...) throws(FSError) -> SQLValue? { try query(sql, args).first?.first }

    var lastInsertRowID: Int64 { sqlite3_last_insert_rowid(db) }
    var changes: Int { Int(sqlite3_changes(db)) }
}
