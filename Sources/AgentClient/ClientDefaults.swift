import Foundation

/// Where agentd is and which token to present, resolved the same way by every client
/// (SPEC.md): --url, else $AGENTD_URL, else http://127.0.0.1:5640; --token, else
/// $AGENTD_TOKEN, else `<data>/token` of --data, $AGENTD_DATA or the default data directory.
public enum ClientDefaults {
    public static let url = "http://127.0.0.1:5640"

    public static var dataDirectory: String {
        let env = ProcessInfo.processInfo.environment
        return env["AGENTD_DATA"] ?? ((env["XDG_STATE_HOME"].map { $0 + "/agentd" }) ?? NSHomeDirectory() + "/.local/state/agentd")
    }

    public static func url(_ given: String?) -> String {
        given ?? ProcessInfo.processInfo.environment["AGENTD_URL"] ?? url
    }

    public static func token(_ given: String?, data: String?) -> String? {
        if let given { return given }
        if let env = ProcessInfo.processInfo.environment["AGENTD_TOKEN"] { return env }
        let dir = data ?? dataDirectory
        return (try? String(contentsOfFile: dir + "/token", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
    }
}
