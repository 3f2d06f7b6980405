public import struct Foundation.Data

/// One agent's namespace as a principal sees it. This is where walking, access levels, node
/// permissions and error shaping happen, once, before any service code runs: lib9p's `srv.c`.
public struct Namespace: Sendable {
    public let agentID: String
    public let table: MountTable
    /// How paths are shown to clients, e.g. `/agents/scout`.
    public let prefix: String
    public let budget: (any BudgetLedger)?
    /// When the agent was made (ms since the epoch): the time of every file and directory
    /// that has no later change of its own, so no file is without a time.
    public let createdAt: Int64

    public init(agentID: String, table: MountTable, prefix: String, budget: (any BudgetLedger)? = nil, createdAt: Int64 = 0) {
        self.agentID = agentID
        self.table = table
        self.prefix = prefix
        self.budget = budget
        self.createdAt = createdAt
    }

    func shown(_ path: Path) -> String { path.isRoot ? prefix + "/" : prefix + path.description }

    /// The service, node and context for `path`, after the checks that need no service code.
    /// The mount serving `path`, checked against the mount's access level. With
    /// `refusingDirectories`, a directory made only of mount points is `isDirectory` (looked for
    /// only when no mount resolves, so the table is walked once on the way to a file).
    func route(_ path: Path, _ principal: Principal, _ op: Operation,
                       refusingDirectories: Bool = false) throws(FSError) -> (MountTable.Entry, Path, RequestContext) {
        if refusingDirectories && path.isRoot { throw FSError(.isDirectory, "is a directory", path: shown(path)) }
        guard let (entry, rest) = table.resolve(path) else {
            if refusingDirectories, table.syntheticChildren(of: path) != nil { throw FSError(.isDirectory, "is a directory", path: shown(path)) }
            throw FSError.notFound(shown(path))
        }
        if case .agent = principal, !entry.access.permits(op), !(op == .write && entry.access == .signOnly) {
            // sign-only lets calls through; whether a write is a call is known after the walk.
            throw FSError.denied(shown(path), "\(entry.path) is mounted \(entry.access.rawValue)")
        }
        let ctx = RequestContext(principal: principal, agentID: agentID, mount: entry, shownPath: shown(path), table: table)
        return (entry, rest, ctx)
    }

    func guarded<T>(_ path: Path, _ body: () async throws -> T) async throws(FSError) -> T {
        do {
            return try await body()
        } catch let e as FSError {
            throw e.at(shown(path))
        } catch is CancellationError {
            throw FSError(.unavailable, "request cancelled", path: shown(path))
        } catch {
            throw FSError(.unavailable, "internal error serving this file; try again", path: shown(path), cause: String(describing: error))
        }
    }

    func check(_ node: Node, _ op: Operation, _ ctx: RequestContext) throws(FSError) {
        let agent: Bool
        if case .agent = ctx.principal { agent = true } else { agent = false }
        if agent, !ctx.mount.access.permits(op) {
            throw FSError.denied(ctx.shownPath, "\(ctx.mount.path) is mounted \(ctx.mount.access.rawValue)")
        }
        switch op {
        case .read:
            if node.type == .dir { throw FSError(.isDirectory, "is a directory", path: ctx.shownPath) }
            if !node.perms.contains(.read) { throw FSError.denied(ctx.shownPath, "file cannot be read") }
        case .list:
            if node.type != .dir { throw FSError(.notDirectory, "not a directory", path: ctx.shownPath) }
        case .write, .call:
            if node.type == .dir { throw FSError(.isDirectory, "is a directory", path: ctx.shownPath) }
            if !node.perms.contains(.write) { throw FSError.denied(ctx.shownPath, "file cannot be written") }
            if agent, node.perms.contains(.operatorOnlyWrite) { throw FSError.denied(ctx.shownPath, "only the operator may write this file") }
        case .create:
            if node.type != .dir { throw FSError(.notDirectory, "not a directory", path: ctx.shownPath) }
            if !node.perms.contains(.create) { throw FSError.denied(ctx.shownPath, "no new files can be created here") }
        case .remove:
            if !node.perms.contains(.remove) { throw FSError.denied(ctx.shownPath, "file cannot be removed") }
        case .stat, .watch:
            break
        }
    }

    /// Runs `body` charged to the budget when `op` on this mount spends: the unit is reserved
    /// first (so concurrent writes cannot overspend) and given back if `body` fails, so only
    /// writes that happen are paid for.
    private func charged<T>(_ op: Operation, _ ctx: RequestContext, _ body: () async throws -> T) async throws -> T {
        guard case .agent = ctx.principal, ctx.mount.access.charges(op) else { return try await body() }
        guard let budget else { throw FSError(.budgetExceeded, "no budget is configured for this agent", path: ctx.shownPath) }
        try await budget.spend(agent: agentID, units: 1, path: ctx.shownPath)
        do {
            return try await body()
        } catch {
            try? await budget.refund(agent: agentID, units: 1, path: ctx.shownPath)
            throw error
        }
    }

    // MARK: - Operations

    public func stat(_ path: Path, as principal: Principal) async throws(FSError) -> FileStat {
        if table.syntheticChildren(of: path) != nil { return directoryStat(path) }
        let (entry, rest, ctx) = try route(path, principal, .stat)
        return try await guarded(path) {
            let node = try await entry.service.walk(rest, ctx)
            var size = node.size ?? 0
            if node.size == nil, node.type == .file, node.perms.contains(.read) {
                size = Int64(try await entry.service.read(node, ctx).count)
            }
            return fileStat(node, at: path, size: size, ctx)
        }
    }

