import AgentClient
import ArgumentParser
import Foundation
import Namespace

struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List agents.",
        discussion: """
            Lists agents in id order, following GET /agents a page at a time (--page-size agents a request, \
            1000 unless told, through its Link rel="next" header), so a node of millions of agents is listed whole, \
            printed as it arrives. --after and --limit ask for one stretch of the list instead.

            Examples:
              agentctl list
              agentctl list --json | jq -r '.[].id'
              agentctl list --after scout-0999 --limit 100
            """
    )
    @OptionGroup var connection: Connection
    @Option(help: "Only agents whose id sorts after this one.") var after: String?
    @Option(help: "At most this many agents.") var limit: Int?
    @Option(help: "Agents asked for in one request, 1 to 10000.") var pageSize = 1000

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
        guard (1...10_000).contains(pageSize) else { throw ValidationError("--page-size must be from 1 to 10000") }
        if let after, !AgentID.isValid(after) { throw ValidationError("--after '\(after)' is not an agent id ([a-z0-9][a-z0-9._-]{0,62})") }
    }

    func run() async throws {
        let client = connection.client
        var cursor = after
        var left = limit
        var printed = 0
        var first = true
        while left.map({ $0 > 0 }) ?? true {
            let size = min(left ?? pageSize, pageSize)
            let query = "limit=\(size)" + (cursor.map { "&after=\($0)" } ?? "")
            let answer = try await client.getPage("/agents", query: query)
            // At most what is left (an agentd from before paging answers every agent at once).
            let rows = Array((try parseJSON(answer.body).arrayValue ?? []).prefix(left ?? Int.max))
            // The heading once the first answer is in: a refusal prints nothing on standard output.
            var text = first ? (connection.json ? "[" : "ID                   KIND       STATE       TICKS\n") : ""
            first = false
            for r in rows {
                if connection.json {
                    text += (printed == 0 ? "" : ",") + r.description
                } else {
                    text += pad(r["id"]?.stringValue ?? "", 21) + pad(r["kind"]?.stringValue ?? "", 11) + pad(r["state"]?.stringValue ?? "", 12)
                        + "\(r["tick_count"]?.intValue ?? 0)\n"
                }
                printed += 1
            }
            out(text)
            left = left.map { $0 - rows.count }
            // The server says where the next page starts; no Link, no more agents.
            guard let next = answer.link.flatMap(Self.nextAfter), !rows.isEmpty else { break }
            cursor = next
        }
        if first { out(connection.json ? "[" : "ID                   KIND       STATE       TICKS\n") }
        if connection.json { out("]\n") }
    }

    /// The `after` of a `Link: </agents?after=ID&limit=N>; rel="next"` header.
    static func nextAfter(_ link: String) -> String? {
        guard link.contains("rel=\"next\""), let open = link.firstIndex(of: "<"), let close = link.firstIndex(of: ">"), open < close,
              let items = URLComponents(string: String(link[link.index(after: open)..<close]))?.queryItems else { return nil }
        return items.first { $0.name == "after" }?.value
    }
}

