import AgentClient
import ArgumentParser
import Foundation
import Namespace

/// `agentctl run` and `agentctl sessions`: programs in an agent's sandbox sessions, the files
/// under containers/.
enum Containers {
    /// An agent's containers/ directory.
    static func root(_ agent: String) -> String { "/agents/\(agent)/containers" }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Run a program in an agent's sandbox: its output live, its exit status agentctl's.",
            discussion: """
                Runs ARGV in the session given with --session, or in a new one (containers/new with the policy's default \
                limits) whose id goes to stderr, so the next run can reuse it and the files it left. The program's stdout and \
                stderr are printed to agentctl's as they are produced; with --json, its output records (JSON lines \
                {"stream","data"}) and then its result are printed instead. Interrupting agentctl does not stop the \
                program: it runs to its end or its limits.

                Exit status:
                  N      the program's own exit status
                  128+N  a signal N ended it
                  137    a limit killed it (stderr names it: killed by timeout limit)
                  125    it ended without a status (its session was stopped, or
                         agentd stopped while it ran)
                  1      the server refused (no sandbox, a budget, no such session)
                  2      bad usage

                Examples:
                  agentctl run scout -- python3 -c 'print(6*7)'
                  agentctl run scout --session s0123456789abcdef -- ls -l
                  agentctl run scout --timeout-ms 5000 -- sh -c 'sleep 9'
                  agentctl run scout --stdin-file data.csv --env MODE=fast -- python3 main.py
                """
        )
        @OptionGroup var connection: Connection
        @Argument(help: "Agent id.") var id: String
        @Option(help: "Run in this session (default: a new session, named on stderr).") var session: String?
        @Option(help: "Wall-time limit in milliseconds (default: the session's).") var timeoutMs: Int64?
        @Option(help: "File the program reads as its standard input ('-': agentctl's standard input; default: none).") var stdinFile: String?
        @Option(help: "Environment variable K=V for the program (repeat for more).") var env: [String] = []
        @Argument(parsing: .postTerminator, help: "The program and its arguments, after --.") var argv: [String] = []

        func validate() throws {
            guard let program = argv.first, !program.isEmpty else {
                throw ValidationError("give the program after --, e.g. agentctl run \(id) -- python3 -c 'print(1)'")
            }
            for e in env {
                guard let eq = e.firstIndex(of: "="), eq != e.startIndex else { throw ValidationError("--env takes K=V (got '\(e)')") }
            }
            if let timeoutMs, timeoutMs < 1 { throw ValidationError("--timeout-ms is 1 or more") }
        }

        func run() async throws {
            let client = connection.client
            let root = Containers.root(id)
            var request: [String: JSON] = ["argv": .array(argv.map { .string($0) })]
            if let stdinFile {
                let data = stdinFile == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: stdinFile))
                request["stdin"] = .string(String(decoding: data, as: UTF8.self))
            }
            if !env.isEmpty {
                var vars: [String: JSON] = [:]
                for e in env {
                    let eq = e.firstIndex(of: "=")!
                    vars[String(e[..<eq])] = .string(String(e[e.index(after: eq)...]))
                }
                request["env"] = .object(vars)
            }
            if let timeoutMs { request["timeout_ms"] = .int64(timeoutMs) }

            var sid = session ?? ""
            if session == nil {
                let created = try parseJSON(try await client.write(root + "/new", Data("{}".utf8), mode: .append))
                sid = created["session_id"]?.stringValue ?? ""
                FileHandle.standardError.write(Data("agentctl: created session \(sid) (reuse it with --session \(sid))\n".utf8))
            }
            let session = root + "/sessions/" + sid
            let started = try parseJSON(try await client.write(session + "/exec/new", Data(JSON.object(request).description.utf8), mode: .append))
            guard let eid = started["exec_id"]?.stringValue else { throw FSError(.unavailable, "exec/new answered no exec_id", path: session + "/exec/new") }
            var follower = ExecFollower(client: client, exec: session + "/exec/" + eid, json: connection.json)
            try await follower.follow()
            let result = try parseJSON(try await client.read(follower.exec + "/result"))
            if connection.json { out(result.description + "\n") }
            let (status, message) = Self.exitStatus(result)
            if let message { FileHandle.standardError.write(Data("agentctl: \(message)\n".utf8)) }
            // Not ExitCode: main maps some codes (64) to usage errors; the program's status is passed on as it is.
            if status != 0 { Foundation.exit(status) }
        }

        /// agentctl's exit status for an exec's result, and what to say on stderr.
        static func exitStatus(_ result: JSON) -> (Int32, String?) {
            if let limit = result["killed_by"]?.stringValue { return (137, "killed by \(limit) limit") }
            if let signal = result["signal"]?.intValue, signal > 0, signal < 128 { return (Int32(128 + signal), nil) }
            if let code = result["exit_code"]?.intValue { return (Int32(truncatingIfNeeded: code), nil) }
            if result["cancelled"]?.boolValue == true { return (125, "the exec was stopped before it ended (its session was stopped)") }
            return (125, "the exec ended without a status: \(result["error"]?.stringValue ?? result.description)")
        }
    }

    /// Follows an exec's output to its end: records from the watch as they arrive; when the
    /// watch idles, the exec's state; once it has ended, the rest of the output by offset, so
    /// nothing is lost or printed twice. A watch that reports `reset` (records no longer
    /// retained) is dropped for reads by offset.
    struct ExecFollower {
        let client: HTTPFileClient
        /// The exec's directory.
        let exec: String
        let json: Bool
        /// Bytes of the exec's output printed so far.
        var offset: Int64 = 0
        static let tick = Duration.milliseconds(200)
        static let chunk: Int64 = 1 << 20

        enum Event: Sendable { case record(FeedRecord), tick, closed }

        mutating func follow() async throws {
            let records = try await client.watch(exec + "/output", after: 0, reconnect: true)
            let (events, sink) = AsyncStream.makeStream(of: Event.self)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask {
                    do { for try await r in records { sink.yield(.record(r)) } } catch {}
                    sink.yield(.closed)
                }
                group.addTask {
                    while !Task.isCancelled {
                        try? await Task.sleep(for: Self.tick)
                        sink.yield(.tick)
                    }
                }
                var watching = true
                var heard = false
                loop: for await event in events {
                    switch event {
                    case .record(let r) where watching:
                        if r.event == "record" {
                            emit(r.data, bytes: r.data.utf8.count + 1)
                            heard = true
                        } else if r.event == "reset" {
                            watching = false
                        }
                    case .record:
                        break
                    case .closed:
                        watching = false
                    case .tick:
                        if watching && heard {
                            heard = false
                            continue
                        }
                        // The end commits with the exec's last output: once it says ended, the file is whole.
                        let ended = try await hasEnded()
                        if ended || !watching { try await readRest() }
                        if ended { break loop }
                    }
                }
                group.cancelAll()
                sink.finish()
            }
        }

        func hasEnded() async throws -> Bool {
            let status = try parseJSON(try await client.read(exec + "/status"))
            return status["state"]?.stringValue != "running"
        }

        /// The output from `offset` to its end, whole lines only.
        mutating func readRest() async throws {
            var count = Self.chunk
            while true {
                let slice = try await client.read(exec + "/output", try ByteRange(offset: offset, count: count))
                if slice.data.isEmpty { return }
                offset = max(offset, slice.offset)
                guard let last = slice.data.lastIndex(of: 0x0a) else {
                    if Int64(slice.data.count) < count { return }  // a line still being written
                    count *= 2
                    continue
                }
                for line in slice.data[..<last].split(separator: 0x0a, omittingEmptySubsequences: false) {
                    emit(String(decoding: line, as: UTF8.self), bytes: line.count + 1)
                }
            }
        }

        /// Prints one output record: its data to stdout or stderr, or with --json the record.
        mutating func emit(_ line: String, bytes: Int) {
            offset += Int64(bytes)
            if json { return out(line + "\n") }
            guard let record = try? JSON(parsing: line), let data = record["data"]?.stringValue else { return }
            let handle = record["stream"]?.stringValue == "stderr" ? FileHandle.standardError : FileHandle.standardOutput
            handle.write(Data(data.utf8))
        }
    }

    struct Sessions: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List an agent's sandbox sessions.",
            discussion: """
                One row per session (running ones, and ended ones for a day after they end): its id, state (running, \
                stopped, expired, failed), execs run, CPU milliseconds used, cost in USD, when it was created and when it \
                expires if left idle. --json prints the sessions' status files as a JSON array.

                Examples:
                  agentctl sessions scout
                  agentctl run scout --session <id> -- ls
                  agentctl ls scout/containers/sessions/<id>/files
                  agentctl write scout/containers/sessions/<id>/ctl stop
                """
        )
        @OptionGroup var connection: Connection
        @Argument(help: "Agent id.") var id: String

        func run() async throws {
            let client = connection.client
            let dir = Containers.root(id) + "/sessions"
            var rows: [JSON] = []
            for e in try await client.list(dir) {
                do {
                    rows.append(try parseJSON(try await client.read(dir + "/" + e.name + "/status")))
                } catch let error as FSError where error.code == .notFound {
                    continue  // pruned since the listing
                }
            }
            rows.sort { ($0["created_at"]?.stringValue ?? "", $0["id"]?.stringValue ?? "") < ($1["created_at"]?.stringValue ?? "", $1["id"]?.stringValue ?? "") }
            if connection.json { return out(JSON.array(rows).description + "\n") }
            var text = "ID                 STATE    EXECS  CPU_MS    COST        CREATED                   EXPIRES\n"
            for s in rows {
                let usage = s["usage"]
                text += pad(s["id"]?.stringValue ?? "", 19) + pad(s["state"]?.stringValue ?? "", 9) + pad("\(usage?["execs"]?.int64Value ?? 0)", 7)
                    + pad("\(usage?["cpu_ms"]?.int64Value ?? 0)", 10) + pad(Self.dollars(usage?["cost"]?.int64Value ?? 0), 12)
                    + pad(s["created_at"]?.stringValue ?? "", 26) + (s["expires_at"]?.stringValue ?? "-") + "\n"
            }
            out(text)
        }

        /// Micro-USD as dollars: 1234 → $0.001234.
        static func dollars(_ micro: Int64) -> String {
            let m = max(0, micro)
            let fraction = String(m % 1_000_000)
            return "$\(m / 1_000_000)." + String(repeating: "0", count: 6 - fraction.count) + fraction
        }
    }
}
