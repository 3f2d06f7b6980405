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
