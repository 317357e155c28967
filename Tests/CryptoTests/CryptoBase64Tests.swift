import Foundation
import Testing
import MedsyncCrypto

@Suite struct CryptoBase64Tests {
    /// RFC 4648 §10 test vectors.
    @Test(arguments: [
        ("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="),
        ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy"),
    ])
    func rfc4648Vectors(plain: String, encoded: String) {
        #expect(Base64.encode(Array(plain.utf8)) == encoded)
        #expect(Base64.decode(encoded) == Array(plain.utf8))
        let unpadded = encoded.replacingOccurrences(of: "=", with: "")
        #expect(Base64.encode(Array(plain.utf8), padding: false) == unpadded)
        #expect(Base64.decode(unpadded) == Array(plain.utf8))
    }

    @Test func urlSafeAlphabet() {
        let bytes: [UInt8] = [0xfb, 0xff, 0xbf, 0xfe]
        #expect(Base64.encode(bytes) == "+/+//g==")
        #expect(Base64.urlSafeEncode(bytes) == "-_-__g==")
        #expect(Base64.urlSafeEncode(bytes, padding: false) == "-_-__g")
        #expect(Base64.urlSafeDecode("-_-__g==") == bytes)
        #expect(Base64.urlSafeDecode("-_-__g") == bytes)
        // Each alphabet refuses the other's characters.
        #expect(Base64.urlSafeDecode("+/+//g==") == nil)
        #expect(Base64.decode("-_-__g==") == nil)
    }

    @Test func agreesWithFoundationOnRandomData() {
        for size in 0..<70 {
            let bytes = Crypto.randomBytes(size)
            let ours = Base64.encode(bytes)
            #expect(ours == Data(bytes).base64EncodedString())
            #expect(Base64.decode(ours) == bytes)
            #expect(Base64.urlSafeDecode(Base64.urlSafeEncode(bytes, padding: false)) == bytes)
        }
    }

    @Test(arguments: ["A", "AAAAA", "A===", "AA=", "AA=A", "=AAA", "AAA==", "Zm 9v", "Zm9v\n", "Zm9v====", "Zg=", "é"])
    func malformedInputIsRejected(input: String) {
        #expect(Base64.decode(input) == nil)
        #expect(Base64.urlSafeDecode(input) == nil)
    }
}
