import Foundation
import Namespace
import Synchronization
import Testing

/// An in-memory service: a directory with a file `f`, a call file `c` and creatable entries.
final class MemoryService: FileService, Sendable {
    let name: String
    let files = Mutex<[String: Data]>(["f": Data("content\n".utf8)])
    let calls = Mutex(0)

    init(name: String) { self.name = name }

    func walk(_ path: Path, _ ctx: RequestContext) async throws -> Node {
        if path.isRoot { return Node(path: path, type: .dir, perms: [.read, .create], tag: "/") }
        guard path.count == 1 else { throw FSError.notFound(ctx.shownPath) }
        if path.name == "c" { return Node(path: path, type: .call, perms: [.read, .write], tag: "c") }
        guard files.withLock({ $0[path.name] }) != nil else { throw FSError.notFound(ctx.shownPath) }
        return Node(path: path, type: .file, perms: [.read, .write, .remove], tag: "file")
    }

    func list(_ dir: Node, _ ctx: RequestContext) async throws -> [Node] {
        files.withLock { $0.keys.sorted() }.map { Node(path: try! Path("/" + $0), type: .file, perms: [.read], tag: "file") }
    }

    func read(_ node: Node, _ ctx: RequestContext) async throws -> Data { files.withLock { $0[node.name] } ?? Data() }

    func write(_ node: Node, _ data: Data, _ mode: WriteMode, _ ctx: RequestContext) async throws -> Data {
        if data == Data("refuse".utf8) { throw FSError.invalidInput("refused on purpose", path: ctx.shownPath) }
        if node.tag == "c" {
            calls.withLock { $0 += 1 }
            return Data("answer:".utf8) + data
        }
        files.withLock { $0[node.name] = mode == .append ? ($0[node.name] ?? Data()) + data : data }
        return Data()
    }

    func create(_ name: String, in dir: Node, _ data: Data, _ ctx: RequestContext) async throws -> Data {
        if data == Data("refuse".utf8) { throw FSError.invalidInput("refused on purpose", path: ctx.shownPath) }
        files.withLock { $0[name] = data }
        return Data()
    }

    func remove(_ node: Node, _ ctx: RequestContext) async throws { _ = files.withLock { $0.removeValue(forKey: node.name) } }
}

final class FixedBudget: BudgetLedger {
    let left: Mutex<Int>
    init(_ n: Int) { left = Mutex(n) }
    func spend(agent: String, units: Int, path: String) async throws {
        try left.withLock { l in
            guard l >= units else { throw FSError(.budgetExceeded, "spent", path: path) }
            l -= units
        }
    }
    func refund(agent: String, units: Int, path: String) async throws { left.withLock { $0 += units } }
}

@Suite struct MountTableTests {
    @Test func longestPrefixOnWholeComponents() throws {
        let a = MemoryService(name: "a"), b = MemoryService(name: "b"), c = MemoryService(name: "c")
        let table = try MountTable([.init(try Path("/tools"), a, .readWrite), .init(try Path("/tools/special"), b, .readWrite),
                                    .init(try Path("/toolsx"), c, .readWrite)])
        #expect(table.resolve(try Path("/tools/x"))?.entry.service.name == "a")
        #expect(table.resolve(try Path("/tools/special/x"))?.entry.service.name == "b")
        #expect(table.resolve(try Path("/tools/special"))?.rest.isRoot == true)
        #expect(table.resolve(try Path("/toolsx/y"))?.entry.service.name == "c")
        #expect(table.resolve(try Path("/tool")) == nil)
        #expect(table.syntheticChildren(of: .root) == ["tools", "toolsx"])
    }

    @Test(arguments: ["send", "tick", "hibernate", "wake", "tokens"])
    func reservedNamesCannotBeMounted(_ name: String) {
        #expect(throws: FSError.self) { _ = try MountTable([.init(try Path("/" + name), MemoryService(name: "x"), .readWrite)]) }
    }

    @Test func duplicateMountsAreRefused() {
        #expect(throws: FSError.self) {
            _ = try MountTable([.init(try Path("/a"), MemoryService(name: "x"), .readWrite), .init(try Path("/a"), MemoryService(name: "y"), .readOnly)])
        }
    }
}

@Suite struct AccessMatrixTests {
    enum Op: String, CaseIterable { case read, list, write, call, create, remove }

    /// What an agent may do under each level (SPEC.md, Mounts and access).
    static let allowed: [AccessLevel: Set<Op>] = [
        .readOnly: [.read, .list],
        .readWrite: Set(Op.allCases),
        .signOnly: [.read, .list, .call],
        .budgeted: Set(Op.allCases),
        .disabled: [],
    ]

    func attempt(_ op: Op, _ ns: Namespace, _ who: Principal) async -> FSError? {
        do {
            switch op {
            case .read: _ = try await ns.read(try Path("/m/f"), as: who)
            case .list: _ = try await ns.list(try Path("/m"), as: who)
            case .write: _ = try await ns.write(try Path("/m/f"), Data("x".utf8), mode: .replace, as: who)
            case .call: _ = try await ns.write(try Path("/m/c"), Data("x".utf8), mode: .append, as: who)
            case .create: _ = try await ns.write(try Path("/m/new"), Data("x".utf8), mode: .replace, as: who)
            case .remove: try await ns.remove(try Path("/m/f"), as: who)
            }
            return nil
        } catch {
            return error as? FSError
        }
    }

