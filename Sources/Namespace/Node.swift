/// What kind of file a node is. `stream` files are append-only logs a reader can follow;
/// `call` files answer a write on a read of the same handle.
public enum FileType: String, Sendable, Codable {
    case file, dir, stream, call
}

/// What can be done to a node, before access levels narrow it for a principal.
public struct Perms: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let read = Perms(rawValue: 1)
    public static let write = Perms(rawValue: 2)
    /// For directories: new entries may be written into it.
    public static let create = Perms(rawValue: 4)
    public static let remove = Perms(rawValue: 8)
    /// Writes append rather than replace (logs, inbox); a replace (PUT, O_TRUNC) is still
    /// accepted as an append of the new bytes.
    public static let append = Perms(rawValue: 16)
    public static let operatorOnlyWrite = Perms(rawValue: 32)
    public static let readOnly: Perms = [.read]
    public static let readWrite: Perms = [.read, .write]
}

/// One file or directory as a service describes it. `tag` is the service's own name for which
/// entry of its table this is; services switch on it in read and write.
public struct Node: Sendable, Hashable {
    public var path: Path
    public var type: FileType
    public var perms: Perms
    public var tag: String
    /// Bytes, when known without producing the content; nil for synthetic files.
    public var size: Int64?
    /// Milliseconds since the epoch.
    public var mtime: Int64
    /// Moves on every change: the FUSE generation and the HTTP ETag.
    public var version: UInt64

    public init(path: Path, type: FileType, perms: Perms, tag: String, size: Int64? = nil, mtime: Int64 = 0, version: UInt64 = 0) {
        self.path = path
        self.type = type
        self.perms = perms
        self.tag = tag
        self.size = size
        self.mtime = mtime
        self.version = version
    }

    public var name: String { path.name }
}

/// The outside view of a node: what stat and list return to clients.
public struct FileStat: Sendable, Hashable, Codable {
    public var name: String
    public var type: FileType
    public var size: Int64
    /// Milliseconds since the epoch.
    public var mtime: Int64
    public var version: UInt64
    /// Stable across restarts: a hash of the global path (the FUSE inode).
    public var id: UInt64
    /// Unix permission bits for the asking principal (0444, 0644, 0200, 0755 ...).
    public var mode: UInt32

    public init(name: String, type: FileType, size: Int64, mtime: Int64, version: UInt64, id: UInt64, mode: UInt32) {
        self.name = name
        self.type = type
        self.size = size
        self.mtime = mtime
        self.version = version
        self.id = id
        self.mode = mode
    }

    /// FNV-1a of the path text: stable, cheap, and the same in every process.
    public static func stableID(_ path: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in path.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x0100_0000_01b3
        }
        return hash == 1 ? 2 : hash  // inode 1 is the FUSE root
    }
}

/// How a write lands.
public enum WriteMode: String, Sendable {
    /// PUT, or open with O_TRUNC: the new content replaces the old.
    case replace
    /// POST, or `>>`: the bytes are appended, sent or called.
    case append
}
