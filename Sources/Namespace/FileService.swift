public import struct Foundation.Data

/// What a service knows about the request it is serving. The namespace fills it in after
/// resolving the mount and checking access, so services never repeat those checks.
public struct RequestContext: Sendable {
    public var principal: Principal
    public var agentID: String
    /// The mount the path resolved to.
    public var mount: MountTable.Entry
    /// The path as the client sees it (for error messages).
    public var shownPath: String
    /// The agent's whole mount table (the `mounts` file shows it).
    public var table: MountTable

    public init(principal: Principal, agentID: String, mount: MountTable.Entry, shownPath: String, table: MountTable) {
        self.principal = principal
        self.agentID = agentID
        self.mount = mount
        self.shownPath = shownPath
        self.table = table
    }
}

/// A file server for one subtree of an agent's namespace, in the manner of a lib9p `Srv`:
/// `walk` names a node, the other operations act on it. Everything a service does not serve
/// has a default here that refuses with the right error, so a read-only service implements
/// `walk` and `read` and nothing else.
///
/// Paths handed to a service are relative to its mount point and already normalised; the
/// node handed to an operation came from this service's own `walk`.
public protocol FileService: Sendable {
    /// A name for the mount table (`mounts` file).
    var name: String { get }
    func walk(_ path: Path, _ ctx: RequestContext) async throws -> Node
    func list(_ dir: Node, _ ctx: RequestContext) async throws -> [Node]
    /// The whole content of a file.
    func read(_ node: Node, _ ctx: RequestContext) async throws -> Data
    /// A byte range (already checked and clamped: see ByteRange); the default slices `read`.
    /// Logs override it to read from their offsets, and say where the bytes begin.
    func read(_ node: Node, _ range: ByteRange, _ ctx: RequestContext) async throws -> FileSlice
    /// Writes (replace or append) and returns the answer: a call file's result, a created id, or empty.
    func write(_ node: Node, _ data: Data, _ mode: WriteMode, _ ctx: RequestContext) async throws -> Data
    /// Writes a new entry `name` into directory `dir`.
    func create(_ name: String, in dir: Node, _ data: Data, _ ctx: RequestContext) async throws -> Data
    func remove(_ node: Node, _ ctx: RequestContext) async throws
    /// The watch feed of a node.
    func feed(_ node: Node, _ ctx: RequestContext) async throws -> RecordFeed
    /// Whether a write to a path whose directories do not exist yet creates them (a work
    /// directory does; the namespace then calls `create` with the missing parent as `dir`).
    var createsMissingDirectories: Bool { get }
}

extension FileService {
    public func list(_ dir: Node, _ ctx: RequestContext) async throws -> [Node] {
        throw FSError(.notDirectory, "not a directory", path: ctx.shownPath)
    }

    public func read(_ node: Node, _ ctx: RequestContext) async throws -> Data {
        throw FSError.denied(ctx.shownPath, "file cannot be read")
    }

    public func read(_ node: Node, _ range: ByteRange, _ ctx: RequestContext) async throws -> FileSlice {
        FileSlice(range.slice(try await read(node, ctx)), at: range.offset)
    }

    public func write(_ node: Node, _ data: Data, _ mode: WriteMode, _ ctx: RequestContext) async throws -> Data {
        throw FSError.denied(ctx.shownPath, "file cannot be written")
    }

    public func create(_ name: String, in dir: Node, _ data: Data, _ ctx: RequestContext) async throws -> Data {
        throw FSError.denied(ctx.shownPath, "no new files can be created here")
    }

    public func remove(_ node: Node, _ ctx: RequestContext) async throws {
        throw FSError.denied(ctx.shownPath, "file cannot be removed")
    }

    public func feed(_ node: Node, _ ctx: RequestContext) async throws -> RecordFeed {
        throw FSError(.invalidInput, "this file cannot be watched", path: ctx.shownPath)
    }

    public var createsMissingDirectories: Bool { false }
}
