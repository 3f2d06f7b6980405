#if canImport(Glibc)
import Glibc
#endif

/// Wall time for the runtime, injected so tests drive it. Times are milliseconds since the
/// epoch because alarms must keep their meaning across restarts.
public protocol AgentClock: Sendable {
    func now() -> Int64
    /// Suspends until `deadline` (or throws CancellationError when the task is cancelled).
    func sleep(until deadline: Int64) async throws
}

/// The real clock.
public struct SystemClock: AgentClock {
    public init() {}

    public func now() -> Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1000 + Int64(ts.tv_nsec) / 1_000_000
    }

    public func sleep(until deadline: Int64) async throws {
        let delay = deadline - now()
        if delay > 0 { try await Task.sleep(for: .milliseconds(delay)) }
    }
}

public enum Timestamp {
    /// RFC 3339 in UTC with milliseconds: `2026-11-22T04:10:58.123Z`.
    public static func iso(_ ms: Int64) -> String {
        // Years 0001 to 9999: any time a client can send is shown, never an overflow.
        let ms = min(max(ms, -62_135_596_800_000), 253_402_300_799_999)
        let secs = ms >= 0 ? ms / 1000 : (ms - 999) / 1000
        let millis = Int(ms - secs * 1000)
        var days = secs >= 0 ? secs / 86400 : (secs - 86399) / 86400
        let rem = Int(secs - days * 86400)
        // civil_from_days (H. Hinnant)
        days += 719_468
        let era = (days >= 0 ? days : days - 146_096) / 146_097
        let doe = days - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        var y = yoe + era * 400
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        if m <= 2 { y += 1 }
        func two(_ v: Int) -> String { v < 10 ? "0\(v)" : "\(v)" }
        func three(_ v: Int) -> String { v < 10 ? "00\(v)" : v < 100 ? "0\(v)" : "\(v)" }
        let year = String(y)
        return String(repeating: "0", count: max(0, 4 - year.count)) + year + "-\(two(Int(m)))-\(two(Int(d)))T\(two(rem / 3600)):\(two(rem / 60 % 60)):\(two(rem % 60)).\(three(millis))Z"
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` (UTC only).
    public static func parse(_ text: String) -> Int64? {
        let b = Array(text.utf8)
        func num(_ r: Range<Int>) -> Int64? {
            guard r.upperBound <= b.count else { return nil }
            var v: Int64 = 0
            for i in r {
                guard b[i] >= 0x30, b[i] <= 0x39 else { return nil }
                v = v * 10 + Int64(b[i] - 0x30)
            }
            return v
        }
        guard b.count >= 20, b[4] == 0x2d, b[7] == 0x2d, b[10] == 0x54 || b[10] == 0x74, b[13] == 0x3a, b[16] == 0x3a,
              b.last == 0x5a || b.last == 0x7a,
              let y = num(0..<4), let mo = num(5..<7), let d = num(8..<10), let h = num(11..<13), let mi = num(14..<16),
              let s = num(17..<19), (1...12).contains(mo), (1...31).contains(d), h < 24, mi < 60, s < 61 else { return nil }
        var ms: Int64 = 0
        if b.count > 20 {
            guard b[19] == 0x2e, b.count >= 22 else { return nil }
            let frac = Array(b[20..<(b.count - 1)])
            guard frac.count <= 9, let f = num(20..<(b.count - 1)) else { return nil }
            var v = f
            var digits = frac.count
            while digits > 3 { v /= 10; digits -= 1 }
            while digits < 3 { v *= 10; digits += 1 }
            ms = v
        }
        // days_from_civil
        let yy = mo <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let mp = mo > 2 ? mo - 3 : mo + 9
        let doy = (153 * mp + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146_097 + doe - 719_468
        return ((days * 86400 + h * 3600 + mi * 60 + s) * 1000) + ms
    }
}
