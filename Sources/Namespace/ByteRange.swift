public import struct Foundation.Data

/// The part of a file a read asks for: `count` bytes from `offset` (nil count: to the end).
/// Every ranged read goes through this type, so the checks and the arithmetic live here once:
/// a negative value is `invalid_input`, and the end saturates at `Int64.max`, so no range a
/// client can send makes a service compute an offset that overflows.
public struct ByteRange: Sendable, Hashable, CustomStringConvertible {
    /// At least 0.
    public let offset: Int64
    /// At least 0; nil reads to the end.
    public let count: Int64?

    /// The whole file.
    public static let all = ByteRange(checked: 0, nil)

    public init(offset: Int64 = 0, count: Int64? = nil) throws(FSError) {
        guard offset >= 0 else { throw FSError(.invalidInput, "offset must be a whole number >= 0 (got \(offset))") }
        if let count, count < 0 { throw FSError(.invalidInput, "count must be a whole number >= 0 (got \(count))") }
        self.init(checked: offset, count)
    }

    public init(offset: Int64 = 0, count: Int?) throws(FSError) {
        try self.init(offset: offset, count: count.map { Int64($0) })
    }

    private init(checked offset: Int64, _ count: Int64?) {
        self.offset = offset
        self.count = count
    }

    /// The range a query's `offset` and `count` texts name (nil: not given). Values are whole
    /// decimal numbers; one too large for 64 bits is past the end of any file, so it saturates.
    public init(offset: String?, count: String?) throws(FSError) {
        try self.init(offset: try Self.number(offset, "offset") ?? 0, count: try Self.number(count, "count"))
    }

    static func number(_ text: String?, _ name: String) throws(FSError) -> Int64? {
        guard let text else { return nil }
        let digits = text.utf8
        if let first = digits.first, first == UInt8(ascii: "-"), digits.count > 1, digits.dropFirst().allSatisfy({ (0x30...0x39).contains($0) }) {
            throw FSError(.invalidInput, "\(name) must be a whole number >= 0 (got \(text.prefix(40)))")
        }
        guard !digits.isEmpty, digits.allSatisfy({ (0x30...0x39).contains($0) }) else {
            throw FSError(.invalidInput, "\(name) must be a whole number >= 0 (got '\(text.prefix(40))')")
        }
        return Int64(text) ?? .max
    }

    /// True when the range is the whole file.
    public var isAll: Bool { offset == 0 && count == nil }

    /// One past the last byte asked for, saturated at `Int64.max`.
    public var end: Int64 {
        guard let count else { return .max }
        let (sum, overflow) = offset.addingReportingOverflow(count)
        return overflow ? .max : sum
    }

    /// `count` as an Int for APIs that take one (saturated; Int is 64 bits where this runs).
    public var intCount: Int? { count.map { Int(clamping: $0) } }

    /// The same range moved `by` bytes further (saturated), for a reader whose bytes begin
    /// past where it asked.
    public func shifted(by delta: Int64) -> ByteRange {
        let (sum, overflow) = offset.addingReportingOverflow(delta)
        return ByteRange(checked: overflow ? (delta > 0 ? .max : 0) : max(0, sum), count)
    }

    /// The bytes of `data` (a whole file) in this range: empty past the end.
    public func slice(_ data: Data) -> Data {
        guard offset < Int64(data.count) else { return Data() }
        let start = data.startIndex + Int(offset)
        let stop = data.startIndex + Int(min(end, Int64(data.count)))
        return data.subdata(in: start..<stop)
    }

    public var description: String { "offset=\(offset)" + (count.map { "&count=\($0)" } ?? "") }
}

/// The bytes a ranged read returns and the offset the first of them has in the file. That is
/// the offset asked for, except on a log whose head was pruned (retention): a read that starts
/// below the retained records is answered from the oldest one, and says so.
public struct FileSlice: Sendable, Equatable {
    public var data: Data
    public var offset: Int64

    public init(_ data: Data, at offset: Int64) {
        self.data = data
        self.offset = offset
    }
}