struct Create: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create an agent (an exec agent with its program: --program FILE).",
        discussion: """
            --program FILE gives an exec agent its program (a script with a #! line, or an executable; '-' reads it \
            from standard input): each tick runs it once in a sandbox. A program that is UTF-8 text is sent with the \
            agent in one request, so the agent is created with its program or not at all; any other file (a binary) \
            is written to <id>/program right after the agent is created, and if that write is refused the agent is \
            deleted again. Replace it later with 'agentctl write <id>/program - < FILE'; read it with \
            'agentctl cat <id>/program'.

            --from FILE creates a fleet instead: FILE ('-' for standard input) holds one agent per line as JSON, \
            {"id", "kind", "config"?, "program"?} (the body of POST /agents). They are sent up to 1,000 (and 4 MiB) a \
            request, each request created whole or not at all; progress goes to stderr. If a request is refused, the \
            agents of the requests before it exist, none of it or after it do, and the message names the line to \
            resume from (fix it, then run again with the lines from there).

            Examples:
              agentctl create scout --kind echo
              agentctl create scout --kind exec --program scout.py --config scout.json
              cat agent.sh | agentctl create helper --kind exec --program -
              seq -f '{"id":"w%g","kind":"counter"}' 1 10000 | agentctl create --from -
            """
    )
    @OptionGroup var connection: Connection
    @Argument(help: "Agent id: [a-z0-9][a-z0-9._-]{0,62} (not with --from).") var id: String?
    @Option(help: "Kind of agent (echo, counter, exec, ...); required unless --from.") var kind: String?
    @Option(help: "File with the JSON config ('-' for standard input).") var config: String?
    @Option(help: "File with an exec agent's program ('-' for standard input); only with --kind exec.") var program: String?
    @Option(help: "File of agents to create, one JSON object per line ('-' for standard input).") var from: String?

    func validate() throws {
        if let from {
            guard id == nil, kind == nil, config == nil, program == nil else {
                throw ValidationError("--from FILE takes every agent from the file: no id, --kind, --config or --program with it")
            }
            if from != "-", !FileManager.default.isReadableFile(atPath: from) {
                throw ValidationError("cannot read the --from file '\(from)'")
            }
            return
        }
        guard id != nil else { throw ValidationError("give the agent's id (or --from FILE for many)") }
        guard let kind else { throw ValidationError("give the agent's kind: --kind echo, counter, exec, ...") }
        if program != nil, kind != "exec" {
            throw ValidationError("--program is for exec agents (--kind exec), not for kind '\(kind)'")
        }
        if config == "-", program == "-" { throw ValidationError("--config and --program cannot both read standard input") }
        for (option, file) in [("--config", config), ("--program", program)] {
            guard let file, file != "-" else { continue }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory) else {
                throw ValidationError("cannot read the \(option) file '\(file)': no such file")
            }
            guard !isDirectory.boolValue, FileManager.default.isReadableFile(atPath: file) else {
                throw ValidationError("cannot read the \(option) file '\(file)': \(isDirectory.boolValue ? "it is a directory" : "permission denied")")
            }
        }
    }

    /// A local file named on the command line ('-': standard input).
    static func load(_ file: String, _ option: String) throws -> Data {
        if file == "-" { return FileHandle.standardInput.readDataToEndOfFile() }
        guard let data = FileManager.default.contents(atPath: file) else {
            throw FSError(.invalidInput, "cannot read the \(option) file '\(file)'")
        }
        return data
    }

    func run() async throws {
        if let from { return try await createMany(from) }
        let (id, kind) = (self.id!, self.kind!)
        let client = connection.client
        var request: [String: JSON] = ["id": .string(id), "kind": .string(kind)]
        if let config {
            let data = try Self.load(config, "--config")
            request["config"] = try parseJSON(data)
        }
        let code = try program.map { try Self.load($0, "--program") }
        // UTF-8 text goes in the create request itself (atomic); anything else is PUT after.
        let text = code.flatMap { String(validating: $0, as: UTF8.self) }
        if let text { request["program"] = .string(text) }
        var body: Data
        var separate = code != nil && text == nil
        do {
            body = try await client.post("/agents", body: Data(JSON.object(request).description.utf8))
        } catch let e as FSError where e.code == .payloadTooLarge && text != nil && code!.count <= 1 << 20 {
            // The program fits a file (1 MiB) but, escaped as JSON, not a request: the bytes as they are.
            request["program"] = nil
            body = try await client.post("/agents", body: Data(JSON.object(request).description.utf8))
            separate = true
        }
        if separate, let code {
            do {
                _ = try await client.write("/agents/\(id)/program", code, mode: .replace)
            } catch let refused as FSError {
                var message = "the program was refused: \(refused.message)"
                do {
                    try await client.remove("/agents/\(id)")
                    message += "; agent \(id) was deleted again"
                } catch let e as FSError {
                    message += "; deleting agent \(id) failed too (\(e.message)): it exists without a program"
                }
                throw FSError(refused.code, message, path: refused.path)
            }
            if connection.json { body = try await client.read("/agents/\(id)/status") }
        }
        if connection.json { return out(String(decoding: body, as: UTF8.self)) }
        out(code.map { "created \(id) (\(kind), program of \($0.count) bytes)\n" } ?? "created \(id) (\(kind))\n")
    }

    /// The agents of an NDJSON file, 1,000 a request.
    func createMany(_ file: String) async throws {
        let client = connection.client
        let data = try Self.load(file, "--from")
        var lines: [(number: Int, agent: JSON)] = []
        // Lines are split on the bytes (a "\r\n" is one Character to Swift, and a file from
        // Windows ends its lines so).
        for (i, line) in data.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: false).enumerated() {
            let trimmed = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            if trimmed.isEmpty { continue }
            guard let agent = try? JSON(parsing: Data(trimmed.utf8)) else {
                throw FSError(.invalidInput, "--from line \(i + 1) is not JSON; nothing was created")
            }
            lines.append((i + 1, agent))
        }
        guard !lines.isEmpty else { throw FSError(.invalidInput, "--from: no agents in the file") }
        var created = 0
        // A request of at most 1,000 agents and 4 MiB (agentd takes 8 MiB: exec agents' programs
        // can make a thousand lines larger than that).
        var start = 0
        while start < lines.count {
            var end = start
            var bytes = 2
            while end < lines.count, end - start < 1_000 {
                let size = lines[end].agent.description.utf8.count + 1
                if end > start, bytes + size > 4 << 20 { break }
                bytes += size
                end += 1
            }
            let batch = lines[start..<end]
            start = end
            let body: Data
            do {
                body = try await client.post("/agents", body: Data(JSON.array(batch.map(\.agent)).description.utf8))
            } catch let e as FSError {
                let first = batch.first!.number
                var message = e.message
                // "agent 3 (...)": the index within this request, as a line of the file; a taken id, its line.
                if message.hasPrefix("agent "), let n = Int(message.dropFirst(6).prefix { $0.isNumber }), n < batch.count {
                    message = "line \(batch[batch.startIndex + n].number): " + message
                } else if e.code == .alreadyExists,
                          let line = batch.first(where: { $0.agent["id"]?.stringValue.map { message.contains("'\($0)'") } ?? false }) {
                    message = "line \(line.number): " + message
                }
                let fate = e.code == .unavailable
                    ? "the request from line \(first) may or may not have been created (list the agents to see), none after it"
                    : "none from line \(first) on"
                throw FSError(e.code, "\(message); \(created) agents were created (the lines before \(first)), \(fate)", path: e.path)
            }
            created += batch.count
            if connection.json {
                out(((try? parseJSON(body))?.arrayValue ?? []).map { $0.description + "\n" }.joined())
            }
            if lines.count > batch.count { FileHandle.standardError.write(Data("created \(created) of \(lines.count)\n".utf8)) }
        }
        if !connection.json { out("created \(created) agents\n") }
    }
}

