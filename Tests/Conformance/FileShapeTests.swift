import AgentNSTesting
import Foundation
import Namespace
import Runtime
import Testing

/// What every file of an agent's tree has, whatever service serves it: a time (its last change,
/// else its creation), and for JSON documents a final newline (one line: `wc -l` counts 1, and
/// `cat` leaves the prompt on its own line). Also: JSON integers survive the files exactly.
@Suite struct FileShapeTests {
    @Test func everyFileAndDirectoryHasATime() async throws {
        try await withRuntime { rt in
            _ = try await rt.createAgent(id: "fresh", kind: "echo")  // never changed
            try await RangeTests.populate(rt, "busy")
            for agent in ["fresh", "busy"] {
                let created = try JSON(parsing: try await rt.op.read("/agents/\(agent)/status"))["created_at"]
                #expect(created != nil)
                var dirs = ["/agents/\(agent)"]
                var seen = 0
                while let dir = dirs.popLast() {
                    #expect(try await rt.op.stat(dir).mtime > 0, "\(dir)")
                    for entry in try await rt.op.list(dir) {
                        let path = dir + "/" + entry.name
                        #expect(entry.mtime > 0, "listing of \(dir): \(entry.name)")
                        #expect(try await rt.op.stat(path).mtime > 0, "stat \(path)")
                        if entry.type == .dir { dirs.append(path) }
                        seen += 1
                    }
                }
                #expect(seen >= 14)
            }
        }
    }

    /// A never-changed file's time is the agent's creation; a tick moves it to the tick's time.
    @Test func aFilesTimeIsItsLastChangeElseItsCreation() async throws {
        let clock = ManualClock()
        try await withRuntime(clock: clock) { rt in
            let created = clock.now()
            _ = try await rt.createAgent(id: "t", kind: "echo")
            for path in ["status", "state", "config", "ctl", "mounts", "identity/pubkey", "logs/trace", "goals", "deadletter/count"] {
                #expect(try await rt.op.stat("/agents/t/" + path).mtime == created, "\(path)")
            }
            clock.advance(by: 60_000)
            try await rt.send("t", "hi")
            #expect(try await rt.drained("t"))
            for path in ["status", "state", "logs/trace", "outbox"] {
                #expect(try await rt.op.stat("/agents/t/" + path).mtime == created + 60_000, "\(path)")
            }
            #expect(try await rt.op.stat("/agents/t/mounts").mtime == created)
        }
    }

    @Test func everyJSONFileIsOneLineEndingInANewline() async throws {
        try await withRuntime { rt in
            try await RangeTests.populate(rt, "j")
            var paths = ["/agents/j/status", "/agents/j/config", "/agents/j/state", "/agents/j/goals/g1.json", "/runtime/status"]
            let deadletters = try await rt.op.list("/agents/j/deadletter").map(\.name).filter { !["count", "list", "ctl"].contains($0) }
            #expect(deadletters.count == 1)
            paths += deadletters.map { "/agents/j/deadletter/" + $0 }
            for path in paths {
                let text = try await rt.op.readString(path)
                #expect(text.hasSuffix("}\n"), "\(path): \(text)")
                #expect(text.filter { $0 == "\n" }.count == 1, "\(path)")
                #expect((try? JSON(parsing: text)) != nil, "\(path)")
                // The stat size is the size of what a read returns (/runtime/status's uptime moves
                // between the two, so its size may differ by a digit).
                if path != "/runtime/status" { #expect(try await rt.op.stat(path).size == Int64(text.utf8.count), "\(path)") }
            }
        }
    }

    /// Regression: JSON numbers were doubles, so 2^53 + 1 read back as 2^53.
    @Test func bigIntegersSurviveConfigStateGoalsAndEnvelopes() async throws {
        try await withRuntime { rt in
            let doc = #"{"big":18446744073709551617,"id":9007199254740993,"max":9223372036854775807,"min":-9223372036854775808,"x":0.1}"#
            _ = try await rt.createAgent(id: "n", kind: "echo", config: try JSON(parsing: #"{"note":9007199254740993}"#))
            #expect(try await rt.op.readString("/agents/n/config") == #"{"note":9007199254740993}"# + "\n")
            try await rt.op.write("/agents/n/config", #"{"limits":{"id":9007199254740993,"big":18446744073709551617}}"#)
            #expect(try await rt.op.readString("/agents/n/config").contains(#""limits":{"big":18446744073709551617,"id":9007199254740993}"#))
            try await rt.op.write("/agents/n/goals/g.json", doc)
            #expect(try await rt.op.readString("/agents/n/goals/g.json") == doc + "\n")
            try await rt.ctl("n", "pause")
            try await rt.op.write("/agents/n/inbox", #"{"id":"e1","body":{"n":9007199254740993}}"#, mode: .append)
            #expect(try await rt.op.readString("/agents/n/inbox").contains(#""body":{"n":9007199254740993}"#))
        }
    }
}
