import Namespace
import Testing

@Suite struct JSONTests {
    @Test func roundTrip() throws {
        let text = #"{"a":[1,2.5,-3,true,false,null],"b":{"c":"\"q\"\n\u00e9\ud83d\ude00"}}"#
        let v = try JSON(parsing: text)
        #expect(v["b"]?["c"]?.stringValue == "\"q\"\né😀")
        #expect(try JSON(parsing: v.description) == v)
        #expect(v.description == #"{"a":[1,2.5,-3,true,false,null],"b":{"c":"\"q\"\né😀"}}"#)
    }

    @Test func writerEscapesExactlyWhatMustBeEscaped() throws {
        let raw = "a\"b\\c\u{0}\u{1f}\t\r\nd\u{2028}e\u{2029}f\u{2027}é😀\u{7f}"
        let text = JSON.string(raw).description
        #expect(text == #""a\"b\\c\u0000\u001f\t\r\nd\u2028e\u2029f"# + "\u{2027}é😀\u{7f}\"")
        #expect(!text.contains("\n") && !text.contains("\u{2028}"))  // one line for every reader
        #expect(try JSON(parsing: text) == .string(raw))
        #expect(JSON.string("").description == #""""#)
        #expect(JSON.string("\u{E2}").description == "\"\u{E2}\"")  // â: the 0xE2 lead byte alone is not a separator
    }

    @Test(arguments: ["", "{", "[1,]", "{\"a\":}", "01", "1.", "\"\\x\"", "\"\u{1}\"", "nul", "{} x", "\"\\ud800\"", "[" + String(repeating: "[", count: 100)])
    func rejects(_ text: String) {
        #expect(throws: FSError.self) { try JSON(parsing: text) }
    }

    @Test func mergePatchFollowsRFC7396() throws {
        let base = try JSON(parsing: #"{"a":"b","c":{"d":"e","f":"g"}}"#)
        let patch = try JSON(parsing: #"{"a":"z","c":{"f":null}}"#)
        #expect(base.merging(patch: patch) == (try JSON(parsing: #"{"a":"z","c":{"d":"e"}}"#)))
        #expect(base.merging(patch: .array([])) == .array([]))
    }

    /// Numbers are never silently rewritten: integers stay exact past 2^53, text beyond 64 bits
    /// is kept as written, and every number's written form parses back to the same value.
    @Test(arguments: [
        ("9007199254740993", "9007199254740993"),  // 2^53 + 1: a double would make it ...992
        ("-9223372036854775808", "-9223372036854775808"),  // -2^63
        ("9223372036854775807", "9223372036854775807"),  // 2^63 - 1
        ("9223372036854775808", "9223372036854775808"),  // 2^63: beyond Int64, kept as text
        ("-9223372036854775809", "-9223372036854775809"),
        ("18446744073709551617", "18446744073709551617"),  // 2^64 + 1
        ("123456789012345678901234567890", "123456789012345678901234567890"),
        ("1e300", "1e+300"),
        ("0.1", "0.1"),
        ("-0.0", "-0.0"),
        ("1.0", "1.0"),
        ("2.5E-3", "0.0025"),
        ("1e400", "1e400"),  // beyond a double: kept as text, not refused
        ("0", "0"),
        ("-1", "-1"),
    ])
    func numbersRoundTripExactly(_ text: String, _ written: String) throws {
        let value = try JSON(parsing: text)
        #expect(value.description == written)
        #expect(try JSON(parsing: value.description) == value)
        let doc = try JSON(parsing: "{\"n\":[" + text + "]}")
        #expect(doc.description == "{\"n\":[" + written + "]}")
        #expect(try JSON(parsing: doc.description) == doc)
    }

    @Test func integersAreExactAndTyped() throws {
        #expect(try JSON(parsing: "9007199254740993") == .integer(9_007_199_254_740_993))
        #expect(try JSON(parsing: "9007199254740993").int64Value == 9_007_199_254_740_993)
        #expect(try JSON(parsing: "-9223372036854775808").int64Value == .min)
        #expect(try JSON(parsing: "9223372036854775807").int64Value == .max)
        #expect(try JSON(parsing: "9223372036854775808") == .decimal("9223372036854775808"))
        #expect(try JSON(parsing: "9223372036854775808").int64Value == nil)
        #expect(try JSON(parsing: "9223372036854775808").doubleValue == 9_223_372_036_854_775_808.0)
        #expect(try JSON(parsing: "5.0").intValue == 5)  // a whole double still reads as an int
        #expect(try JSON(parsing: "5.5").intValue == nil)
        #expect(JSON.int64(.max).description == "9223372036854775807")
        #expect(JSON.int(-3).description == "-3")
        #expect(JSON.number(3.0).description == "3.0")
        #expect(JSON.number(.nan).description == "null")
        // Through a merge-patch (config) and an object, nothing moves.
        let base = try JSON(parsing: #"{"id":9007199254740993,"big":18446744073709551617}"#)
        let patched = base.merging(patch: try JSON(parsing: #"{"other":-9223372036854775808}"#))
        #expect(patched.description == #"{"big":18446744073709551617,"id":9007199254740993,"other":-9223372036854775808}"#)
    }
}
