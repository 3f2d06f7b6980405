import AgentClient
import ArgumentParser
import Foundation
import Namespace

struct Export: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Write an agent as a bundle (JSON) to standard output.",
        discussion: """
            The bundle holds the agent's kind, config, state, lifecycle and counters, its goals, \
            alarms, pending envelopes, dead letters, the retained records of its logs and its public \
            key; agent tokens never. The private key is left out unless --private-key is given: \
            then anyone holding the bundle can sign as the agent, so keep it like a password. \
            Example: agentctl export scout > scout.bundle
            """
    )
    @OptionGroup var connection: Connection
    @Argument(help: "Agent id.") var id: String
    @Flag(help: "Include the agent's private key, so an import keeps its identity (its public key).") var privateKey = false

    func run() async throws {
        let body = try await connection.client.get("/agents/\(id)", query: "export=1" + (privateKey ? "&private_key=1" : ""))
        FileHandle.standardOutput.write(body)
    }
}

struct Import: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Create an agent from a bundle read from standard input (or --file).",
        discussion: """
            The agent comes back as it was exported: config, state, lifecycle, counters, goals, \
            alarms, pending envelopes (which it then processes), dead letters and retained logs. An \
            agent with the same id is refused unless --replace; --as imports under another id. A \
            bundle without its private key gets a new identity (a new public key), which the output says. \
            Example: agentctl import < scout.bundle
            """
    )
    @OptionGroup var connection: Connection
    @Option(help: "Read the bundle from this file instead of standard input.") var file: String?
    @Option(name: .customLong("as"), help: "Import under this agent id instead of the bundle's.") var id: String?
    @Flag(help: "Overwrite an existing agent of the same id (everything it held is replaced).") var replace = false

    func run() async throws {
        let data = try file.map { try Data(contentsOf: URL(fileURLWithPath: $0)) } ?? FileHandle.standardInput.readDataToEndOfFile()
        guard !data.isEmpty else { throw ValidationError("no bundle on standard input; usage: agentctl import < bundle (or --file bundle)") }
        var query = "import=1"
        if replace { query += "&replace=1" }
        if let id { query += "&id=" + (id.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? id) }
        let body = try await connection.client.post("/agents", query: query, body: data)
        if connection.json { return out(String(decoding: body, as: UTF8.self)) }
        let status = try parseJSON(body)
        let keptKey = (try? parseJSON(data))?["identity"]?["secret"] != nil
        out("imported \(status["id"]?.stringValue ?? "?") (\(status["kind"]?.stringValue ?? "?"), \(status["state"]?.stringValue ?? "?"), "
            + "tick \(status["tick_count"]?.intValue ?? 0), \(status["queue_depth"]?.intValue ?? 0) pending)\n"
            + (keptKey ? "" : "new identity: the bundle had no private key, so the agent has a new public key\n"))
    }
}
