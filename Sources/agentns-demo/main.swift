// agentns-demo: an echo agent in a fresh database, driven through its namespace.
// Usage: agentns-demo [DATA_DIR]
import Foundation
import Namespace
import Runtime
import RuntimeSQLite

let args = CommandLine.arguments.dropFirst()
if args.first == "--help" || args.first == "-h" {
    print("""
        usage: agentns-demo [DATA_DIR]

        Creates an echo agent 'demo' in a new SQLite database under DATA_DIR (default: a new
        temporary directory), writes "hello" to its inbox, runs a tick, and prints its status,
        outbox and trace as read through the agent's namespace.
        """)
    exit(0)
}
let dir = args.first ?? (NSTemporaryDirectory() + "agentns-demo-\(getpid())")
try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
let dbPath = dir + "/agentd.sqlite"
try? FileManager.default.removeItem(atPath: dbPath)

let store = try SQLiteStore(path: dbPath)
let runtime = Runtime(store: store)
await withTaskGroup(of: Void.self) { group in
    group.addTask { await runtime.run() }
    do {
        let fs = runtime.client(as: .operator)
        _ = try await runtime.createAgent(id: "demo", kind: "echo")
        print("$ echo hello > /agents/demo/inbox")
        print(try await fs.write("/agents/demo/inbox", "hello\n", mode: .append).utf8String, terminator: "")
        print("$ echo tick > /agents/demo/ctl")
        try await fs.write("/agents/demo/ctl", "tick\n")
        for file in ["status", "outbox", "logs/trace", "mounts", "identity/pubkey"] {
            print("$ cat /agents/demo/\(file)")
            print(try await fs.readString("/agents/demo/\(file)"), terminator: "")
        }
        print("$ ls /agents/demo")
        print(try await fs.list("/agents/demo").map { $0.type == .dir ? $0.name + "/" : $0.name }.joined(separator: "  "))
        print("\ndatabase: \(dbPath)")
    } catch {
        print("demo failed: \(error)")
    }
    group.cancelAll()
}
await store.close()

extension Data {
    var utf8String: String { String(decoding: self, as: UTF8.self) }
}
