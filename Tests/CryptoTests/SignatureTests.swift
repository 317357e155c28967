import Foundation
import Testing
import TestSupport
import MedsyncCrypto

private struct SignatureVectors: Decodable {
    struct Case: Decodable {
        let name: String
        let auth_token: String
        let url: String
        let signed_url: String?
        let params: [[String]]
        let signature: String
        let valid: Bool
    }
    let cases: [Case]
}

/// Tests/Fixtures/vectors relative to the package root (found from #filePath by TestSupport).
private func loadVectors() throws -> [SignatureVectors.Case] {
    let path = "\(projectRoot)/Tests/Fixtures/vectors/twilio-signature-vectors.json"
    guard let data = FileManager.default.contents(atPath: path) else {
        throw TestSetupError("cannot read the Twilio signature vectors at \(path)")
    }
    return try JSONDecoder().decode(SignatureVectors.self, from: data).cases
}

@Suite struct SignatureTests {
    @Test func everySharedVector() throws {
        let cases = try loadVectors()
        #expect(cases.count == 5)
        #expect(cases.contains { !$0.valid })
        for c in cases {
            let params = c.params.map { ($0[0], $0[1]) }
            #expect(
                TwilioSignature.isValid(signature: c.signature, authToken: c.auth_token, url: c.url, params: params) == c.valid,
                "case: \(c.name)")
            if c.valid {
                // compute() reproduces the signature over the URL that was actually signed.
                #expect(TwilioSignature.compute(authToken: c.auth_token, url: c.signed_url ?? c.url, params: params) == c.signature,
                        "case: \(c.name)")
            }
        }
    }

    @Test func paramOrderDoesNotMatter() throws {
        let c = try loadVectors()[0]
        let params = c.params.map { ($0[0], $0[1]) }
        #expect(TwilioSignature.isValid(signature: c.signature, authToken: c.auth_token, url: c.url, params: params.reversed()))
    }

    /// Expected values from Python (the SDK's algorithm: `sorted(set(...))` over str, code-point order):
    /// a repeated value counts once, 'Z' sorts before 'a', and "é" (U+00E9) and "e\u{301}" are different
    /// values even though Swift's String calls them equal.
    @Test func codePointOrderingAndDistinctValuesLikeTheSDK() {
        let params = [("Body", "e\u{301}"), ("Body", "\u{e9}"), ("Body", "\u{e9}"), ("a", "1"), ("Z", "2"),
                      ("MediaUrl", "https://x/2"), ("MediaUrl", "https://x/1")]
        #expect(TwilioSignature.compute(authToken: "tok", url: "https://h.example/hook", params: params) == "AHEzG4hZu+q6NUZIIS00z3xWN1g=")
        #expect(TwilioSignature.compute(authToken: "tok", url: "https://h.example/hook", params: []) == "Wh/AzJ/xfm/wQFpN8/rDApt6A5Y=")
    }

    @Test func defaultPortIsToggledBothWays() {
        let params = [("A", "1")]
        let withPort = TwilioSignature.compute(authToken: "t", url: "https://h.example:443/x?y=1", params: params)
        let without = TwilioSignature.compute(authToken: "t", url: "https://h.example/x?y=1", params: params)
        #expect(withPort != without)
        #expect(TwilioSignature.isValid(signature: withPort, authToken: "t", url: "https://h.example/x?y=1", params: params))
        #expect(TwilioSignature.isValid(signature: without, authToken: "t", url: "https://h.example:443/x?y=1", params: params))
        let http = TwilioSignature.compute(authToken: "t", url: "http://h.example:80/x", params: params)
        #expect(TwilioSignature.isValid(signature: http, authToken: "t", url: "http://h.example/x", params: params))
        // A non-default port is part of the URL: never stripped, and :443 is not the default for http.
        let custom = TwilioSignature.compute(authToken: "t", url: "https://h.example:8443/x", params: params)
        #expect(!TwilioSignature.isValid(signature: custom, authToken: "t", url: "https://h.example/x", params: params))
        let wrongDefault = TwilioSignature.compute(authToken: "t", url: "http://h.example:443/x", params: params)
        #expect(!TwilioSignature.isValid(signature: wrongDefault, authToken: "t", url: "http://h.example/x", params: params))
    }

    @Test func rejectsEmptyOrMalformedSignatures() throws {
        let c = try loadVectors()[0]
        let params = c.params.map { ($0[0], $0[1]) }
        for bad in ["", "RSOYDt4T1cUTdK1PDd93/VVr8B8", "RSOYDt4T1cUTdK1PDd93/VVr8B8==", "rsoydt4t1cutdk1pdd93/vvr8b8="] {
            #expect(!TwilioSignature.isValid(signature: bad, authToken: c.auth_token, url: c.url, params: params))
        }
    }
}
