import Testing
@testable import FastCGI

@Suite struct FormDataTests {
    func parse(_ s: String) throws(BodyError) -> [[String]] { try FormData.parse(s).pairs.map { [$0.0, $0.1] } }

    func code(_ body: [UInt8]) -> String? {
        do { _ = try FormData.parse(body); return nil } catch { return error.code }
    }

    @Test func orderAndRepeatedKeysAreKept() throws {
        let form = try FormData.parse("b=2&a=1&b=3")
        #expect(form.pairs.map { [$0.0, $0.1] } == [["b", "2"], ["a", "1"], ["b", "3"]])
        #expect(form["b"] == "2")
        #expect(form.values("b") == ["2", "3"])
        #expect(form["missing"] == nil)
        #expect(form.values("missing") == [])
    }

    @Test func plusAndPercentEscapesAreDecoded() throws {
        #expect(try parse("Body=Hola+Mundo%21&To=whatsapp%3A%2B5215512345678") ==
                [["Body", "Hola Mundo!"], ["To", "whatsapp:+5215512345678"]])
        // A literal plus is %2B; lower-case hex works too.
        #expect(try parse("x=1%2b1%2B1") == [["x", "1+1+1"]])
        // Keys are decoded like values.
        #expect(try parse("first+name=Ana") == [["first name", "Ana"]])
    }

    @Test func utf8IsDecoded() throws {
        #expect(try parse("name=Jos%C3%A9+Pe%C3%B1a&emoji=%F0%9F%91%8B") == [["name", "José Peña"], ["emoji", "👋"]])
        // Raw UTF-8 bytes (not escaped) are accepted too.
        #expect(try FormData.parse(Array("q=mañana".utf8))["q"] == "mañana")
    }

    @Test func emptyValuesAndSegments() throws {
        #expect(try parse("a=&b&=c&&d=4&") == [["a", ""], ["b", ""], ["", "c"], ["d", "4"]])
        #expect(try parse("") == [])
        #expect(try parse("a==b") == [["a", "=b"]])
    }

    @Test func badPercentEscapesAreMalformedForm() {
        #expect(code(Array("a=%".utf8)) == "malformed_form")
        #expect(code(Array("a=%4".utf8)) == "malformed_form")
        #expect(code(Array("a=%zz".utf8)) == "malformed_form")
        #expect(code(Array("a=100%".utf8)) == "malformed_form")
        #expect(code(Array("%G1=x".utf8)) == "malformed_form")
    }

    @Test func bytesThatAreNotUTF8AreInvalidUTF8() {
        #expect(code(Array("a=%FF".utf8)) == "invalid_utf8")
        #expect(code(Array("a=%C3".utf8)) == "invalid_utf8")           // truncated sequence
        #expect(code(Array("a=%ED%A0%80".utf8)) == "invalid_utf8")     // UTF-16 surrogate
        #expect(code([UInt8(ascii: "a"), UInt8(ascii: "="), 0xC3, 0x28]) == "invalid_utf8")
    }

    @Test func errorsAre400() throws {
        let error = try #require(throws: BodyError.self) { try FormData.parse("a=%") }
        #expect(error.status == 400)
        #expect(!error.message.isEmpty)
    }

    @Test func arbitraryBytesNeverCrash() {
        var generator = SystemRandomNumberGenerator()
        let alphabet: [UInt8] = Array("%+=&aZ09".utf8) + [0x00, 0xC3, 0xA9, 0xFF, 0x80]
        for _ in 0..<2000 {
            let body = (0..<Int.random(in: 0..<24, using: &generator)).map { _ in alphabet.randomElement(using: &generator)! }
            do {
                _ = try FormData.parse(body)
            } catch {
                #expect(["malformed_form", "invalid_utf8", "nul_character"].contains(error.code))
            }
        }
    }

    @Test func requestFormChecksTheMediaType() throws {
        let ok = Request(method: "POST", uri: "/hook", headers: ["Content-Type": "application/x-www-form-urlencoded; charset=utf-8"],
                         body: Array("From=whatsapp%3A%2B1&Body=hi".utf8))
        #expect(try ok.form()["From"] == "whatsapp:+1")
        let json = Request(method: "POST", uri: "/hook", headers: ["content-type": "application/json"], body: Array("{}".utf8))
        let error = try #require(throws: BodyError.self) { try json.form() }
        #expect(error.code == "unsupported_media_type")
        #expect(error.status == 415)
        #expect(try Request(method: "POST", uri: "/hook").form().pairs.isEmpty)
    }

    @Test func queryItems() throws {
        let r = Request(method: "GET", uri: "/api/patients?q=ana+mar%C3%ADa&tag=a&tag=b")
        #expect(r.path == "/api/patients")
        #expect(r.query == "q=ana+mar%C3%ADa&tag=a&tag=b")
        let q = try r.queryItems()
        #expect(q["q"] == "ana maría")
        #expect(q.values("tag") == ["a", "b"])
        let bad = Request(method: "GET", uri: "/x?a=%E0")
        #expect(throws: BodyError.self) { try bad.queryItems() }
    }
}
