public import Foundation
public import Namespace

/// What `containers/` needs from the runtime: sessions, execs, their files and budgets, in the
/// terms of files. The runtime implements it over its sandbox provider and the store.
public protocol ContainersHost: AgentHost {
    /// Sandbox providers, by name, with their `info` documents.
    func sandboxProviders(of agent: String) async throws -> [(name: String, info: JSON)]
    /// Creates a session from a request (JSON as written to `containers/new`); `{"session_id", ...}`.
    func createSession(of agent: String, _ request: Data) async throws -> JSON
    /// Newest first.
    func sessions(of agent: String) async throws -> [ContainerEntry]
    func session(of agent: String, id: String) async throws -> ContainerEntry
    func sessionStatus(of agent: String, id: String) async throws -> JSON
    /// `ctl`: "stop" (running execs are killed, the work directory deleted).
    func stopSession(of agent: String, id: String) async throws
    func readSessionOutput(of agent: String, session: String, _ range: ByteRange) async throws -> FileSlice

    /// Starts an exec (JSON as written to `exec/new`); `{"exec_id", "state"}`, or with
    /// `"wait": true` the result (and `exec_id`) once it has ended.
    func startExec(of agent: String, session: String, _ request: Data) async throws -> JSON
    func execs(of agent: String, session: String) async throws -> [ContainerEntry]
    func exec(of agent: String, session: String, id: String) async throws -> ContainerEntry
    func execStatus(of agent: String, session: String, id: String) async throws -> JSON
    /// not_found until the exec has ended.
    func execResult(of agent: String, session: String, id: String) async throws -> JSON
    func readExecOutput(of agent: String, session: String, exec: String, _ range: ByteRange) async throws -> FileSlice

    /// Files of the session's work directory; `path` is relative to it, already normalised.
    func sessionFile(of agent: String, session: String, _ path: [String]) async throws -> SessionFileEntry
    func sessionFiles(of agent: String, session: String, _ path: [String]) async throws -> [SessionFileEntry]
    func readSessionFile(of agent: String, session: String, _ path: [String], _ range: ByteRange) async throws -> Data
    /// Replaces the file (`append` false) or appends to it, creating it (and missing parents).
    func writeSessionFile(of agent: String, session: String, _ path: [String], _ data: Data, append: Bool) async throws
    func removeSessionFile(of agent: String, session: String, _ path: [String]) async throws

    func containersUsage(of agent: String) async throws -> JSON
    func containersPolicy(of agent: String) async throws -> JSON
    /// Applies an RFC 7396 merge-patch, validated as a whole; returns the policy as stored.
    func patchContainersPolicy(of agent: String, _ patch: JSON) async throws -> JSON
}

/// A session or an exec as its directory shows it.
public struct ContainerEntry: Sendable, Equatable {
    public var id: String
    public var state: String
    /// The last change (ms since the epoch).
    public var mtime: Int64
    /// Bytes of its `output`.
    public var outputBytes: Int64
    /// For execs: whether it has ended (it then has a `result`).
    public var finished: Bool

    public init(id: String, state: String, mtime: Int64, outputBytes: Int64, finished: Bool) {
        self.id = id
        self.state = state
        self.mtime = mtime
        self.outputBytes = outputBytes
        self.finished = finished
    }
}

/// A file or directory of a session's work directory.
public struct SessionFileEntry: Sendable, Equatable {
    public var name: String
    public var isDirectory: Bool
    public var size: Int64
    public var mtime: Int64

    public init(name: String, isDirectory: Bool, size: Int64, mtime: Int64) {
        self.name = name
        self.isDirectory = isDirectory
        self.size = size
        self.mtime = mtime
    }
}

/// What the standard namespace needs of its runtime: everything an agent's files show.
public typealias RuntimeHost = ComputeHost & ContainersHost
