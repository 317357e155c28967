import Testing
@testable import FastCGI

@Suite struct MultipartTests {
    static let type = "multipart/form-data; boundary=----WebKitFormBoundaryX3b"

    func body(_ s: String) -> [UInt8] { Array(s.replacingOccurrences(of: "\n", with: "\r\n").utf8) }

    func code(_ body: [UInt8], _ contentType: String = type) -> String? {
        do { _ = try MultipartParser.parse(body: body, contentType: contentType); return nil } catch { return error.code }
    }

    @Test func fieldsAndAFile() throws {
        let b = body("""
        ------WebKitFormBoundaryX3b
        Content-Disposition: form-data; name="name"

        Bundle enero
        ------WebKitFormBoundaryX3b
        Content-Disposition: form-data; name="file"; filename="patients.csv"
        Content-Type: text/csv

        name,phone
        Ana,+5215512345678

        ------WebKitFormBoundaryX3b--

        """)
        let parts = try MultipartParser.parse(body: b, contentType: Self.type)
        #expect(parts.count == 2)
        #expect(parts[0] == MultipartPart(name: "name", data: Array("Bundle enero".utf8)))
        #expect(parts[0].text == "Bundle enero")
        #expect(parts[1].name == "file")
        #expect(parts[1].filename == "patients.csv")
        #expect(parts[1].contentType == "text/csv")
        // The part's own trailing CRLF belongs to the data; the one before the boundary does not.
        #expect(parts[1].text == "name,phone\r\nAna,+5215512345678\r\n")
    }

    @Test func binaryFileDataIsKeptByteForByte() throws {
        let data: [UInt8] = [0x50, 0x4B, 0x03, 0x04, 0x00, 0x0D, 0x0A, 0x2D, 0x2D, 0xFF, 0x0D]
        var b = Array("--XYZ\r\nContent-Disposition: form-data; name=\"f\"; filename=\"a.xlsx\"\r\nContent-Type: application/octet-stream\r\n\r\n".utf8)
        b += data
        b += Array("\r\n--XYZ--\r\n".utf8)
        let parts = try MultipartParser.parse(body: b, contentType: "multipart/form-data; boundary=XYZ")
        #expect(parts.count == 1)
        #expect(parts[0].data == data)
        #expect(parts[0].filename == "a.xlsx")
    }

    @Test func quotedBoundaryPreambleAndEmptyParts() throws {
        let b = body("""
        this preamble is ignored
        --a b:c
        Content-Disposition: form-data; name="empty"


        --a b:c
        content-disposition: FORM-DATA; NAME=plain; filename=""

        x
        --a b:c--
        """)
        let parts = try MultipartParser.parse(body: b, contentType: "Multipart/Form-Data; charset=utf-8; boundary=\"a b:c\"")
        #expect(parts.map(\.name) == ["empty", "plain"])
        #expect(parts[0].data == [])
        #expect(parts[1].filename == "")
        #expect(parts[1].text == "x")
    }

    @Test func utf8AndEscapedFilenames() throws {
        let b = body("""
        --B
        Content-Disposition: form-data; name="f"; filename="pac\\"ientes ñ.csv"

        1
        --B--
        """)
        let parts = try MultipartParser.parse(body: b, contentType: "multipart/form-data; boundary=B")
        #expect(parts[0].filename == "pac\"ientes ñ.csv")
    }

    @Test func aBoundaryLookalikeInsideDataIsData() throws {
        let b = body("""
        --B
        Content-Disposition: form-data; name="f"

        --Bx is not the boundary
        --B--
        """)
        #expect(try MultipartParser.parse(body: b, contentType: "multipart/form-data; boundary=B")[0].text == "--Bx is not the boundary")
    }

    @Test func truncatedBodiesAreMalformedMultipart() {
        let full = body("""
        ------WebKitFormBoundaryX3b
        Content-Disposition: form-data; name="file"; filename="a.csv"

        a,b
        ------WebKitFormBoundaryX3b--

        """)
        // Every prefix that stops before the closing "--" is refused; none crashes.
        let closing = full.count - 4  // "--\r\n"
        for n in 0..<closing {
            #expect(code(Array(full[0..<n])) == "malformed_multipart", "prefix of \(n) bytes")
        }
        #expect(code(full) == nil)
    }

