/// Agent, goal, alarm and envelope ids: names a person can type, `[a-z0-9][a-z0-9._-]{0,62}`.
/// Every id is also a valid path component, so ids and paths share one grammar here.
public enum AgentID {
    public static func isValid(_ id: String) -> Bool {
        let bytes = id.utf8
        guard let first = bytes.first, bytes.count <= 63 else { return false }
        func ok(_ b: UInt8, first: Bool) -> Bool {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
            case UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"): !first
            default: false
            }
        }
        return ok(first, first: true) && bytes.dropFirst().allSatisfy { ok($0, first: false) }
    }

    /// Returns `id` unchanged, or refuses it with invalid_path naming `what`.
    public static func validate(_ id: String, what: String = "agent id") throws(FSError) -> String {
        guard isValid(id) else {
            let shown = id.count > 70 ? String(id.prefix(64)) + "..." : id
            throw FSError(.invalidPath, "\(what) '\(shown.printable)' must match [a-z0-9][a-z0-9._-]{0,62}")
        }
        return id
    }
}
