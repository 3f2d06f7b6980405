public import Foundation
public import Namespace
import Synchronization

/// The FUSE file system in Swift terms: path operations over any FileClient (the in-process
/// runtime or agentd over HTTP), with open handles as Namespace's `OpenFile`. Nothing here
/// knows libfuse; `FUSEMount` translates its calls. Errors are FSErrors, turned into errno
/// by the one table in Namespace.
public final class AgentFileSystem: Sendable {
    public let client: any FileClient
    /// How long a stat answered here may be reused for an open (the kernel caches it as long).
    public let attributeTimeout: Double
    /// When reads may come from the kernel's page cache; nil: never (direct I/O on every open).
    public let pageCache: PageCache?

    let handles = Mutex(HandleTable())
    let attrs = Mutex([String: CachedStat]())

    struct HandleTable {
        var next: UInt64 = 1
        var open: [UInt64: OpenFile] = [:]
        /// Handles whose reads go into the page cache, with the generation they were opened at.
        var cached: [UInt64: PageCache.Mode] = [:]
        /// Open directories and their listing (nil until the first READDIR made it).
        var directories: [UInt64: [FileStat]?] = [:]
    }

    struct CachedStat {
        var stat: FileStat
        var at: UInt64
    }

    public init(client: any FileClient, attributeTimeout: Double = 1, pageCache: PageCache? = nil) {
        self.client = client
        self.attributeTimeout = attributeTimeout
        self.pageCache = pageCache
    }

    // MARK: - Attributes and directories

    /// The stat of `path`; with a handle, that handle's (a file being created has no other).
    public func getattr(_ path: String, handle: UInt64? = nil) async throws -> FileStat {
        if let handle, let file = self.file(handle), await file.isUncommitted {
            var stat = file.stat
            stat.size = Int64(await file.pendingCount)
            return stat
        }
        let generation = pageCache?.beginAttributes(path)
        let stat = try await client.stat(path)
        pageCache?.endAttributes(path, generation)
        remember(path, stat)
        return stat
    }

    public func list(_ path: String) async throws -> [FileStat] {
        let entries = try await client.list(path)
        let prefix = path == "/" ? "" : path
        for entry in entries { remember(prefix + "/" + entry.name, entry) }
        return entries
    }

    /// An open directory: a handle whose listing, once made, serves the rest of its READDIRs.
    public func openDirectory() -> UInt64 {
        handles.withLock { table in
            let h = table.next
            table.next += 1
            table.directories.updateValue(nil, forKey: h)  // open, not listed yet
            return h
        }
    }

    /// The listing made for the open directory `handle`, if any.
    public func listing(_ handle: UInt64) -> [FileStat]? {
        handles.withLock { $0.directories[handle] ?? nil }
    }

    public func keepListing(_ handle: UInt64, _ entries: [FileStat]) {
        handles.withLock { table in
            if table.directories[handle] != nil { table.directories[handle] = entries }
        }
    }

    public func releaseDirectory(_ handle: UInt64) {
        _ = handles.withLock { $0.directories.removeValue(forKey: handle) }
    }

    // MARK: - Handles

    /// Opens an existing file. `flags` are open(2)'s.
    public func open(_ path: String, flags: Int32) async throws -> UInt64 {
        if let handle = try openCached(path, flags: flags) { return handle }
        return try open(path, flags: flags, stat: try await client.stat(path))
    }

    /// The open without a round trip, when a stat of `path` is fresh (the kernel has just
    /// looked the name up, which is the usual case); nil when it is not.
    public func openCached(_ path: String, flags: Int32) throws -> UInt64? {
        guard let stat = fresh(path) else { return nil }
        return try open(path, flags: flags, stat: stat)
    }

    func open(_ path: String, flags: Int32, stat: FileStat) throws -> UInt64 {
        let want = Self.openFlags(flags)
        if stat.type == .dir { throw FSError(.isDirectory, "is a directory", path: path) }
        // The kernel lets root past the mode bits, so the mount checks them itself: a file the
        // principal may not write is refused at open, as on a disk, not later at close.
        if want.contains(.write), stat.mode & 0o222 == 0 { throw FSError.denied(path, "file is not writable") }
        if want.contains(.read), stat.mode & 0o444 == 0 { throw FSError.denied(path, "file is not readable") }
        return insert(try OpenFile(client: client, path: path, flags: want, stat: stat))
    }

    /// True when closing `handle` cannot commit anything (it was not opened for writing), so
    /// flush and release need no round trip.
    public func isReadOnly(_ handle: UInt64) -> Bool {
        handles.withLock { $0.open[handle].map { !$0.flags.contains(.write) } ?? true }
    }

    /// Release of a handle that `isReadOnly`: just forgets it.
    public func releaseReadOnly(_ handle: UInt64) {
        handles.withLock { table in
            table.open.removeValue(forKey: handle)
            table.cached.removeValue(forKey: handle)
        }
    }

