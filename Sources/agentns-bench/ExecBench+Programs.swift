import Foundation
import Runtime

// The programs the exec agents' benchmark runs (ExecBench.swift), inside agentd's ticks and bare.

// MARK: - The programs

/// A program every variant of part 1 runs: once inside agentd's ticks, once bare with the same stdin.
struct ExecProgram {
    let name: String
    let what: String
    let text: String
}

enum ExecPrograms {
    /// One reply per envelope of the tick on stdin, with sh builtins (the body of the sh programs).
    static let replyLoop = #"""
        read -r t
        rest=${t#*\"envelopes\":}
        while :; do
            case $rest in
                *\"id\":\"*) rest=${rest#*\"id\":\"}; printf '{"reply":{"to":"%s","body":"pong"}}\n' "${rest%%\"*}" ;;
                *) break ;;
            esac
        done

        """#

    /// One reply per envelope with sh builtins only (read, case, printf): no process is started,
    /// so the figure is the runtime's and the sandbox's, not a language's. It takes the ids from
    /// the tick's one line (keys sorted: `"envelopes":[{"body":..,"from":..,"id":"<id>",..}]`;
    /// the bench's bodies are strings, so the only `"id":"` after `"envelopes":` are the envelopes').
    static let sh = ExecProgram(name: "sh", what: "sh builtins (read, case, printf; no process started)", text: "#!/bin/sh\n" + replyLoop)

    /// The brief's smallest agent in Python: one python3 start per tick.
    static let python = ExecProgram(name: "python", what: "sh starting python3 -c (json.load, one print per envelope)", text: #"""
        #!/bin/sh
        python3 -c 'import json,sys
        t=json.load(sys.stdin)
        for e in t["envelopes"]:
            print(json.dumps({"reply":{"to":e["id"],"body":e["body"]}}))'

        """#)

    /// The sh program, first reading its own status through /n/self with cat (a process; one
    /// FUSE open and read served by agentd while the tick runs); a failed read fails the tick.
    static let selfRead = ExecProgram(name: "sh-self", what: "sh builtins + `s=$(cat /n/self/status)`", text: "#!/bin/sh\ns=$(cat /n/self/status) || exit 3\n" + replyLoop)

    /// The sh program with the wall clock (ns) at its start and end in a `trace` effect: where a
    /// tick's time goes. Each `date` is one more process (about a millisecond each).
    static let stamped = ExecProgram(name: "sh-stamped", what: "sh builtins + date +%s%N at start and end (2 processes)", text: "#!/bin/sh\ns=$(date +%s%N)\n" + replyLoop + #"""
        printf '{"trace":{"type":"bench_stamps","start_ns":%s,"end_ns":%s}}\n' "$s" "$(date +%s%N)"

        """#)

    /// Sleeps through its tick (so that its bwrap's command line can be read) and emits the tick
    /// it was given (the stdin of the bare runs).
    static let probe = ExecProgram(name: "probe", what: "", text: #"""
        #!/bin/sh
        read -r t
        sleep 1
        printf '{"emit":{"tick":%s}}\n' "$t"

        """#)

    /// Holds its tick (and so its /n/self) open for the bare runs that bind it: the self mount
    /// serves an agent only while its program runs.
    static let hold = ExecProgram(name: "hold", what: "", text: #"""
        #!/bin/sh
        exec sleep 3600

        """#)

    /// examples/echo.sh (the issue's program), from the working directory or above this binary.
    static func echo() -> ExecProgram? {
        var dirs = [FileManager.default.currentDirectoryPath]
        var up = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<4 {
            up = up.deletingLastPathComponent()
            dirs.append(up.path)
        }
        for d in dirs {
            if let data = FileManager.default.contents(atPath: d + "/examples/echo.sh"), !data.isEmpty {
                return ExecProgram(name: "echo.sh", what: "examples/echo.sh (\(d)/examples/echo.sh, \(data.count) bytes, sha256 \(ProgramLimits.sha256(data).prefix(12)))",
                                   text: String(decoding: data, as: UTF8.self))
            }
        }
        return nil
    }
}

