import AgentClient
import Foundation
import Glibc
import Namespace

// What the benchmarks that drive a real agentd share (--containers, --exec): agentd as a child
// process, and the closing table of goals.

// MARK: - agentd as a child process

struct AgentdProcess {
    let process: Process
    let port: Int
    let token: String
    let data: String

    /// agentd from the same build directory as this binary, on port 0 (the port is read from its log).
    static func start(data: String, sandboxRoot: String) async throws -> AgentdProcess {
        let dir = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        let bin = dir.appendingPathComponent("agentd").path
        guard FileManager.default.isExecutableFile(atPath: bin) else {
            throw FSError(.unavailable, "\(bin) is missing: swift build -c release --product agentd")
        }
        let logPath = data + ".log"
        FileManager.default.createFile(atPath: logPath, contents: nil)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: bin)
        p.arguments = ["--data", data, "--listen", "127.0.0.1:0", "--log-level", "warning", "--sandbox-root", sandboxRoot]
        let logFile = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        p.standardOutput = logFile
        p.standardError = logFile
        try p.run()
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let text = (try? String(contentsOfFile: logPath, encoding: .utf8)) ?? ""
            if let mark = text.range(of: "listening on http://127.0.0.1:", options: .backwards) {
                let digits = text[mark.upperBound...].prefix { $0.isNumber }
                if let port = Int(digits), let token = try? String(contentsOfFile: data + "/token", encoding: .utf8) {
                    return AgentdProcess(process: p, port: port, token: token.trimmingCharacters(in: .whitespacesAndNewlines), data: data)
                }
            }
            guard p.isRunning else { throw FSError(.unavailable, "agentd exited: \(text.suffix(2000))") }
            try await Task.sleep(for: .milliseconds(50))
        }
        throw FSError(.unavailable, "agentd did not start in 30 s (see \(logPath))")
    }

    func stop() {
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
    }
}

/// A fresh directory for a run's data and work directories: not under /tmp (the sandbox has its
/// own), 0711 so that the sandbox user reaches the work directories below it.
func benchDirectory(_ tag: String) throws -> String {
    var template = Array("/var/tmp/agentns-bench-\(tag).XXXXXX".utf8CString)
    guard let made = mkdtemp(&template) else { throw FSError(.unavailable, "mkdtemp failed") }
    let work = String(cString: made)
    chmod(work, 0o711)
    return work
}

// MARK: - Figures

/// One line of the closing table.
struct GoalRow {
    let what: String
    let figure: String
    let baseline: String
    let ratio: String
    let goal: String
    let met: Bool
}

func ms(_ x: Double) -> String { String(format: "%.1f ms", x) }

/// The p50 and p99 of a sample, as "p50 X ms, p99 Y ms".
func p5099(_ xs: [Double]) -> String { String(format: "p50 %.1f ms, p99 %.1f ms", median(xs), percentile(xs, 0.99)) }

/// The closing table: each goal, its figure, the same run's baseline, the ratio and whether it is met.
func printGoals(_ title: String, _ rows: [GoalRow]) {
    log("== \(title): goals")
    let header = ["what", "figure", "baseline (same run)", "ratio", "goal", "met"]
    let table = rows.map { [$0.what, $0.figure, $0.baseline, $0.ratio, $0.goal, $0.met ? "yes" : "NO"] }
    let widths = header.indices.map { i in ([header] + table).map { $0[i].count }.max() ?? 0 }
    func line(_ cells: [String]) -> String { zip(cells, widths).map { $0.padding(toLength: $1, withPad: " ", startingAt: 0) }.joined(separator: "  ") }
    log(line(header))
    for r in table { log(line(r)) }
}
