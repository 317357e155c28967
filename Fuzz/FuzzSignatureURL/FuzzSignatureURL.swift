import Domain
import FastCGI
import FuzzSupport
import MedsyncCrypto

// libFuzzer target: the URL a Twilio signature is checked over, rebuilt from TWILIO_WEBHOOK_BASE_URL or
// X-Forwarded-Proto/-Host (or Host) and REQUEST_URI, then the signature check itself over the form
// parameters. Input lines: REQUEST_URI, X-Forwarded-Host, X-Forwarded-Proto, Host, base URL (empty:
// none), form body, X-Twilio-Signature.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSignatureURL(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    var lines = bytes.split(separator: UInt8(ascii: "\n"), maxSplits: 6, omittingEmptySubsequences: false)
        .map { String(decoding: $0, as: UTF8.self) }
    while lines.count < 7 { lines.append("") }
    var headers: [String: String] = [:]
    if !lines[1].isEmpty { headers["x-forwarded-host"] = lines[1] }
    if !lines[2].isEmpty { headers["x-forwarded-proto"] = lines[2] }
    if !lines[3].isEmpty { headers["host"] = lines[3] }
    let base = lines[4].isEmpty ? nil : lines[4]
    guard let url = WebhookVerifier.publicURL(requestURI: lines[0], headers: headers, baseURL: base) else { return 0 }
    let uri = lines[0].hasPrefix("/") ? lines[0] : "/" + lines[0]
    // Compared as UTF-8 bytes (what is signed): a Host starting with a combining mark joins the "/"
    // before it into one Character, so String.hasPrefix("http://") is false for a correct URL (the
    // first thing this target found — a wrong check, not a wrong URL).
    precondition(url.utf8.reversed().starts(with: uri.utf8.reversed()), "the signed URL lost the request URI")
    if base == nil {
        precondition(url.utf8.starts(with: "http://".utf8) || url.utf8.starts(with: "https://".utf8), "the signed URL has another scheme")
    }
    let params = (try? FormData.parse(lines[5]))?.pairs ?? []
    let token = "0123456789abcdef0123456789abcdef"
    let signature = TwilioSignature.compute(authToken: token, url: url, params: params)
    precondition(TwilioSignature.isValid(signature: signature, authToken: token, url: url, params: params), "own signature refused")
    _ = TwilioSignature.isValid(signature: lines[6], authToken: token, url: url, params: params)
    return 0
}

@_cdecl("FuzzSignatureURL_main")
public func fuzzSignatureURLMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv) { fuzzSignatureURL($0, $1) }
}
