import AgentClient
import ArgumentParser
import Foundation
import Namespace

@main
struct AgentCtl: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "agentctl",
        abstract: "The operator's CLI for agentd.",
        discussion: """
            Paths are agent paths: 'scout/status' is /agents/scout/status; '/runtime/status' is absolute. \
            The server is --url, else $AGENTD_URL, else http://127.0.0.1:5640. The token is --token, \
            else $AGENTD_TOKEN, else <data>/token of --data, $AGENTD_DATA or ~/.local/state/agentd. \
            Exit status: 0 success, 1 the server refused (its message on stderr), 2 bad usage.
            """,
        subcommands: [
            List.self, Create.self, Info.self, Delete.self, Send.self, Control.Tick.self, Control.Hibernate.self, Control.Wake.self,
            Control.Pause.self, Control.Resume.self, Status.self, Logs.self, Ls.self, Cat.self, Write.self, Watch.self, Goals.self, Tokens.self, Export.self, Import.self, Providers.self, Containers.Run.self, Containers.Sessions.self,
        ]
    )

    /// Usage errors exit 2 (SPEC), refused requests 1, with one line on stderr.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
        } catch let e as FSError {
            FileHandle.standardError.write(Data("agentctl: \(e.message)\(e.path.map { " (\($0))" } ?? "")\n".utf8))
            Foundation.exit(1)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            if code == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            let message = fullMessage(for: error)
            if !message.isEmpty { FileHandle.standardError.write(Data("agentctl: \(message)\n".utf8)) }
            Foundation.exit(code.rawValue == 0 ? 1 : code.rawValue)
        }
    }
}

/// Where the server is and who we are.
struct Connection: ParsableArguments {
    @Option(help: "agentd's URL (default: $AGENTD_URL or http://127.0.0.1:5640).")
    var url: String?

    @Option(help: "Bearer token (default: $AGENTD_TOKEN or <data>/token).")
    var token: String?

    @Option(help: "agentd's data directory, to find its token (default: $AGENTD_DATA or ~/.local/state/agentd).")
    var data: String?

    @Flag(help: "Print JSON for scripts instead of text for people.")
    var json = false

    var client: HTTPFileClient {
        HTTPFileClient(url: ClientDefaults.url(url), token: ClientDefaults.token(token, data: data))
    }
}

/// `scout/status` → `/agents/scout/status`; absolute paths stay.
func globalPath(_ p: String) -> String {
    if p.hasPrefix("/") { return p }
    return p.isEmpty ? "/agents" : "/agents/" + p
}

func readInput(_ value: String) -> Data {
    value == "-" ? FileHandle.standardInput.readDataToEndOfFile() : Data(value.utf8)
}

func out(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
}

func parseJSON(_ data: Data) throws -> JSON { try JSON(parsing: data) }

/// A table column: `s` and spaces to `n` characters, or `s` and one space when longer.
func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }

/// `key: value` lines for people.
func describe(_ json: JSON) -> String {
    guard case .object(let o) = json else { return json.description + "\n" }
    let width = o.keys.map(\.count).max() ?? 0
    return o.keys.sorted().map { k in
        let v = o[k]!
        let shown = v.stringValue ?? (v == .null ? "-" : v.description)
        return k + ":" + String(repeating: " ", count: width - k.count + 1) + shown + "\n"
    }.joined()
}
