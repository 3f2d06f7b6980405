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
}
