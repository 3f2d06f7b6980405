import AgentClient
import ArgumentParser
import Foundation
import Namespace

/// `agentctl providers list|add|rm`: the runtime's compute providers (operator only), the
/// files under /runtime/providers/.
struct Providers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "List, add or remove the runtime's compute providers (operator only).",
        discussion: """
            A provider speaks OpenAI's chat-completions protocol (OpenAI, llama.cpp's llama-server, vLLM, Ollama). \
            Prices are integer micro-USD per million tokens. The key is stored and never shown again. \
            Examples: agentctl providers add local --base-url http://127.0.0.1:5641/v1 --model smollm2; \
            agentctl providers add openai --base-url https://api.openai.com/v1 --api-key-file ~/.openai --model gpt-4o-mini \
            --price-input 150000 --price-output 600000.
            """,
        subcommands: [ListProviders.self, Add.self, Remove.self],
        defaultSubcommand: ListProviders.self
    )

    struct ListProviders: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "list", abstract: "List providers.")
        @OptionGroup var connection: Connection

        func run() async throws {
            let client = connection.client
            var rows: [(String, JSON)] = []
            for e in try await client.list("/runtime/providers").sorted(by: { $0.name < $1.name }) {
                rows.append((String(e.name.dropLast(5)), try parseJSON(try await client.read("/runtime/providers/\(e.name)"))))
            }
            if connection.json { return out(JSON.object(Dictionary(uniqueKeysWithValues: rows)).description + "\n") }
            var text = "NAME             KIND     MODELS                    PRICE IN/OUT  BASE URL\n"
            for (name, p) in rows {
                let models = (p["models"]?.arrayValue ?? []).compactMap(\.stringValue).joined(separator: ",")
                let price = "\(p["price"]?["input"]?.int64Value ?? 0)/\(p["price"]?["output"]?.int64Value ?? 0)"
                text += pad(name, 17) + pad(p["kind"]?.stringValue ?? "", 9) + pad(models, 26) + pad(price, 14) + (p["base_url"]?.stringValue ?? "") + "\n"
            }
            out(text)
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Add a provider, or replace the one of that name.")
        @OptionGroup var connection: Connection
        @Argument(help: "Provider name: [a-z0-9][a-z0-9._-]{0,62}.") var name: String
        @Option(help: "The server's OpenAI-compatible base URL, e.g. http://127.0.0.1:5641/v1.") var baseURL: String
        @Option(help: "A model it serves (repeat for more; the first is the default).") var model: [String] = []
        @Option(help: "Price of input tokens, micro-USD per million (default 0).") var priceInput: Int64 = 0
        @Option(help: "Price of output tokens, micro-USD per million (default 0).") var priceOutput: Int64 = 0
        @Option(help: "API key (prefer --api-key-file: a key on the command line is visible to other users). Add replaces the whole provider: give the key again when replacing one.") var apiKey: String?
        @Option(help: "File holding the API key ('-' for standard input).") var apiKeyFile: String?
        @Option(help: "Request timeout in milliseconds (default 120000).") var timeoutMs: Int64?
        @Option(help: "Retries of connection errors, 429 and 5xx (default 3).") var maxRetries: Int?

        func validate() throws {
            if apiKey != nil, apiKeyFile != nil { throw ValidationError("give --api-key or --api-key-file, not both") }
            if priceInput < 0 || priceOutput < 0 { throw ValidationError("prices are 0 or more") }
        }

        func run() async throws {
            var key = apiKey
            if let apiKeyFile {
                let data = apiKeyFile == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: apiKeyFile))
                key = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            var body: [String: JSON] = [
                "kind": "openai", "base_url": .string(baseURL), "models": .array(model.map { .string($0) }),
                "price": .object(["input": .int64(priceInput), "output": .int64(priceOutput)]), "api_key": key.map { .string($0) } ?? .null,
                "timeout_ms": timeoutMs.map { .int64($0) } ?? .null, "max_retries": maxRetries.map { .int($0) } ?? .null,
            ]
            let client = connection.client
            let path = "/runtime/providers/\(name).json"
            // A replace (PUT) is the whole provider: exactly what was given.
            body = body.filter { $0.value != .null }
            try await client.write(path, Data(JSON.object(body).description.utf8), mode: .replace)
            out(connection.json ? String(decoding: try await client.read(path), as: UTF8.self) : "added provider \(name)\n")
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(commandName: "rm", abstract: "Remove a provider.")
        @OptionGroup var connection: Connection
        @Argument(help: "Provider name.") var name: String

        func run() async throws {
            try await connection.client.remove("/runtime/providers/\(name).json")
            out(connection.json ? "{\"removed\":\"\(name)\"}\n" : "removed provider \(name)\n")
        }
    }
}
