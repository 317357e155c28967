import FastCGI
import FuzzSupport

// libFuzzer target: application/x-www-form-urlencoded bodies and query strings (FormData, Request.form,
// Request.queryItems). Beyond "never traps": a parsed value never holds a NUL, and percent-encoding
// every byte of the parsed pairs and parsing again gives the same pairs.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzForm(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    if let form = try? FormData.parse(bytes) {
        var encoded: [UInt8] = []
        for (i, (key, value)) in form.pairs.enumerated() {
            precondition(!key.utf8.contains(0) && !value.utf8.contains(0), "a NUL got through the form parser")
            if i > 0 { encoded.append(UInt8(ascii: "&")) }
            encoded += percentEncoded(key) + [UInt8(ascii: "=")] + percentEncoded(value)
        }
        let again = try? FormData.parse(encoded)
        precondition(again.map { $0.pairs.elementsEqual(form.pairs) { $0 == $1 } } ?? false,
                     "re-encoded pairs parse differently")
    }
    let query = String(decoding: bytes.prefix(512), as: UTF8.self).replacingOccurrences(of: "#", with: "")
    let request = Request(method: "POST", uri: "/api/webhooks/whatsapp?" + query,
                          headers: ["Content-Type": "application/x-www-form-urlencoded; charset=utf-8"], body: bytes)
    _ = try? request.form()
    _ = try? request.queryItems()
    return 0
}

func percentEncoded(_ s: String) -> [UInt8] {
    let hex = Array("0123456789ABCDEF".utf8)
    var out: [UInt8] = []
    for b in s.utf8 {
        out += [UInt8(ascii: "%"), hex[Int(b >> 4)], hex[Int(b & 15)]]
    }
    return out
}

@_cdecl("FuzzForm_main")
public func fuzzFormMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv) { fuzzForm($0, $1) }
}
