public import Foundation
public import Namespace
import Services

/// `/runtime/providers/<name>.json`: the runtime's compute providers, operator only (the
/// target check refuses agents). A replace (PUT, `>` on a mount) is the whole provider; an
/// append (POST, `>>`) is a JSON merge-patch over the stored one. Either is validated whole;
/// reads show the key as "***", and writing "***" back keeps it.
extension RuntimeClient {
    static func providerName(_ file: String, _ shown: String) throws(FSError) -> String {
        guard file.hasSuffix(".json") else { throw FSError(.invalidPath, "provider files are named <name>.json", path: shown) }
        return try AgentID.validate(String(file.dropLast(5)), what: "provider name")
    }

    func providerFile(_ name: String) async throws -> ProviderConfig {
        guard let p = try await runtime.store.providers().first(where: { $0.name == name }) else {
            throw FSError(.notFound, "no provider '\(name)'; write /runtime/providers/\(name).json to add it", path: "/runtime/providers/\(name).json")
        }
        return p
    }

    func providerStat(_ name: String) async throws -> FileStat {
        let p = try await providerFile(name)
        return Self.providerStat(p)
    }

    static func providerStat(_ p: ProviderConfig) -> FileStat {
        let path = "/runtime/providers/\(p.name).json"
        let bytes = p.shownJSON.fileData
        // The content is the version: a change of any field moves it.
        let version = FileStat.stableID(path + String(decoding: bytes, as: UTF8.self))
        return FileStat(name: p.name + ".json", type: .file, size: Int64(bytes.count), mtime: 0, version: version, id: FileStat.stableID(path),
                        mode: 0o600)
    }

    func providerList() async throws -> [FileStat] { try await runtime.store.providers().map(Self.providerStat) }

    func writeProvider(_ name: String, _ data: Data, _ mode: WriteMode) async throws -> Data {
        let patch = try JSON(fileData: data)
        guard case .object = patch else { throw FSError(.invalidInput, "a provider file takes a JSON object", path: "/runtime/providers/\(name).json") }
        defer { runtime.compute.providersChanged() }
        _ = try await runtime.store.putProvider(name) { old in
            let base = mode == .append ? old?.shownJSON ?? .object([:]) : .object([:])
            return try ProviderConfig(name: name, json: base.merging(patch: patch), previous: old)
        }
        return Data()
    }
}
