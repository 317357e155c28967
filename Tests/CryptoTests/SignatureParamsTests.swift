@testable import MedsyncCrypto
import Foundation
import Testing

/// The signed params built once by sorting pairs, against the grouping they replaced (values grouped
/// by name, names sorted, each group's distinct values sorted; all by UTF-8 bytes).
@Suite struct SignatureParamsTests {
    static func reference(_ params: [(String, String)]) -> [UInt8] {
        var grouped: [[UInt8]: [[UInt8]]] = [:]
        for (name, value) in params { grouped[Array(name.utf8), default: []].append(Array(value.utf8)) }
        var data: [UInt8] = []
        for name in grouped.keys.sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            var previous: [UInt8]? = nil
            for value in grouped[name]!.sorted(by: { $0.lexicographicallyPrecedes($1) }) where value != previous {
                data += name
                data += value
                previous = value
            }
        }
        return data
    }

    @Test func sameBytesAsGroupingByName() {
        let names = ["Body", "body", "B", "Bo", "a", "Z", "é", "e\u{301}", "", "MediaUrl0", "MediaUrl"]
        let values = ["", "1", "é", "e\u{301}", "x", "xy", "y", "😀", "Body"]
        var rng = SystemRandomNumberGenerator()
        for _ in 0..<500 {
            let n = Int.random(in: 0...9, using: &rng)
            let params = (0..<n).map { _ in (names.randomElement(using: &rng)!, values.randomElement(using: &rng)!) }
            #expect(TwilioSignature.signedParams(params) == Self.reference(params), "\(params)")
        }
        #expect(TwilioSignature.signedParams([("b", "1"), ("a", "2"), ("b", "1"), ("b", "0")]) == Array("a2b0b1".utf8))
        #expect(TwilioSignature.signedParams([]) == [])
    }

    @Test func asciiURLVariantsMatchTheCharacterCode() {
        let urls = ["https://h.example/hook", "https://h.example:443/x?y=1", "HTTP://h.example:80", "http://h.example:443/x",
                    "https://user:pw@h.example:443/a:b@c", "https://[::1]:443/x", "https://[::1]/x", "https://[::1]:8443/x",
                    "ftp://h.example/x", "h.example/x", "", "://", "http://", "http://:80", "http://h:80#f", "http://h?x=://",
                    "https://h.example:0443/x", "https://h.example:/x", "https://a@b@c:443", "x://y://z", "https://h:443:80/"]
        for url in urls {
            #expect(TwilioSignature.asciiURLVariants(url) == TwilioSignature.unicodeURLVariants(url), "\(url)")
        }
        #expect(TwilioSignature.asciiURLVariants("https://h.example/\u{301}x") == nil)
        #expect(TwilioSignature.urlVariants("https://h.example:443/x") == ["https://h.example:443/x", "https://h.example/x"])
        // Random ASCII URLs built from the characters that matter.
        let pieces = ["http", "https", "HTTPS", "://", ":", "/", "?", "#", "@", "[", "]", "443", "80", "h", ".", "x"]
        var seed: UInt64 = 42
        for _ in 0..<5_000 {
            var url = ""
            seed = seed &* 6_364_136_223_846_793_005 &+ 1
            var k = seed
            for _ in 0..<Int(k % 9) { k /= 16; url += pieces[Int(k % UInt64(pieces.count))]; k = k &* 31 &+ 7 }
            #expect(TwilioSignature.asciiURLVariants(url) == TwilioSignature.unicodeURLVariants(url), "\(url)")
        }
    }
}
