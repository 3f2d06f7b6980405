#if canImport(Glibc)
import Glibc
#endif

/// The times agentd sends, back as milliseconds since the epoch: `Last-Modified` (IMF-fixdate,
/// `Sun, 22 Nov 2026 04:10:58 GMT`) and a listing's `mtime` (RFC 3339, `2026-11-22T04:10:58.123Z`).
/// Nil for anything else, so a file without a readable time keeps the mount's.
enum HTTPTimes {
    static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    static func imfFixdate(_ text: String) -> Int64? {
        let parts = text.split(separator: " ")
        guard parts.count == 6, parts[5] == "GMT", let day = Int32(parts[1]), let month = months.firstIndex(of: String(parts[2])),
              let year = Int32(parts[3]) else { return nil }
        let hms = parts[4].split(separator: ":").compactMap { Int32($0) }
        guard hms.count == 3 else { return nil }
        return epochMs(year, Int32(month), day, hms[0], hms[1], hms[2], 0)
    }

    static func rfc3339(_ text: String) -> Int64? {
        guard text.hasSuffix("Z") else { return nil }
        let fields = text.dropLast().split(whereSeparator: { "-T:.".contains($0) }).compactMap { Int32($0) }
        guard fields.count == 6 || fields.count == 7 else { return nil }
        return epochMs(fields[0], fields[1] - 1, fields[2], fields[3], fields[4], fields[5], fields.count == 7 ? fields[6] : 0)
    }

    static func epochMs(_ year: Int32, _ month: Int32, _ day: Int32, _ h: Int32, _ m: Int32, _ s: Int32, _ ms: Int32) -> Int64? {
        guard (0..<12).contains(month), (1...31).contains(day), (0..<24).contains(h), (0..<60).contains(m), (0...60).contains(s) else { return nil }
        var t = tm()
        t.tm_year = year - 1900
        t.tm_mon = month
        t.tm_mday = day
        t.tm_hour = h
        t.tm_min = m
        t.tm_sec = s
        let secs = timegm(&t)
        guard secs >= 0 else { return nil }
        return Int64(secs) * 1000 + Int64(ms)
    }
}