struct Info: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show an agent's info.")
    @OptionGroup var connection: Connection
    @Argument(help: "Agent id.") var id: String

    func run() async throws {
        let body = try await connection.client.get("/agents/\(id)")
        out(connection.json ? String(decoding: body, as: UTF8.self) : describe(try parseJSON(body)))
    }
}

struct Status: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Show an agent's status file.")
    @OptionGroup var connection: Connection
    @Argument(help: "Agent id.") var id: String

    func run() async throws {
        let body = try await connection.client.read("/agents/\(id)/status")
        out(connection.json ? String(decoding: body, as: UTF8.self) : describe(try parseJSON(body)))
    }
}

struct Delete: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Delete an agent and everything it holds.")
    @OptionGroup var connection: Connection
    @Argument(help: "Agent id.") var id: String

    func run() async throws {
        try await connection.client.remove("/agents/\(id)")
        out(connection.json ? "{\"deleted\":\"\(id)\"}\n" : "deleted \(id)\n")
    }
}

struct Send: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Send a message to an agent's inbox.")
    @OptionGroup var connection: Connection
    @Argument(help: "Agent id.") var id: String
    @Argument(help: "The message, or '-' to read it from standard input.") var text: String

    func run() async throws {
        let answer = try await connection.client.write("/agents/\(id)/inbox", readInput(text), mode: .append)
        if connection.json { return out(String(decoding: answer, as: UTF8.self)) }
        let r = try parseJSON(answer)
        out("\(r["status"]?.stringValue ?? "sent") \(r["id"]?.stringValue ?? "")\n")
    }
}

