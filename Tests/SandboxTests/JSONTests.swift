import Sandbox
import TestSupport
import Testing

@Suite(.hangGuard) struct JSONTests {
    @Test func decodingIsDeterministic() async throws {
        let text = #"{"api_version":"2026-10-28.endive","created":1795946965,"data":{"object":{"id":"sub_1","items":{"data":[{"id":"si_1"}]}}},"id":"evt_1","livemode":false,"type":"invoice.paid","request":{"id":null}}"#
        let bytes = Array(text.utf8)
        var seen: Set<String> = []
        for _ in 0..<200 {
            let j = try JSON.decode(bytes)
            seen.insert("\(j["id"])|\(j["type"])|\(j["data"]["object"]["id"])|\(j["request"]["id"])")
        }
        #expect(seen == ["string(\"evt_1\")|string(\"invoice.paid\")|string(\"sub_1\")|null"])
    }

    @Test func parsesEscapesNumbersAndNesting() throws {
        let j = try JSON.decode(Array(#"{"s":"a\"b\u00e9\ud83d\ude00\n","i":-42,"d":1.25e1,"b":[true,false,null],"o":{}}"#.utf8))
        #expect(j["s"] == "a\"bé😀\n" && j["i"] == .int(-42) && j["d"] == .double(12.5))
        #expect(j["b"] == [true, false, nil] && j["o"] == .object([:]))
        #expect(try JSON.decode(j.encoded()) == j)
    }

    @Test(arguments: ["", "{", "{\"a\"}", "[1,]", "nul", "\"\\x\"", "{\"a\":1} x", String(repeating: "[", count: 600)])
    func rejectsMalformedText(text: String) {
        #expect(throws: JSONError.self) { try JSON.decode(Array(text.utf8)) }
    }
}
