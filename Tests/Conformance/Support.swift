import AgentNSTesting
import Foundation
import Namespace
import Runtime
import RuntimeSQLite
import Services
import Testing

/// A conformance fixture: a runtime over a real SQLite file with its engine running.
func withRuntime(clock: any AgentClock = SystemClock(), databasePath: String? = nil, maxConcurrentTicks: Int = 64,
                 _ body: (Runtime) async throws -> Void) async throws {
    try await TestRuntime.with(databasePath: databasePath, clock: clock, maxConcurrentTicks: maxConcurrentTicks, body)
}

extension Runtime {
    var op: RuntimeClient { client(as: .operator) }

    func lines(_ agent: String, _ file: String) async throws -> [JSON] {
        try await op.readString("/agents/\(agent)/\(file)").split(separator: "\n").map { try JSON(parsing: String($0)) }
    }

    func statusOf(_ agent: String) async throws -> JSON { try await JSON(parsing: op.readString("/agents/\(agent)/status")) }

    func stateOf(_ agent: String) async throws -> JSON { try await JSON(parsing: op.readString("/agents/\(agent)/state")) }

    @discardableResult
    func send(_ agent: String, _ text: String, as who: Principal = .operator) async throws -> JSON {
        try JSON(fileData: try await client(as: who).write("/agents/\(agent)/inbox", Data(text.utf8), mode: .append))
    }

    func ctl(_ agent: String, _ command: String) async throws {
        try await op.write("/agents/\(agent)/ctl", command + "\n")
    }

    /// Waits until the agent's inbox is empty (processed, dropped or dead-lettered).
    func drained(_ agent: String, seconds: Double = 20) async throws -> Bool {
        try await TestRuntime.eventually(seconds) { try await self.statusOf(agent)["queue_depth"]?.intValue == 0 }
    }
}

/// Expects `body` to throw an FSError with `code`.
func expectCode(_ code: FSError.Code, sourceLocation: SourceLocation = #_sourceLocation, _ body: () async throws -> Void) async {
    do {
        try await body()
        Issue.record("expected \(code.rawValue), got success", sourceLocation: sourceLocation)
    } catch let e as FSError {
        #expect(e.code == code, "\(e)", sourceLocation: sourceLocation)
    } catch {
        Issue.record("expected FSError \(code.rawValue), got \(error)", sourceLocation: sourceLocation)
    }
}

func envelope(id: String, from: String, body: String) -> String {
    JSON.object(["id": .string(id), "from": .string(from), "body": .string(body)]).description
}
