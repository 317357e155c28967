import Foundation
import Testing
@testable import FastCGI

/// NUL characters are refused where a body is read; body limits are chosen per route.
@Suite struct BoundaryTests {
    struct Note: Decodable, Equatable { let text: String; let tags: [String: String]? }

    func jsonError(_ body: String) -> BodyError? {
        do { _ = try Request(method: "POST", uri: "/x", body: Array(body.utf8)).decodeJSON(Note.self); return nil } catch { return error }
    }

    @Test func nulInFormBodyAndQueryIsRefused() {
        for body in ["a=%00", "a=x%00y&b=1", "%00=1", "a=1&b=\u{0}"] {
            let e: BodyError?
            do { _ = try FormData.parse(body); e = nil } catch { e = error }
            #expect(e?.code == "nul_character", "\(body.debugDescription)")
            #expect(e?.status == 400)
        }
        let request = Request(method: "POST", uri: "/api/webhooks/whatsapp?x=%00", headers: ["Content-Type": "application/x-www-form-urlencoded"],
                              body: Array("Body=hi%00".utf8))
        #expect(throws: BodyError.nulCharacter("the form data contains a NUL character (%00), which is not accepted")) { try request.form() }
        #expect(throws: BodyError.self) { try request.queryItems() }
        #expect((try? FormData.parse("a=%2500"))?["a"] == "%00", "an escaped percent sign is text, not a NUL")
    }

    @Test func nulInJSONIsRefused() {
        #expect(jsonError(#"{"text":"a\u0000b"}"#)?.code == "nul_character")
        #expect(jsonError(#"{"text":"ok","tags":{"\u0000":"x"}}"#)?.code == "nul_character")
        #expect(jsonError(#"{"text":"ok","extra":"\u0000"}"#)?.code == "nul_character", "even in a field the route ignores")
        #expect(jsonError(#"{"text":"a\u0000b"}"#)?.status == 400)
        // An escaped backslash followed by the text u0000 is not a NUL.
        #expect(jsonError(#"{"text":"C:\\u0000"}"#) == nil)
        #expect((try? Request(method: "POST", uri: "/x", body: Array(#"{"text":"C:\\u0000"}"#.utf8)).decodeJSON(Note.self))?.text == #"C:\u0000"#)
        #expect(jsonError(#"{"text":"\u0001 is fine"}"#) == nil)
    }

    @Test func bodyLimitsByLongestPathPrefix() {
        var limits = BodyLimits(defaultBytes: 1 << 20)
        limits.allow(5 << 20, under: "/api/whatsapp/bundle/")
        limits.allow(2 << 20, under: "/api/whatsapp/bundle/preview/big")
        #expect(limits.bytes(forPath: "/api/health") == 1 << 20)
        #expect(limits.bytes(forPath: "/api/whatsapp/bundle/preview") == 5 << 20)
        #expect(limits.bytes(forPath: "/api/whatsapp/bundle/send") == 5 << 20)
        #expect(limits.bytes(forPath: "/api/whatsapp/bundle/preview/big") == 2 << 20)
        #expect(limits.bytes(forPath: "/api/whatsapp/bundle") == 1 << 20, "only under the prefix")
        #expect(limits.bytes(forPath: "/api/whatsapp/send") == 1 << 20)
        limits.allow(3 << 20, under: "/api/whatsapp/bundle/")
        #expect(limits.bytes(forPath: "/api/whatsapp/bundle/preview") == 3 << 20, "allowing a prefix again replaces it")
    }
}