    @Test(arguments: AccessLevel.allCases)
    func agentPrincipalIsBoundByTheLevel(_ level: AccessLevel) async throws {
        for op in Op.allCases {
            let service = MemoryService(name: "mem")
            let ns = Namespace(agentID: "a", table: try MountTable([.init(try Path("/m"), service, level)]), prefix: "/agents/a",
                               budget: FixedBudget(100))
            let error = await attempt(op, ns, .agent("a"))
            if Self.allowed[level]!.contains(op) {
                #expect(error == nil, "\(level) \(op): \(String(describing: error))")
            } else {
                #expect(error?.code == .permissionDenied, "\(level) \(op)")
                // Refused requests change nothing.
                #expect(service.files.withLock { $0 } == ["f": Data("content\n".utf8)], "\(level) \(op)")
                #expect(service.calls.withLock { $0 } == 0)
            }
        }
    }

    @Test(arguments: AccessLevel.allCases)
    func operatorIsNotBoundByLevels(_ level: AccessLevel) async throws {
        for op in Op.allCases {
            let ns = Namespace(agentID: "a", table: try MountTable([.init(try Path("/m"), MemoryService(name: "mem"), level)]), prefix: "/agents/a")
            #expect(await attempt(op, ns, .operator) == nil, "\(level) \(op)")
        }
    }

    @Test func budgetedWritesSpendAndStopAtTheLimit() async throws {
        let service = MemoryService(name: "mem")
        let ns = Namespace(agentID: "a", table: try MountTable([.init(try Path("/m"), service, .budgeted)]), prefix: "/agents/a",
                           budget: FixedBudget(2))
        #expect(await attempt(.call, ns, .agent("a")) == nil)
        #expect(await attempt(.write, ns, .agent("a")) == nil)
        #expect(await attempt(.call, ns, .agent("a"))?.code == .budgetExceeded)
        #expect(await attempt(.read, ns, .agent("a")) == nil)  // reads are free
        #expect(service.calls.withLock { $0 } == 1)
    }

    /// A write, call or create that the service refuses after the unit was reserved gets it
    /// back: only writes that happen are paid for.
    @Test func refusedBudgetedWritesCostNothing() async throws {
        let budget = FixedBudget(1)
        let ns = Namespace(agentID: "a", table: try MountTable([.init(try Path("/m"), MemoryService(name: "mem"), .budgeted)]), prefix: "/agents/a",
                           budget: budget)
        let refuse = Data("refuse".utf8)
        for (path, mode) in [("/m/f", WriteMode.replace), ("/m/c", .replace), ("/m/new", .replace)] {
            do {
                _ = try await ns.write(try Path(path), refuse, mode: mode, as: .agent("a"))
                Issue.record("\(path): the refusal did not happen")
            } catch {
                #expect(error.code == .invalidInput, "\(path)")
            }
            #expect(budget.left.withLock { $0 } == 1, "\(path): a refused write was charged")
        }
        _ = try await ns.write(try Path("/m/f"), Data("ok".utf8), mode: .replace, as: .agent("a"))
        #expect(budget.left.withLock { $0 } == 0)
        #expect(await attempt(.write, ns, .agent("a"))?.code == .budgetExceeded)
    }

    @Test func disabledMountsAreVisibleButRefused() async throws {
        let ns = Namespace(agentID: "a", table: try MountTable([.init(try Path("/m"), MemoryService(name: "mem"), .disabled)]), prefix: "/agents/a")
        let root = try await ns.list(.root, as: .agent("a"))
        #expect(root.map(\.name) == ["m"])
        #expect(root[0].mode == 0)
        #expect(await attempt(.list, ns, .agent("a"))?.code == .permissionDenied)
    }

    @Test func modesReflectThePrincipal() async throws {
        let ns = Namespace(agentID: "a", table: try MountTable([.init(try Path("/m"), MemoryService(name: "mem"), .readOnly)]), prefix: "/agents/a")
        #expect(try await ns.stat(try Path("/m/f"), as: .agent("a")).mode == 0o444)
        #expect(try await ns.stat(try Path("/m/f"), as: .operator).mode == 0o644)
        #expect(try await ns.stat(try Path("/m/c"), as: .agent("a")).type == .call)
    }

    @Test func errorsNameTheClientPath() async throws {
        let ns = Namespace(agentID: "a", table: try MountTable([.init(try Path("/m"), MemoryService(name: "mem"), .readWrite)]), prefix: "/agents/a")
        await #expect {
            _ = try await ns.read(try Path("/m/missing"), as: .operator)
        } throws: { error in
            (error as? FSError)?.code == .notFound && (error as? FSError)?.path == "/agents/a/m/missing"
        }
        await #expect {
            _ = try await ns.read(try Path("/m"), as: .operator)
        } throws: { error in
            (error as? FSError)?.code == .isDirectory
        }
        await #expect {
            _ = try await ns.read(try Path("/nothing"), as: .operator)
        } throws: { error in
            (error as? FSError)?.code == .notFound
        }
    }
}
