import AgentNSTesting
import Foundation
import Namespace
import Runtime
import RuntimeSQLite
import Testing

/// SPEC: a write acknowledged to a client survives kill -9 of the process at any moment.
@Suite struct CrashTests {
    static var writerPath: String {
        // Tests run from the package; the executables are built beside the test bundle.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent(".build/debug/crash-writer").path
    }

    /// Runs the writer until it has acknowledged some sends, kills it with SIGKILL after a
    /// random delay, and returns the ids it acknowledged.
    func crashRound(db: String, round: Int) async throws -> Set<String> {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.writerPath)
        process.arguments = [db, "\(round)", "8"]
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = FileHandle.nullDevice
        try process.run()
        let delay = Int.random(in: 150...600)
        try await Task.sleep(for: .milliseconds(delay))
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        #expect(process.terminationReason == .uncaughtSignal)
        let output = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        // A line cut by the kill is not an acknowledgement.
        let lines = output.split(separator: "\n", omittingEmptySubsequences: false).dropLast()
        return Set(lines.filter { $0.hasPrefix("ack ") }.map { String($0.dropFirst(4)) })
    }

    @Test func acknowledgedSendsSurviveSIGKILL() async throws {
        try #require(FileManager.default.isExecutableFile(atPath: Self.writerPath), "build crash-writer first: swift build --build-tests")
        let db = try TestRuntime.temporaryDirectory("crash") + "/agentd.sqlite"
        var acked = Set<String>()
        for round in 1...5 {
            let got = try await crashRound(db: db, round: round)
            acked.formUnion(got)
            // Reopen after the crash: every acknowledged envelope is pending, processed or
            // dead-lettered, and the file is sound.
            let store = try SQLiteStore(path: db)
            #expect(try store.integrityCheck() == "ok")
            let rt = Runtime(store: store, kinds: .testing)
            var present = Set(try await store.pending("crash", limit: 10_000_000).map(\.id))
            let outbox = try await rt.op.readString("/agents/crash/outbox").split(separator: "\n")
            for line in outbox { if let id = try JSON(parsing: String(line))["in_reply_to"]?.stringValue { present.insert(id) } }
            present.formUnion(try await store.deadLetters("crash").map(\.envelope.id))
            let missing = acked.subtracting(present)
            #expect(missing.isEmpty, "round \(round): \(missing.count) acknowledged envelopes lost, e.g. \(missing.prefix(3))")
            // Nothing processed twice.
            #expect(outbox.count == Set(outbox).count)
            let status = try await rt.statusOf("crash")
            #expect(status["tick_count"]?.intValue == (try await rt.lines("crash", "logs/trajectory")).count)
            await store.close()
            print("crash round \(round): killed after \(got.count) acks this round, \(acked.count) acked in all, \(present.count) present")
        }
        #expect(acked.count > 50, "the writer made too little progress to test anything")
    }
}
