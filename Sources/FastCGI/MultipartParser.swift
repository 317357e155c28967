/// One part of a `multipart/form-data` body.
public struct MultipartPart: Sendable, Equatable {
    /// The form field name (`Content-Disposition: form-data; name="..."`).
    public var name: String
    /// Present for file parts (may be "" when the browser sent no file).
    public var filename: String?
    public var contentType: String?
    public var data: [UInt8]

    public init(name: String, filename: String? = nil, contentType: String? = nil, data: [UInt8]) {
        self.name = name
        self.filename = filename
        self.contentType = contentType
        self.data = data
    }

    /// The data as UTF-8 text (a plain form field).
    public var text: String? { String(validating: data, as: UTF8.self) }
}

/// `multipart/form-data` (RFC 7578 over RFC 2046): parts between `--boundary` lines, each with
/// headers, a blank line and data ending at CRLF before the next boundary.
public enum MultipartParser {
    /// Throws `unsupported_media_type` when `contentType` is not multipart/form-data,
    /// `malformed_multipart` for a missing boundary, truncated body or bad part headers,
    /// `invalid_utf8` for header text that is not UTF-8.
    public static func parse(body: [UInt8], contentType: String) throws(BodyError) -> [MultipartPart] {
        let (type, params) = HeaderValue.parse(contentType)
        guard type == "multipart/form-data" else {
            throw .unsupportedMediaType("expected multipart/form-data, got \(type.isEmpty ? "no content type" : type)")
        }
        guard let boundary = params["boundary"], !boundary.isEmpty, boundary.utf8.count <= 200 else {
            throw .malformedMultipart("the content type has no boundary")
        }
        let delimiter = Array("--\(boundary)".utf8)
        let crlf: [UInt8] = [13, 10]

        // The first delimiter: at the very start, or after a preamble ending in CRLF.
        var pos: Int
        if body.starts(with: delimiter) {
            pos = delimiter.count
        } else if let found = find(crlf + delimiter, in: body, from: 0) {
            pos = found + 2 + delimiter.count
        } else {
            throw .malformedMultipart("the body does not contain the boundary")
        }

        var parts: [MultipartPart] = []
        while true {
            // After a delimiter: "--" closes the body; otherwise optional whitespace then CRLF.
            if body.count >= pos + 2, body[pos] == UInt8(ascii: "-"), body[pos + 1] == UInt8(ascii: "-") {
                return parts
            }
            while pos < body.count, body[pos] == UInt8(ascii: " ") || body[pos] == UInt8(ascii: "\t") { pos += 1 }
            guard body.count >= pos + 2, body[pos] == 13, body[pos + 1] == 10 else {
                throw .malformedMultipart("the body is truncated or a boundary line is malformed")
            }
            pos += 2

            // Headers up to the blank line.
            let headerEnd: Int
            if body.count >= pos + 2, body[pos] == 13, body[pos + 1] == 10 {
                headerEnd = pos  // no headers at all
            } else if let end = find([13, 10, 13, 10], in: body, from: pos) {
                headerEnd = end + 2
            } else {
                throw .malformedMultipart("a part's headers are truncated")
            }
            let headers = try parseHeaders(body[pos..<headerEnd])
            pos = headerEnd + 2

            // Data up to CRLF + delimiter.
            guard let dataEnd = find(crlf + delimiter, in: body, from: pos) else {
                throw .malformedMultipart("the body is truncated: a part has no closing boundary")
            }
            guard let disposition = headers["content-disposition"] else {
                throw .malformedMultipart("a part has no Content-Disposition header")
            }
            let (dispType, dispParams) = HeaderValue.parse(disposition)
            guard dispType == "form-data", let name = dispParams["name"] else {
                throw .malformedMultipart("a part's Content-Disposition is not form-data with a name")
            }
            parts.append(MultipartPart(name: name, filename: dispParams["filename"], contentType: headers["content-type"],
                                       data: Array(body[pos..<dataEnd])))
            pos = dataEnd + 2 + delimiter.count
        }
    }

    /// `Name: value` lines separated by CRLF; names lower-cased.
    static func parseHeaders(_ bytes: ArraySlice<UInt8>) throws(BodyError) -> [String: String] {
        guard let text = String(validating: bytes, as: UTF8.self) else {
            throw .invalidUTF8("a multipart part's headers are not valid UTF-8")
        }
        var headers: [String: String] = [:]
        for line in text.split(separator: "\r\n", omittingEmptySubsequences: true) {
            guard let colon = line.firstIndex(of: ":") else {
                throw .malformedMultipart("a multipart part header has no ':'")
            }
            let name = line[..<colon].trimmingWhitespace().lowercased()
            guard !name.isEmpty else { throw .malformedMultipart("a multipart part header has no name") }
            headers[name] = String(line[line.index(after: colon)...].trimmingWhitespace())
        }
        return headers
    }

    /// The first index of `needle` in `haystack` at or after `from`.
    static func find(_ needle: [UInt8], in haystack: [UInt8], from: Int) -> Int? {
        guard let first = needle.first, haystack.count - needle.count >= from else { return nil }
        return haystack.withUnsafeBufferPointer { h -> Int? in
            needle.withUnsafeBufferPointer { n -> Int? in
                var i = from
                let last = h.count - n.count
                while i <= last {
                    if h[i] == first {
                        var j = 1
                        while j < n.count, h[i + j] == n[j] { j += 1 }
                        if j == n.count { return i }
                    }
                    i += 1
                }
                return nil
            }
        }
    }
}

/// A header value with parameters: `type/subtype; a=b; c="quoted \"value\""`.
enum HeaderValue {
    /// The lower-cased value before the first `;`, and the parameters (names lower-cased).
    static func parse(_ value: String) -> (String, [String: String]) {
        let chars = Array(value)
        var i = 0
        func skipSpace() { while i < chars.count, chars[i] == " " || chars[i] == "\t" { i += 1 } }
        func token() -> String {
            var s = ""
            while i < chars.count, chars[i] != ";", chars[i] != "=" { s.append(chars[i]); i += 1 }
            return s.trimmingWhitespace()
        }
        skipSpace()
        let main = token().lowercased()
        var params: [String: String] = [:]
        while i < chars.count {
            if chars[i] == ";" { i += 1 }
            skipSpace()
            let name = token().lowercased()
            var val = ""
            if i < chars.count, chars[i] == "=" {
                i += 1
                skipSpace()
                if i < chars.count, chars[i] == "\"" {
                    i += 1
                    while i < chars.count, chars[i] != "\"" {
                        if chars[i] == "\\", i + 1 < chars.count { i += 1 }
                        val.append(chars[i])
                        i += 1
                    }
                    if i < chars.count { i += 1 }  // closing quote
                    while i < chars.count, chars[i] != ";" { i += 1 }
                } else {
                    val = token()
                }
            }
            if !name.isEmpty, params[name] == nil { params[name] = val }
        }
        return (main, params)
    }
}

extension StringProtocol {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f == " " || f == "\t" { s.removeFirst() }
        while let l = s.last, l == " " || l == "\t" { s.removeLast() }
        return String(s)
    }
}