    @Test func malformedPartsAreMalformedMultipart() {
        let noDisposition = body("--B\nContent-Type: text/plain\n\nx\n--B--\n")
        #expect(code(noDisposition, "multipart/form-data; boundary=B") == "malformed_multipart")
        let noName = body("--B\nContent-Disposition: form-data; filename=\"a\"\n\nx\n--B--\n")
        #expect(code(noName, "multipart/form-data; boundary=B") == "malformed_multipart")
        let notFormData = body("--B\nContent-Disposition: attachment; name=\"a\"\n\nx\n--B--\n")
        #expect(code(notFormData, "multipart/form-data; boundary=B") == "malformed_multipart")
        let headerWithoutColon = body("--B\nContent-Disposition form-data\n\nx\n--B--\n")
        #expect(code(headerWithoutColon, "multipart/form-data; boundary=B") == "malformed_multipart")
        let garbageAfterBoundary = body("--Bjunk\nContent-Disposition: form-data; name=\"a\"\n\nx\n--B--\n")
        #expect(code(garbageAfterBoundary, "multipart/form-data; boundary=B") == "malformed_multipart")
        #expect(code(body("no boundary here"), "multipart/form-data; boundary=B") == "malformed_multipart")
        #expect(code([], "multipart/form-data; boundary=B") == "malformed_multipart")
    }

    @Test func headersThatAreNotUTF8AreInvalidUTF8() {
        var b = Array("--B\r\nContent-Disposition: form-data; name=\"".utf8)
        b += [0xFF, 0xFE]
        b += Array("\"\r\n\r\nx\r\n--B--\r\n".utf8)
        #expect(code(b, "multipart/form-data; boundary=B") == "invalid_utf8")
    }

    @Test func contentTypeProblems() {
        let b = body("--B\nContent-Disposition: form-data; name=\"a\"\n\nx\n--B--\n")
        #expect(code(b, "multipart/form-data") == "malformed_multipart")
        #expect(code(b, "multipart/form-data; boundary=") == "malformed_multipart")
        #expect(code(b, "multipart/form-data; boundary=\"\"") == "malformed_multipart")
        #expect(code(b, "application/json") == "unsupported_media_type")
        #expect(code(b, "") == "unsupported_media_type")
        #expect(code(b, "multipart/mixed; boundary=B") == "unsupported_media_type")
    }

    @Test func requestMultipartUsesTheContentTypeHeader() throws {
        let r = Request(method: "POST", uri: "/api/bundles", headers: ["Content-Type": "multipart/form-data; boundary=B"],
                        body: body("--B\nContent-Disposition: form-data; name=\"a\"\n\n1\n--B--\n"))
        #expect(try r.multipart().map(\.name) == ["a"])
    }

    @Test func randomCorruptionNeverCrashes() {
        let good = body("--B\nContent-Disposition: form-data; name=\"a\"; filename=\"x\"\nContent-Type: text/plain\n\n12345\n--B\nContent-Disposition: form-data; name=\"b\"\n\n6\n--B--\n")
        var generator = SystemRandomNumberGenerator()
        for _ in 0..<3000 {
            var b = good
            for _ in 0..<Int.random(in: 1...4, using: &generator) {
                let i = Int.random(in: 0..<b.count, using: &generator)
                switch Int.random(in: 0..<3, using: &generator) {
                case 0: b[i] = UInt8.random(in: 0...255, using: &generator)
                case 1: b.remove(at: i)
                default: b.insert([13, 10, 45][Int.random(in: 0..<3, using: &generator)], at: i)
                }
                if b.isEmpty { break }
            }
            do {
                _ = try MultipartParser.parse(body: b, contentType: "multipart/form-data; boundary=B")
            } catch {
                #expect(["malformed_multipart", "invalid_utf8"].contains(error.code))
            }
        }
    }
}