    /// O_CREAT of a file that does not exist: committed (or refused) on flush or close.
    public func create(_ path: String, flags: Int32) async throws -> UInt64 {
        let parent = String(path[..<(path.lastIndex(of: "/") ?? path.startIndex)])
        let dir = try await client.stat(parent.isEmpty ? "/" : parent)
        guard dir.type == .dir else { throw FSError(.notDirectory, "not a directory", path: parent) }
        guard dir.mode & 0o200 != 0 else { throw FSError.denied(path, "files cannot be created in \(parent.isEmpty ? "/" : parent)") }
        return insert(OpenFile(creating: path, client: client, flags: Self.openFlags(flags)))
    }

    public func read(_ handle: UInt64, offset: Int64, count: Int) async throws -> Data {
        let (file, generation) = try handles.withLock { table throws(FSError) in
            guard let file = table.open[handle] else { throw FSError(.invalidInput, "read on a handle that is not open") }
            return (file, table.cached[handle])
        }
        if let generation { pageCache?.served(file.path, mode: generation) }
        return try await file.read(offset: offset, count: count)
    }

    /// How a handle just opened reads: through the page cache only when it was opened
    /// read-only, there is a PageCache, and it says the kernel's view of the file is current.
    public func cacheMode(_ handle: UInt64) -> PageCache.Mode {
        guard let pageCache else { return .direct }
        return handles.withLock { table in
            guard let file = table.open[handle], !file.flags.contains(.write) else { return .direct }
            let mode = pageCache.openMode(file.path)
            switch mode {
            case .keep, .fill: table.cached[handle] = mode
            case .direct: break
            }
            return mode
        }
    }

    /// Buffers the bytes; they are committed on flush or close. Offsets are not honoured: a
    /// handle's writes are one message, in the order they were made. Files named `ctl` are the
    /// exception, as in Plan 9: each write(2) is one command, committed at once, so its error
    /// is the write's (the shell's builtin echo never looks at what close returns).
    public func write(_ handle: UInt64, _ data: Data) async throws -> Int {
        let file = try file(handle, or: "write")
        try await file.write(data)
        if Self.isControl(file.path) {
            try await file.flush()
            pageCache?.committed(file.path)
        }
        return data.count
    }

    static func isControl(_ path: String) -> Bool { path == "ctl" || path.hasSuffix("/ctl") }

    /// close(2) of one descriptor: commits, and its error is what close returns.
    public func flush(_ handle: UInt64) async throws {
        let file = try file(handle, or: "flush")
        try await file.flush()
        if file.flags.contains(.write) { pageCache?.committed(file.path) }
        forget(file.path)
    }

    /// The last close: anything still pending is committed, the handle is gone.
    public func release(_ handle: UInt64) async throws {
        let file = handles.withLock { table in
            table.cached.removeValue(forKey: handle)
            return table.open.removeValue(forKey: handle)
        }
        guard let file else { return }
        try await file.close()
        if file.flags.contains(.write) { pageCache?.committed(file.path) }
    }

    /// truncate(2) or ftruncate(2) to zero on a file the principal may write: the next commit
    /// replaces. Other sizes have no meaning for synthetic files.
    public func truncate(_ path: String, size: Int64, handle: UInt64?) async throws {
        guard size == 0 else { throw FSError(.invalidInput, "files here can only be truncated to 0 bytes", path: path) }
        if let handle, self.file(handle) != nil { return }
        let stat = try await client.stat(path)
        if stat.type == .dir { throw FSError(.isDirectory, "is a directory", path: path) }
        guard stat.mode & 0o222 != 0 else { throw FSError.denied(path, "file is not writable") }
    }

    public func unlink(_ path: String) async throws {
        forget(path)
        try await client.remove(path)
        pageCache?.committed(path)
    }

    public var openHandles: Int { handles.withLock { $0.open.count } }

    // MARK: - Helpers

    static func openFlags(_ flags: Int32) -> OpenFile.Flags {
        var out: OpenFile.Flags = []
        switch flags & O_ACCMODE {
        case O_WRONLY: out = [.write]
        case O_RDWR: out = [.read, .write]
        default: out = [.read]
        }
        if flags & O_TRUNC != 0 { out.insert(.truncate) }
        return out
    }

    func insert(_ file: OpenFile) -> UInt64 {
        handles.withLock { table in
            let id = table.next
            table.next += 1
            table.open[id] = file
            return id
        }
    }

    func file(_ handle: UInt64) -> OpenFile? { handles.withLock { $0.open[handle] } }

    func file(_ handle: UInt64, or op: String) throws -> OpenFile {
        guard let file = file(handle) else { throw FSError(.invalidInput, "\(op) on a handle that is not open") }
        return file
    }

    func remember(_ path: String, _ stat: FileStat) {
        let now = DispatchTime.now().uptimeNanoseconds
        attrs.withLock { cache in
            if cache.count > 4096 { cache.removeAll(keepingCapacity: true) }
            cache[path] = CachedStat(stat: stat, at: now)
        }
    }

    func forget(_ path: String) { _ = attrs.withLock { $0.removeValue(forKey: path) } }

    func fresh(_ path: String) -> FileStat? {
        let now = DispatchTime.now().uptimeNanoseconds
        let limit = UInt64(attributeTimeout * 1e9)
        return attrs.withLock { cache in
            guard let hit = cache[path], now &- hit.at < limit else { return nil }
            return hit.stat
        }
    }
}