    public func list(_ path: Path, as principal: Principal) async throws(FSError) -> [FileStat] {
        if let names = table.syntheticChildren(of: path) {
            var out: [FileStat] = []
            for name in names {
                let child = path.appending(Path(validated: [name]))
                if table.syntheticChildren(of: child) != nil {
                    out.append(directoryStat(child))
                } else if let (entry, rest) = table.resolve(child) {
                    let ctx = RequestContext(principal: principal, agentID: agentID, mount: entry, shownPath: shown(child), table: table)
                    if let node = try? await entry.service.walk(rest, ctx) {
                        out.append(fileStat(node, at: child, size: node.size ?? 0, ctx))
                    }
                }
            }
            return out
        }
        let (entry, rest, ctx) = try route(path, principal, .list)
        return try await guarded(path) {
            let node = try await entry.service.walk(rest, ctx)
            try check(node, .list, ctx)
            return try await entry.service.list(node, ctx).map { child in
                fileStat(child, at: entry.path.appending(child.path), size: child.size ?? 0, ctx)
            }.sorted { $0.name < $1.name }
        }
    }

    /// Reads the whole file.
    public func read(_ path: Path, as principal: Principal) async throws(FSError) -> Data {
        try await read(path, .all, as: principal).data
    }

    /// Reads `range` of the file: the bytes and the offset they begin at (see FileSlice).
    public func read(_ path: Path, _ range: ByteRange, as principal: Principal) async throws(FSError) -> FileSlice {
        let (entry, rest, ctx) = try route(path, principal, .read, refusingDirectories: true)
        return try await guarded(path) {
            let node = try await entry.service.walk(rest, ctx)
            try check(node, .read, ctx)
            if range.isAll, node.type != .stream { return FileSlice(try await entry.service.read(node, ctx), at: 0) }
            return try await entry.service.read(node, range, ctx)
        }
    }

    /// Writes, appends, sends or calls; creates the file when its directory allows it.
    /// Returns the answer (a call's result, a created id, or nothing).
    public func write(_ path: Path, _ data: Data, mode: WriteMode, as principal: Principal) async throws(FSError) -> Data {
        let (entry, rest, ctx) = try route(path, principal, .write, refusingDirectories: true)
        return try await guarded(path) {
            let node: Node
            do {
                node = try await entry.service.walk(rest, ctx)
            } catch let e as FSError where e.code == .notFound && !rest.isRoot {
                let dir: Node
                do {
                    dir = try await entry.service.walk(rest.parent, ctx)
                } catch let e as FSError where e.code == .notFound && entry.service.createsMissingDirectories && !rest.parent.isRoot {
                    // The service makes the directories: the nearest one that exists decides.
                    var existing = rest.parent.parent
                    var found: Node?
                    while found == nil {
                        do { found = try await entry.service.walk(existing, ctx) } catch let e as FSError where e.code == .notFound && !existing.isRoot {
                            existing = existing.parent
                        }
                    }
                    guard var ancestor = found, ancestor.type == .dir, ancestor.perms.contains(.create) else { throw e }
                    ancestor.path = rest.parent
                    dir = ancestor
                }
                try check(dir, .create, ctx)
                return try await charged(.create, ctx) { try await entry.service.create(rest.name, in: dir, data, ctx) }
            }
            let op: Operation = node.type == .call ? .call : .write
            try check(node, op, ctx)
            return try await charged(op, ctx) { try await entry.service.write(node, data, mode, ctx) }
        }
    }

    public func remove(_ path: Path, as principal: Principal) async throws(FSError) {
        if table.syntheticChildren(of: path) != nil { throw FSError.denied(shown(path), "a mount point cannot be removed") }
        let (entry, rest, ctx) = try route(path, principal, .remove)
        try await guarded(path) {
            let node = try await entry.service.walk(rest, ctx)
            try check(node, .remove, ctx)
            try await entry.service.remove(node, ctx)
        }
    }

    /// The feed of a watchable file or directory; subscribe to it for records.
    public func feed(_ path: Path, as principal: Principal) async throws(FSError) -> RecordFeed {
        let (entry, rest, ctx) = try route(path, principal, .watch)
        return try await guarded(path) {
            let node = try await entry.service.walk(rest, ctx)
            return try await entry.service.feed(node, ctx)
        }
    }

    // MARK: - Stat shaping

    func directoryStat(_ path: Path) -> FileStat {
        FileStat(name: path.name, type: .dir, size: 0, mtime: createdAt, version: 0, id: FileStat.stableID(shown(path)), mode: 0o555)
    }

    func fileStat(_ node: Node, at path: Path, size: Int64, _ ctx: RequestContext) -> FileStat {
        FileStat(name: path.name, type: node.type, size: size, mtime: max(node.mtime, createdAt), version: node.version,
                 id: FileStat.stableID(shown(path)), mode: mode(node, ctx))
    }

    /// Unix permission bits for the asking principal.
    func mode(_ node: Node, _ ctx: RequestContext) -> UInt32 {
        let isAgent: Bool
        if case .agent = ctx.principal { isAgent = true } else { isAgent = false }
        let access = isAgent ? ctx.mount.access : .readWrite
        if access == .disabled { return 0 }
        let canRead = node.perms.contains(.read)
        var canWrite = node.perms.contains(.write) && access.permits(node.type == .call ? .call : .write)
        if isAgent, node.perms.contains(.operatorOnlyWrite) { canWrite = false }
        switch node.type {
        case .dir:
            return 0o555 | (node.perms.contains(.create) && access.permits(.create) ? 0o200 : 0)
        case .file, .stream, .call:
            return (canRead ? 0o444 : 0) | (canWrite ? 0o200 : 0)
        }
    }
}
