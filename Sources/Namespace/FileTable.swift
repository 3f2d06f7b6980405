/// A service's files declared as data: name, tag, type and permissions, in the manner of a
/// Plan 9 device's `Dirtab`. `walk` and `list` over a fixed table come from here.
public struct FileTable: Sendable {
    public struct Entry: Sendable {
        public var name: String
        public var tag: String
        public var type: FileType
        public var perms: Perms

        public init(_ name: String, tag: String? = nil, _ type: FileType, _ perms: Perms) {
            self.name = name
            self.tag = tag ?? name
            self.type = type
            self.perms = perms
        }
    }

    /// The node for the service's root (the mount point itself).
    public var root: Entry
    public var entries: [Entry]

    public init(root: Entry, entries: [Entry] = []) {
        self.root = root
        self.entries = entries
    }

    /// A table whose root is a directory holding `entries`.
    public static func directory(_ entries: [Entry], perms: Perms = .read) -> FileTable {
        FileTable(root: Entry("", tag: "/", .dir, perms), entries: entries)
    }

    /// A table that is one file mounted at the mount point.
    public static func file(_ tag: String, _ type: FileType, _ perms: Perms) -> FileTable {
        FileTable(root: Entry("", tag: tag, type, perms))
    }

    public func node(_ entry: Entry, at path: Path) -> Node {
        Node(path: path, type: entry.type, perms: entry.perms, tag: entry.tag)
    }

    /// Resolves a path of depth 0 or 1; deeper paths are for the service to walk itself.
    public func walk(_ path: Path, shown: String) throws(FSError) -> Node {
        if path.isRoot { return node(root, at: path) }
        guard root.type == .dir else { throw FSError(.notDirectory, "not a directory", path: shown) }
        guard path.count == 1, let entry = entries.first(where: { $0.name == path.name }) else { throw FSError.notFound(shown) }
        return node(entry, at: path)
    }

    public func list() -> [Node] {
        entries.map { entry in node(entry, at: Path(validated: [entry.name])) }
    }
}
