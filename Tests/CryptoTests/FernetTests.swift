import Foundation
import Testing
import TestSupport
import MedsyncCrypto

/// Tests/Fixtures/vectors relative to the package root (found from #filePath by TestSupport).
private func fernetVectors(_ name: String) throws -> [[String: Any]] {
    let path = "\(projectRoot)/Tests/Fixtures/vectors/fernet/\(name).json"
    guard let data = FileManager.default.contents(atPath: path) else {
        throw TestSetupError("cannot read the Fernet spec vectors at \(path)")
    }
    guard let list = try JSONSerialization.jsonObject(with: data) as? [[String: Any]], !list.isEmpty else {
        throw TestSetupError("\(path) is not a non-empty JSON array of objects")
    }
    return list
}

private func date(_ iso: Any?) throws -> Date {
    guard let s = iso as? String, let d = ISO8601DateFormatter().date(from: s) else {
        throw TestSetupError("bad date \(String(describing: iso)) in the vectors")
    }
    return d
}

@Suite struct FernetTests {
    @Test func specGenerateVectors() throws {
        for v in try fernetVectors("generate") {
            let fernet = try Fernet(key: v["secret"] as! String)
            let iv = (v["iv"] as! [Int]).map(UInt8.init)
            let token = fernet.encrypt(Array((v["src"] as! String).utf8), now: try date(v["now"]), iv: iv)
            #expect(token == v["token"] as! String)
        }
    }

    @Test func specVerifyVectors() throws {
        for v in try fernetVectors("verify") {
            let fernet = try Fernet(key: v["secret"] as! String)
            let plain = try fernet.decrypt(v["token"] as! String, ttl: v["ttl_sec"] as? Int, now: try date(v["now"]))
            #expect(String(decoding: plain, as: UTF8.self) == v["src"] as! String)
        }
    }

    @Test func specInvalidVectors() throws {
        let vectors = try fernetVectors("invalid")
        #expect(vectors.count == 8)
        for v in vectors {
            let desc = v["desc"] as! String
            let fernet = try Fernet(key: v["secret"] as! String)
            let expected: FernetError = switch desc {
            case "expired TTL": .expiredToken
            case "far-future TS (unacceptable clock skew)": .tokenFromFuture
            default: .invalidToken
            }
            #expect(throws: expected, "vector: \(desc)") {
                try fernet.decrypt(v["token"] as! String, ttl: v["ttl_sec"] as? Int, now: try date(v["now"]))
            }
        }
    }

    @Test func roundTripAndFreshIVs() throws {
        let fernet = try Fernet(key: Fernet.generateKey())
        for size in [0, 1, 15, 16, 17, 1000] {
            let plain = Crypto.randomBytes(size)
            let a = fernet.encrypt(plain)
            let b = fernet.encrypt(plain)
            #expect(a != b)  // random IV
            #expect(try fernet.decrypt(a) == plain)
            #expect(try fernet.decrypt(b, ttl: 60) == plain)
        }
        #expect(try fernet.decryptString(fernet.encrypt("Olá ✅")) == "Olá ✅")
    }

    @Test func wrongKeyAndTamperingAreInvalidToken() throws {
        let fernet = try Fernet(key: Fernet.generateKey())
        let other = try Fernet(key: Fernet.generateKey())
        let token = fernet.encrypt("secret auth token")
        #expect(throws: FernetError.invalidToken) { try other.decrypt(token) }
        // Flip one bit in every byte position of the decoded token in turn.
        let raw = Base64.urlSafeDecode(token)!
        for i in [0, 1, 9, 25, raw.count - 33, raw.count - 1] {
            var t = raw
            t[i] ^= 0x01
            #expect(throws: FernetError.invalidToken) { try fernet.decrypt(Base64.urlSafeEncode(t)) }
        }
        #expect(throws: FernetError.invalidToken) { try fernet.decrypt("") }
        #expect(throws: FernetError.invalidToken) { try fernet.decrypt("not a token") }
    }

    @Test func ttlBoundaries() throws {
        let fernet = try Fernet(key: Fernet.generateKey())
        let t0 = Date(timeIntervalSince1970: 1_700_000_000)
        let token = fernet.encrypt("x", now: t0)
        #expect(try fernet.decrypt(token, ttl: 60, now: t0.addingTimeInterval(60)) == Array("x".utf8))
        #expect(throws: FernetError.expiredToken) { try fernet.decrypt(token, ttl: 60, now: t0.addingTimeInterval(61)) }
        #expect(try fernet.decrypt(token, ttl: 60, now: t0.addingTimeInterval(-60)) == Array("x".utf8))
        #expect(throws: FernetError.tokenFromFuture) { try fernet.decrypt(token, ttl: 60, now: t0.addingTimeInterval(-61)) }
        // Without a ttl the age does not matter (Python's behaviour too).
        #expect(try fernet.decrypt(token, now: t0.addingTimeInterval(10 * 365 * 86400)) == Array("x".utf8))
    }

    @Test(arguments: [
        "", "short", "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e", /* 31 bytes */
        "cw/0x689RpI+jtRR7oE8h/eQsKImvJapLeSbXpwF4e4=", /* standard alphabet */
        "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=cw==", /* too long */
    ])
    func invalidKeys(key: String) {
        #expect(throws: FernetError.invalidKey) { try Fernet(key: key) }
    }

    @Test func keyFormatsAndRedaction() throws {
        let key = Fernet.generateKey()
        #expect(key.count == 44 && key.hasSuffix("="))
        #expect(Base64.urlSafeDecode(key)?.count == 32)
        let padded = try Fernet(key: key)
        let unpadded = try Fernet(key: String(key.dropLast()))
        #expect(try unpadded.decrypt(padded.encrypt("a")) == Array("a".utf8))
        #expect(!"\(padded)".contains(key.prefix(10)))
        #expect("\(padded)".contains("<redacted>"))
    }

    @Test func swiftTokensDecryptInPython() throws {
        let key = Fernet.generateKey()
        let message = "AC-subaccount token: Olá ✅ & more"
        let token = try Fernet(key: key).encrypt(message)
        let hex = try runPython([domainTestHelper("fernet_tool.py"), "decrypt", key], stdin: token)
        #expect(hex.trimmingCharacters(in: .whitespacesAndNewlines) == Crypto.hex(Array(message.utf8)))
    }

    @Test func pythonTokensDecryptInSwift() throws {
        let key = try runPython([domainTestHelper("fernet_tool.py"), "genkey"]).trimmingCharacters(in: .whitespacesAndNewlines)
        let message = "made by cryptography.fernet — ünïcode"
        let token = try runPython([domainTestHelper("fernet_tool.py"), "encrypt", key], stdin: message)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try Fernet(key: key).decryptString(token, ttl: 120) == message)
    }
}
