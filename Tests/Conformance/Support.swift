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
