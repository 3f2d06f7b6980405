public import Namespace

/// Agent, goal and envelope ids: names a person can type, `[a-z0-9][a-z0-9._-]{0,62}`.
public enum AgentID {
    public static func validate(_ id: String, what: String = "agent id") throws(FSError) -> String {
        let bytes = Array(id.utf8)
        func ok(_ b: UInt8, first: Bool) -> Bool {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
            case UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"): !first
            default: false
            }
        }
        guard !bytes.isEmpty, bytes.count <= 63, ok(bytes[0], first: true), bytes.dropFirst().allSatisfy({ ok($0, first: false) }) else {
            let shown = id.count > 70 ? String(id.prefix(64)) + "..." : id
            throw FSError(.invalidPath, "\(what) '\(shown.replacingControls())' must match [a-z0-9][a-z0-9._-]{0,62}")
        }
        return id
    }
}

extension String {
    func replacingControls() -> String { String(unicodeScalars.map { $0.value < 0x20 || $0.value == 0x7f ? "?" : Character($0) }) }
}
