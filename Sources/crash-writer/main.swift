// crash-writer: the child process of the kill -9 test. It sends envelopes to agent "crash" in
// the database at DB_PATH from SENDERS concurrent senders and prints "ack <id>" on stdout after
// each send is acknowledged (committed). The parent kills it with SIGKILL at a random moment and
// checks that every acknowledged id survived.
// Usage: crash-writer DB_PATH ROUND [SENDERS]
import Foundation
import Namespace
import Runtime
import RuntimeSQLite

let args = CommandLine.arguments
guard args.count >= 3 else {
    FileHandle.standardError.write(Data("usage: crash-writer DB_PATH ROUND [SENDERS]\n".utf8))
    exit(2)
}
let store = try SQLiteStore(path: args[1])
let runtime = Runtime(store: store)
let round = args[2]
let senders = args.count > 3 ? Int(args[3]) ?? 8 : 8
if try await store.agent("crash") == nil {
    _ = try? await runtime.createAgent(id: "crash", kind: "echo", config: .object(["inbox": .object(["max_depth": 1_000_000])]))
}
let out = FileHandle.standardOutput
out.write(Data("ready\n".utf8))
await withTaskGroup(of: Void.self) { group in
    // The engine runs too, so ticks commit while sends do.
    group.addTask { await runtime.run() }
    for s in 0..<senders {
        group.addTask {
            for i in 0..<1_000_000 {
                let id = "r\(round)-s\(s)-\(i)"
                let body = JSON.object(["id": .string(id), "from": .string("s\(s)"), "body": .string("\(i)")]).description
                do {
                    _ = try await runtime.send(to: "crash", Data(body.utf8), from: .operator)
                    out.write(Data("ack \(id)\n".utf8))
                } catch {
                    out.write(Data("error \(id) \(error)\n".utf8))
                }
            }
        }
    }
}
