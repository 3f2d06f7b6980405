public import Foundation
public import Namespace
public import Runtime
import Synchronization

/// A sandbox provider for tests of the runtime's side of `containers/` (admission, budgets,
/// output, notices, recovery): work directories are in memory and execs are scripted by argv.
/// The real isolation is SandboxBubblewrap's, tested against bwrap itself.
///
/// argv: `echo WORDS...` writes the words to stdout; `err TEXT` to stderr; `exit N` exits N;
/// `cpu MS` reports MS of CPU time; `killed LIMIT` ends as killed by that limit; `hold` runs
/// until `release()` or cancellation; `lines N` writes N numbered stdout lines.
///
/// An exec agent's program (`/work/program`, as the runtime runs it) is read from the work
/// directory and run line by line: `out TEXT` (a stdout line), `err TEXT` (a stderr line),
/// `stdin` (the tick's stdin as an `{"emit": ...}` effect line), `exit N`, `hold`, `killed LIMIT`.
public final class ScriptedSandbox: SandboxProvider {
    public let name = "local"
    public var info: JSON { .object(["kind": "scripted", "isolation": "none (tests)", "limits": .array(SandboxLimit.allCases.map { .string($0.rawValue) })]) }
    public let enforceable: Set<SandboxLimit>
    struct State {
        var dirs: Set<String> = []
        var files: [String: Data] = [:]
        var runs: [SandboxExec] = []
        var releases = 0
    }
    let state = Mutex(State())

    public init(enforceable: Set<SandboxLimit> = Set(SandboxLimit.allCases)) { self.enforceable = enforceable }

    /// Every exec run so far, in order.
    public var runs: [SandboxExec] { state.withLock { $0.runs } }
    /// Ends every `hold` exec running now or started later (once each call).
    public func release() { state.withLock { $0.releases += 1 } }

    func key(_ s: SandboxSession, _ path: [String] = []) -> String { ([s.agent, s.id] + path).joined(separator: "/") }

    public func createSession(_ session: SandboxSession) async throws { _ = state.withLock { $0.dirs.insert(key(session)) } }
    public func removeSession(_ session: SandboxSession) async throws {
        let prefix = key(session)
        state.withLock { s in
            s.dirs = s.dirs.filter { $0 != prefix && !$0.hasPrefix(prefix + "/") }
            s.files = s.files.filter { !$0.key.hasPrefix(prefix + "/") }
        }
    }
    public func sessionExists(_ session: SandboxSession) async -> Bool { state.withLock { $0.dirs.contains(key(session)) } }

    public func run(_ session: SandboxSession, _ exec: SandboxExec, output: @escaping @Sendable (SandboxOutput) async -> Void) async throws
        -> SandboxExit {
        let releases = state.withLock { s in
            s.runs.append(exec)
            return s.releases
        }
        if exec.argv == ["/work/program"] {
            let script = state.withLock { $0.files[key(session, ["program"])] } ?? Data()
            return try await runProgram(String(decoding: script, as: UTF8.self), exec, releases: releases, output: output)
        }
        let args = Array(exec.argv.dropFirst())
        var exit = SandboxExit(exitCode: 0, durationMs: 1, cpuMs: 1, maxRSSKB: 1024)
        switch exec.argv[0] {
        case "echo": await output(SandboxOutput(stream: .stdout, data: args.joined(separator: " ") + "\n"))
        case "err": await output(SandboxOutput(stream: .stderr, data: args.joined(separator: " ") + "\n"))
        case "exit": exit.exitCode = Int32(args.first ?? "1") ?? 1
        case "cpu": exit.cpuMs = Int64(args.first ?? "0") ?? 0
        case "lines": for i in 0..<(Int(args.first ?? "0") ?? 0) { await output(SandboxOutput(stream: .stdout, data: "line \(i)\n")) }
        case "killed":
            exit.exitCode = nil
            exit.signal = 9
            exit.killedBy = SandboxLimit(rawValue: args.first ?? "") ?? .timeout
        case "hold":
            while state.withLock({ $0.releases }) == releases {
                if Task.isCancelled {
                    return SandboxExit(exitCode: nil, signal: 9, durationMs: 1, cpuMs: 1, maxRSSKB: 1024, cancelled: true)
                }
                try? await Task.sleep(for: .milliseconds(5))
            }
        default:
            throw FSError(.invalidInput, "scripted sandbox: no program '\(exec.argv[0])'")
        }
        return exit
    }

