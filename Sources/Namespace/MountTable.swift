/// An agent's namespace as a table of (path, service, access). A path resolves to the mount
/// with the longest prefix on whole components: `/tools` does not match `/toolsx`.
public struct MountTable: Sendable {
    public struct Entry: Sendable {
        public var path: Path
        public var service: any FileService
        public var access: AccessLevel

        public init(_ path: Path, _ service: any FileService, _ access: AccessLevel) {
            self.path = path
            self.service = service
            self.access = access
        }
    }

    /// Names at an agent's root that belong to the HTTP control shortcuts.
    public static let reservedNames: Set<String> = ["send", "tick", "hibernate", "wake", "tokens"]

    /// Longest path first, so the first prefix match is the longest.
    public private(set) var entries: [Entry]

    public init(_ entries: [Entry]) throws(FSError) {
        var seen = Set<Path>()
        for e in entries {
            if e.path.isRoot { throw FSError(.invalidInput, "a service cannot be mounted at the agent's root", path: "/") }
            if e.path.count == 1, MountTable.reservedNames.contains(e.path.name) {
                throw FSError(.invalidInput, "'\(e.path.name)' is reserved for a control shortcut", path: e.path.description)
            }
            guard seen.insert(e.path).inserted else { throw FSError(.alreadyExists, "two services mounted at one path", path: e.path.description) }
        }
        self.entries = entries.sorted { a, b in a.path.count != b.path.count ? a.path.count > b.path.count : a.path < b.path }
    }

    /// The mount serving `path` and the path relative to it.
    public func resolve(_ path: Path) -> (entry: Entry, rest: Path)? {
        // By index: `for e in entries` copies every entry it passes (its service existential
        // with it), and this runs for every request.
        for i in entries.indices {
            if let rest = path.dropping(prefix: entries[i].path) { return (entries[i], rest) }
        }
        return nil
    }

    /// Names directly below `path` that exist only because something is mounted under them.
    /// Nil when `path` is not such a directory.
    public func syntheticChildren(of path: Path) -> [String]? {
        if !path.isRoot, resolve(path) != nil { return nil }
        var names: [String] = []
        for e in entries where e.path.count > path.count && e.path.hasPrefix(path) {
            let name = e.path.components[path.count]
            if !names.contains(name) { names.append(name) }
        }
        if names.isEmpty && !path.isRoot { return nil }
        return names.sorted()
    }

    /// The same table with some access levels replaced (from an agent's config).
    public func overriding(_ levels: [Path: AccessLevel]) -> MountTable {
        var copy = self
        for i in copy.entries.indices {
            if let level = levels[copy.entries[i].path] { copy.entries[i].access = level }
        }
        return copy
    }

    /// One line per mount: path, service, access (the `mounts` file).
    public var text: String {
        entries.sorted { $0.path < $1.path }.map { "\($0.path) \($0.service.name) \($0.access.rawValue)\n" }.joined()
    }
}
