public import Foundation
public import Namespace
public import Runtime

extension Runtime {
    /// The operator's file client.
    public var op: RuntimeClient { client(as: .operator) }

    /// A file of JSON lines, parsed.
    public func lines(_ agent: String, _ file: String) async throws -> [JSON] {
        try await op.readString("/agents/\(agent)/\(file)").split(separator: "\n").map { try JSON(parsing: String($0)) }
    }

    public func statusOf(_ agent: String) async throws -> JSON { try await JSON(parsing: op.readString("/agents/\(agent)/status")) }

    public func stateOf(_ agent: String) async throws -> JSON { try await JSON(parsing: op.readString("/agents/\(agent)/state")) }

    /// Writes the inbox as `who` and returns the receipt.
    @discardableResult
    public func send(_ agent: String, _ text: String, as who: Principal = .operator) async throws -> JSON {
        try JSON(parsing: try await client(as: who).write("/agents/\(agent)/inbox", Data(text.utf8), mode: .append))
    }

    public func ctl(_ agent: String, _ command: String) async throws {
        try await op.write("/agents/\(agent)/ctl", command + "\n")
    }

    /// Waits until the agent's inbox is empty (processed, dropped or dead-lettered).
    public func drained(_ agent: String, seconds: Double = 20) async throws -> Bool {
        try await TestRuntime.eventually(seconds) { try await self.statusOf(agent)["queue_depth"]?.intValue == 0 }
    }
}
