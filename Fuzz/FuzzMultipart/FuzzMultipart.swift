import FastCGI
import FuzzSupport

// libFuzzer target: multipart/form-data (MultipartParser, Request.multipart). The input's first line
// (up to "\n", at most 300 bytes) is the Content-Type header; the rest is the body. Every part found
// lies inside the body.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMultipart(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    let newline = bytes.prefix(300).firstIndex(of: UInt8(ascii: "\n"))
    let contentType = String(decoding: bytes[..<(newline ?? 0)], as: UTF8.self)
    let body = Array(bytes[(newline.map { $0 + 1 } ?? 0)...])
    if let parts = try? MultipartParser.parse(body: body, contentType: contentType) {
        precondition(parts.reduce(0) { $0 + $1.data.count } <= body.count, "parts larger than the body")
        for part in parts { _ = part.text }
    }
    _ = try? Request(method: "POST", uri: "/api/whatsapp/bundle/preview", headers: ["Content-Type": contentType], body: body).multipart()
    return 0
}

@_cdecl("FuzzMultipart_main")
public func fuzzMultipartMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv) { fuzzMultipart($0, $1) }
}
