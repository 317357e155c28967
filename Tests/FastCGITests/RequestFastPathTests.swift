@testable import FastCGI
import Foundation
import Testing

/// `Request.mediaType`'s ASCII path and the header names kept as given, against the Foundation
/// version they replace.
@Suite struct RequestFastPathTests {
    static func referenceMediaType(_ ct: String) -> String? {
        let type = ct.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let trimmed = type.trimmingCharacters(in: .whitespaces).lowercased()
        return trimmed.isEmpty ? nil : trimmed
    }

    @Test func mediaTypeMatchesFoundation() {
        var samples = ["application/x-www-form-urlencoded", "Application/JSON; charset=UTF-8", " text/plain ;x", "\ttext/XML\t",
                       "", ";", " ; a", "multipart/form-data; boundary=abc", "a\u{00A0}", "\u{00A0}text/plain\u{00A0};x",
                       "téxt/plain", ";\u{0301}x", "x;\u{0301}y", "text/plain\r\n", String(repeating: "a", count: 10_000)]
        for b in 0..<128 { samples.append("a\(String(decoding: [UInt8(b)], as: UTF8.self))b ; c") }
        for ct in samples {
            let r = Request(method: "POST", uri: "/", headers: ["Content-Type": ct])
            #expect(r.mediaType == Self.referenceMediaType(ct), "\(Array(ct.utf8).prefix(20))")
        }
        #expect(Request(method: "POST", uri: "/").mediaType == nil)
    }

    @Test func headerNamesAreLowered() {
        let r = Request(method: "GET", uri: "/", headers: ["X-Twilio-Signature": "a", "host": "h", "Ünicode-X": "u"])
        #expect(r.headers == ["x-twilio-signature": "a", "host": "h", "ünicode-x": "u"])
        let kept = Request(method: "GET", uri: "/", headers: ["x-a": "1", "content-type": "text/plain"])
        #expect(kept.headers == ["x-a": "1", "content-type": "text/plain"])
        #expect(kept.header("Content-Type") == "text/plain")
    }
}