    func runProgram(_ script: String, _ exec: SandboxExec, releases: Int, output: @escaping @Sendable (SandboxOutput) async -> Void) async throws
        -> SandboxExit {
        var exit = SandboxExit(exitCode: 0, durationMs: 1, cpuMs: 1, maxRSSKB: 1024)
        for line in script.split(separator: "\n") {
            let (word, rest) = (line.split(separator: " ", maxSplits: 1).first.map(String.init) ?? "",
                                line.split(separator: " ", maxSplits: 1).dropFirst().first.map(String.init) ?? "")
            switch word {
            case "out": await output(SandboxOutput(stream: .stdout, data: rest + "\n"))
            case "err": await output(SandboxOutput(stream: .stderr, data: rest + "\n"))
            case "stdin":
                let input = String(decoding: exec.stdin, as: UTF8.self).trimmingCharacters(in: .newlines)
                await output(SandboxOutput(stream: .stdout, data: #"{"emit":"# + input + "}\n"))
            case "exit":
                exit.exitCode = Int32(rest) ?? 1
                return exit
            case "killed":
                return SandboxExit(exitCode: nil, signal: 9, durationMs: 1, cpuMs: 1, maxRSSKB: 1024, killedBy: SandboxLimit(rawValue: rest) ?? .timeout)
            case "hold":
                while state.withLock({ $0.releases }) == releases {
                    if Task.isCancelled { return SandboxExit(exitCode: nil, signal: 9, durationMs: 1, cpuMs: 1, maxRSSKB: 1024, cancelled: true) }
                    try? await Task.sleep(for: .milliseconds(5))
                }
            default:
                if !word.hasPrefix("#") { throw FSError(.invalidInput, "scripted sandbox: no program step '\(word)'") }
            }
        }
        return exit
    }

    public func stat(_ session: SandboxSession, _ path: [String]) async throws -> SandboxFileInfo {
        let k = key(session, path)
        return try state.withLock { s throws(FSError) in
            if s.dirs.contains(k) { return SandboxFileInfo(name: path.last ?? "", kind: .directory, size: 0, mtime: 0) }
            guard let d = s.files[k] else { throw FSError.notFound(path.joined(separator: "/")) }
            return SandboxFileInfo(name: path.last ?? "", kind: .file, size: Int64(d.count), mtime: 0)
        }
    }

    public func list(_ session: SandboxSession, _ path: [String]) async throws -> [SandboxFileInfo] {
        let k = key(session, path)
        return state.withLock { s in
            let files = s.files.filter { $0.key.hasPrefix(k + "/") && !$0.key.dropFirst(k.count + 1).contains("/") }
                .map { SandboxFileInfo(name: String($0.key.dropFirst(k.count + 1)), kind: .file, size: Int64($0.value.count), mtime: 0) }
            let dirs = s.dirs.filter { $0.hasPrefix(k + "/") && !$0.dropFirst(k.count + 1).contains("/") }
                .map { SandboxFileInfo(name: String($0.dropFirst(k.count + 1)), kind: .directory, size: 0, mtime: 0) }
            return (files + dirs).sorted { $0.name < $1.name }
        }
    }

    public func read(_ session: SandboxSession, _ path: [String], offset: Int64, count: Int64?) async throws -> Data {
        let k = key(session, path)
        return try state.withLock { s throws(FSError) in
            guard let d = s.files[k] else { throw FSError.notFound(path.joined(separator: "/")) }
            let start = Int(min(offset, Int64(d.count)))
            let end = count.map { Int(min(Int64(d.count), Int64(start) + $0)) } ?? d.count
            return d.subdata(in: start..<end)
        }
    }

    public func write(_ session: SandboxSession, _ path: [String], _ data: Data, offset: Int64?, diskLimit: Int64?) async throws {
        let k = key(session, path)
        let root = key(session)
        try state.withLock { s throws(FSError) in
            var next = offset.map { o in
                var d = s.files[k] ?? Data()
                if d.count < Int(o) { d.append(Data(count: Int(o) - d.count)) }
                d.replaceSubrange(Int(o)..<min(d.count, Int(o) + data.count), with: data)
                return d
            } ?? data
            let used = s.files.filter { $0.key.hasPrefix(root + "/") && $0.key != k }.reduce(0) { $0 + $1.value.count }
            if let diskLimit, Int64(used + next.count) > diskLimit {
                throw FSError(.budgetExceeded, "the work directory's limit of \(diskLimit) bytes would be passed")
            }
            for i in 1..<path.count { s.dirs.insert(key(session, Array(path.prefix(i)))) }
            swap(&next, &s.files[k, default: Data()])
        }
    }

    public func remove(_ session: SandboxSession, _ path: [String]) async throws {
        let k = key(session, path)
        try state.withLock { s throws(FSError) in
            if s.files.removeValue(forKey: k) != nil { return }
            guard s.dirs.contains(k) else { throw FSError.notFound(path.joined(separator: "/")) }
            guard !s.files.keys.contains(where: { $0.hasPrefix(k + "/") }) else { throw FSError.invalidInput("directory is not empty") }
            s.dirs.remove(k)
        }
    }

    public func makeDirectory(_ session: SandboxSession, _ path: [String]) async throws {
        _ = state.withLock { $0.dirs.insert(key(session, path)) }
    }

    public func diskUsage(_ session: SandboxSession) async throws -> Int64 {
        let root = key(session)
        return state.withLock { s in Int64(s.files.filter { $0.key.hasPrefix(root + "/") }.reduce(0) { $0 + $1.value.count }) }
    }
}