enum Control {
    static func run(_ connection: Connection, _ id: String, _ command: String) async throws {
        try await connection.client.write("/agents/\(id)/ctl", Data((command + "\n").utf8), mode: .replace)
        let body = try await connection.client.read("/agents/\(id)/status")
        if connection.json { return out(String(decoding: body, as: UTF8.self)) }
        let s = try parseJSON(body)
        out("\(id): \(s["state"]?.stringValue ?? "?"), tick \(s["tick_count"]?.intValue ?? 0)\n")
    }

    struct Tick: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Run one tick now (also when paused) and wait for it.")
        @OptionGroup var connection: Connection
        @Argument(help: "Agent id.") var id: String
        func run() async throws { try await Control.run(connection, id, "tick") }
    }

    struct Hibernate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Hibernate an agent: on disk only until something wakes it.")
        @OptionGroup var connection: Connection
        @Argument(help: "Agent id.") var id: String
        func run() async throws { try await Control.run(connection, id, "hibernate") }
    }

    struct Wake: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Wake an agent.")
        @OptionGroup var connection: Connection
        @Argument(help: "Agent id.") var id: String
        func run() async throws { try await Control.run(connection, id, "wake") }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Pause automatic ticks (manual ticks still run).")
        @OptionGroup var connection: Connection
        @Argument(help: "Agent id.") var id: String
        func run() async throws { try await Control.run(connection, id, "pause") }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume automatic ticks.")
        @OptionGroup var connection: Connection
        @Argument(help: "Agent id.") var id: String
        func run() async throws { try await Control.run(connection, id, "resume") }
    }
}

struct Logs: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print an agent's trace; --follow keeps printing new lines.")
    @OptionGroup var connection: Connection
    @Argument(help: "Agent id.") var id: String
    @Flag(name: [.short, .long], help: "Follow new records, resuming after a dropped connection.") var follow = false

    func run() async throws {
        let path = "/agents/\(id)/logs/trace"
        let (data, lastID) = try await connection.client.readWithLastEventID(path)
        out(String(decoding: data, as: UTF8.self))
        guard follow else { return }
        // From the last record read: records appended since the read are printed once.
        try await followStream(connection, path, raw: true, after: lastID)
    }
}

/// Prints records as they arrive (after `after`; nil: from now); reconnects with Last-Event-ID
/// after a dropped connection.
func followStream(_ connection: Connection, _ path: String, raw: Bool, after: UInt64? = nil) async throws {
    let stream = try await connection.client.watch(path, after: after, reconnect: true) { error in
        FileHandle.standardError.write(Data("agentctl: connection lost (\(error.message)); reconnecting\n".utf8))
    }
    for try await r in stream {
        if connection.json {
            out(JSON.object(["id": .int64(Int64(r.id)), "event": .string(r.event), "data": .string(r.data)]).description + "\n")
        } else if raw && r.event == "record" {
            out(r.data + "\n")
        } else {
            out("\(r.event) \(r.data)\n")
        }
    }
}

