public import Foundation
public import Namespace

/// `identity/`: `pubkey` (lowercase hex, x-only BIP-340 key), `sign` and `verify` call files.
/// No path yields the private key: the host never hands it out.
public struct IdentityService: FileService {
    public let name = "identity"
    let host: any AgentHost
    static let table = FileTable.directory([
        .init("pubkey", .file, .readOnly),
        .init("sign", .call, [.read, .write]),
        .init("verify", .call, [.read, .write]),
    ])
    /// Largest payload `sign` accepts.
    public static let maxSignBytes = 1 << 20

    public init(host: any AgentHost) { self.host = host }

    public func walk(_ path: Path, _ ctx: RequestContext) async throws -> Node { try Self.table.walk(path, shown: ctx.shownPath) }
    public func list(_ dir: Node, _ ctx: RequestContext) async throws -> [Node] { Self.table.list() }

    public func read(_ node: Node, _ ctx: RequestContext) async throws -> Data {
        switch node.tag {
        case "pubkey": Data((try await host.publicKey(of: ctx.agentID) + "\n").utf8)
        // A call file read without a write on the same handle has no answer yet.
        default: Data()
        }
    }

    public func write(_ node: Node, _ data: Data, _ mode: WriteMode, _ ctx: RequestContext) async throws -> Data {
        switch node.tag {
        case "sign":
            guard data.count <= Self.maxSignBytes else { throw FSError(.payloadTooLarge, "sign takes at most \(Self.maxSignBytes) bytes", path: ctx.shownPath) }
            return Data((try await host.sign(as: ctx.agentID, data) + "\n").utf8)
        case "verify":
            let request = try JSON(fileData: data)
            guard let pubkey = request["pubkey"]?.stringValue, let payload = request["data"]?.stringValue,
                  let sig = request["sig"]?.stringValue else {
                throw FSError(.invalidInput, "verify takes JSON {\"pubkey\",\"data\",\"sig\"} with string values", path: ctx.shownPath)
            }
            return Data((host.verify(pubkey: pubkey, data: Data(payload.utf8), signature: sig) ? "true\n" : "false\n").utf8)
        default:
            throw FSError.denied(ctx.shownPath, "file cannot be written")
        }
    }
}
