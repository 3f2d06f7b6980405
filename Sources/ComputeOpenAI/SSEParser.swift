import Runtime

/// Server-sent events, parsed incrementally from bytes as they arrive (the WHATWG
/// event-stream rules): lines end in CRLF, LF or CR, a blank line ends an event, `:` starts a
/// comment, `data` lines accumulate, and every other field is ignored. Bytes are kept until
/// an event ends, so a line or a UTF-8 character may be split across chunks anywhere.
struct SSEParser {
    /// Largest event kept in memory; a longer one is the provider's fault.
    var maxEventBytes = 4 << 20

    private var line: [UInt8] = []
    private var data: [UInt8] = []
    private var hasData = false
    /// The previous byte was CR, so an LF right after it ends nothing new.
    private var afterCR = false

    /// The data of each event that `bytes` completes, in order.
    mutating func feed(_ bytes: some Sequence<UInt8>) throws(ProviderError) -> [String] {
        var events: [String] = []
        for byte in bytes {
            if afterCR {
                afterCR = false
                if byte == Self.lf { continue }
            }
            if byte == Self.cr || byte == Self.lf {
                afterCR = byte == Self.cr
                if let event = endLine() { events.append(event) }
            } else {
                line.append(byte)
                if line.count + data.count > maxEventBytes {
                    throw ProviderError("the provider sent an event larger than \(maxEventBytes >> 20) MiB")
                }
            }
        }
        return events
    }

    /// At the end of the stream: an event the server did not close with a blank line.
    mutating func finish() -> String? {
        if !line.isEmpty { _ = endLine() }
        return endLine()
    }

    private mutating func endLine() -> String? {
        defer { line.removeAll(keepingCapacity: true) }
        if line.isEmpty {
            guard hasData else { return nil }
            let event = String(decoding: data, as: UTF8.self)
            data.removeAll(keepingCapacity: true)
            hasData = false
            return event
        }
        if line[0] == Self.colon { return nil }
        let colon = line.firstIndex(of: Self.colon) ?? line.endIndex
        guard line[..<colon].elementsEqual("data".utf8) else { return nil }
        var value = colon < line.endIndex ? line.index(after: colon) : colon
        if value < line.endIndex, line[value] == Self.space { value = line.index(after: value) }
        if hasData { data.append(Self.lf) }
        data.append(contentsOf: line[value...])
        hasData = true
        return nil
    }

    private static let cr = UInt8(ascii: "\r")
    private static let lf = UInt8(ascii: "\n")
    private static let colon = UInt8(ascii: ":")
    private static let space = UInt8(ascii: " ")
}