struct Ls: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List a directory of the namespace ('' or no path: the agents).")
    @OptionGroup var connection: Connection
    @Argument(help: "Agent path, e.g. scout/ or scout/goals.") var path: String = ""

    func run() async throws {
        let entries = try await connection.client.list(globalPath(path))
        if connection.json {
            return out(JSON.array(entries.map { .object(["name": .string($0.name), "type": .string($0.type.rawValue), "size": .int64($0.size)]) })
                .description + "\n")
        }
        out(entries.map { $0.type == .dir ? $0.name + "/\n" : $0.name + "\n" }.joined())
    }
}

struct Cat: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a file.")
    @OptionGroup var connection: Connection
    @Argument(help: "Agent path, e.g. scout/status.") var path: String

    func run() async throws {
        FileHandle.standardOutput.write(try await connection.client.read(globalPath(path)))
    }
}

struct Write: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write a file (replace; --append to append, send or call).")
    @OptionGroup var connection: Connection
    @Argument(help: "Agent path, e.g. scout/goals/g1.json.") var path: String
    @Argument(help: "The data, or '-' to read it from standard input.") var data: String
    @Flag(help: "Append (POST) instead of replacing (PUT).") var append = false

    func run() async throws {
        let answer = try await connection.client.write(globalPath(path), readInput(data), mode: append ? .append : .replace)
        FileHandle.standardOutput.write(answer)
    }
}

struct Watch: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print a file's or directory's events as they happen.")
    @OptionGroup var connection: Connection
    @Argument(help: "Agent path, e.g. scout/outbox or scout/goals.") var path: String

    func run() async throws { try await followStream(connection, globalPath(path), raw: false) }
}

struct Goals: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List, add or remove an agent's goals.")
    @OptionGroup var connection: Connection
    @Argument(help: "Agent id.") var id: String
    @Argument(help: "list | add <goal-id> <json|-> | rm <goal-id>") var words: [String] = []

    func validate() throws {
        switch words.first ?? "list" {
        case "list": guard words.count <= 1 else { throw ValidationError("usage: goals <id> list") }
        case "add": guard words.count == 3 else { throw ValidationError("usage: goals <id> add <goal-id> <json|->") }
        case "rm": guard words.count == 2 else { throw ValidationError("usage: goals <id> rm <goal-id>") }
        default: throw ValidationError("unknown goals command '\(words[0])'; expected list, add or rm")
        }
    }

    func run() async throws {
        let client = connection.client
        switch words.first ?? "list" {
        case "add":
            try await client.write("/agents/\(id)/goals/\(words[1]).json", readInput(words[2]), mode: .replace)
            out(connection.json ? "{\"added\":\"\(words[1])\"}\n" : "added \(words[1])\n")
        case "rm":
            try await client.remove("/agents/\(id)/goals/\(words[1]).json")
            out(connection.json ? "{\"removed\":\"\(words[1])\"}\n" : "removed \(words[1])\n")
        default:
            var goals: [String: JSON] = [:]
            for e in try await client.list("/agents/\(id)/goals") {
                goals[String(e.name.dropLast(5))] = try parseJSON(try await client.read("/agents/\(id)/goals/\(e.name)"))
            }
            if connection.json { return out(JSON.object(goals).description + "\n") }
            out(goals.keys.sorted().map { "\($0)\t\(goals[$0]!)\n" }.joined())
        }
    }
}

struct Tokens: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Issue a token that sees only one agent (operator only).")
    @OptionGroup var connection: Connection
    @Argument(help: "Agent id.") var id: String

    func run() async throws {
        let body = try await connection.client.post("/agents/\(id)/tokens")
        out(connection.json ? String(decoding: body, as: UTF8.self) : (try parseJSON(body)["token"]?.stringValue ?? "") + "\n")
    }
}
