import Foundation

/// One HTTP request, copied out of libfcgi at once: handlers see only this value, so every handler
/// can be called in-process without a socket.
public struct Request: Sendable {
    public var method: String
    /// REQUEST_URI as the client sent it (path and query, still percent-encoded).
    public var uri: String
    /// `uri` without the query string (raw, not percent-decoded).
    public var path: String
    /// The raw query string after `?` ("" when there is none).
    public var query: String
    /// Lower-cased, dash-separated names (`content-type`, `x-forwarded-proto`, ...).
    public var headers: [String: String]
    public var remoteAddress: String
    public var body: [UInt8]
    /// Names this request in every log line about it: nginx's `$request_id` (the `REQUEST_ID`
    /// FastCGI parameter, 32 hex digits), or one made here when nginx sent none.
    public var requestID: String = ""

    public init(method: String, uri: String, headers: [String: String] = [:], remoteAddress: String = "", body: [UInt8] = []) {
        self.method = method
        self.uri = uri
        if let q = uri.firstIndex(of: "?") {
            path = String(uri[..<q])
            query = String(uri[uri.index(after: q)...])
        } else {
            path = uri
            query = ""
        }
        // Names that are lower-case ASCII already (all of them, from libfcgi) are kept as they are.
        if headers.keys.allSatisfy({ $0.utf8.allSatisfy { $0 < 0x41 || ($0 > 0x5A && $0 < 0x80) } }) {
            self.headers = headers
        } else {
            var lowered: [String: String] = [:]
            for (k, v) in headers { lowered[k.lowercased()] = v }
            self.headers = lowered
        }
        self.remoteAddress = remoteAddress
        self.body = body
    }

    /// A header by name, case-insensitively.
    public func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// The media type of the body without parameters, lower-cased (`application/json`), or nil.
    public var mediaType: String? {
        guard let ct = headers["content-type"] else { return nil }
        if ct.utf8.allSatisfy({ $0 < 0x80 }) {
            // ASCII (every real Content-Type): the same answer byte by byte, without Foundation.
            let type = ct.utf8.prefix { $0 != UInt8(ascii: ";") }
            let trimmed = type.drop { $0 == 0x20 || $0 == 0x09 }.reversed().drop { $0 == 0x20 || $0 == 0x09 }.reversed()
            guard !trimmed.isEmpty else { return nil }
            return String(decoding: trimmed.map { $0 >= 0x41 && $0 <= 0x5A ? $0 + 0x20 : $0 }, as: UTF8.self)
        }
        let type = ct.split(separator: ";", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        let trimmed = type.trimmingCharacters(in: .whitespaces).lowercased()
        return trimmed.isEmpty ? nil : trimmed
    }

    /// The query string as form pairs (order and repeats kept).
    public func queryItems() throws(BodyError) -> FormData { try FormData.parse(Array(query.utf8)) }

    /// The body as `application/x-www-form-urlencoded`. An empty body is an empty form; another
    /// declared media type is `unsupported_media_type`.
    public func form() throws(BodyError) -> FormData {
        if body.isEmpty { return FormData(pairs: []) }
        if let type = mediaType, type != "application/x-www-form-urlencoded" {
            throw .unsupportedMediaType("expected application/x-www-form-urlencoded, got \(type)")
        }
        return try FormData.parse(body)
    }

    /// The body as `multipart/form-data` parts.
    public func multipart() throws(BodyError) -> [MultipartPart] {
        try MultipartParser.parse(body: body, contentType: header("content-type") ?? "")
    }

    /// The body decoded as JSON (whatever Content-Type says: browsers' `fetch` sends text/plain by
    /// default). Syntax and shape errors are `malformed_json`; a body that is not UTF-8 is `invalid_utf8`;
    /// a NUL character (a raw 0 byte or a `\u0000` escape) is `nul_character`.
    public func decodeJSON<T: Decodable>(_ type: T.Type = T.self) throws(BodyError) -> T {
        return try JSONBody.decode(type, from: body)
    }
}

enum JSONBody {
    static func decode<T: Decodable>(_ type: T.Type, from body: [UInt8]) throws(BodyError) -> T {
        guard !body.isEmpty else { throw .malformedJSON("the request body is empty; a JSON document was expected") }
        guard String(validating: body, as: UTF8.self) != nil else {
            throw .invalidUTF8("the JSON body is not valid UTF-8")
        }
        let value: T
        do {
            value = try JSONDecoder.medsync.decode(T.self, from: Data(body))
        } catch let error as DecodingError {
            throw .malformedJSON(describe(error))
        } catch {
            throw .malformedJSON("the request body is not valid JSON")
        }
        // Valid JSON holds no raw NUL, but a string may carry one as \u0000.
        guard !containsNUL(body) else {
            throw .nulCharacter("the JSON body contains a NUL character (\\u0000), which is not accepted")
        }
        return value
    }

    /// A raw 0 byte, or a `\u0000` escape. A backslash always starts a two-character
    /// escape, so `\\u0000` (an escaped backslash, then text) is correctly not one.
    static func containsNUL(_ body: [UInt8]) -> Bool {
        body.withUnsafeBufferPointer { p in
            var i = 0
            while i < p.count {
                switch p[i] {
                case 0:
                    return true
                case UInt8(ascii: "\\"):
                    if i + 5 < p.count, p[i + 1] == UInt8(ascii: "u"), p[i + 2] == UInt8(ascii: "0"), p[i + 3] == UInt8(ascii: "0"),
                       p[i + 4] == UInt8(ascii: "0"), p[i + 5] == UInt8(ascii: "0") {
                        return true
                    }
                    i += 2
                default:
                    i += 1
                }
            }
            return false
        }
    }

    /// A message naming the field, never echoing the body.
    static func describe(_ error: DecodingError) -> String {
        func path(_ ctx: DecodingError.Context) -> String {
            let p = ctx.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return p.isEmpty ? "the document" : "'\(p)'"
        }
        switch error {
        case .dataCorrupted(let ctx) where ctx.codingPath.isEmpty:
            return "the request body is not valid JSON"
        case .dataCorrupted(let ctx):
            return "invalid value at \(path(ctx))"
        case .keyNotFound(let key, let ctx):
            let parent = path(ctx)
            return "missing field '\(key.stringValue)'" + (ctx.codingPath.isEmpty ? "" : " in \(parent)")
        case .typeMismatch(let type, let ctx):
            return "wrong type at \(path(ctx)): expected \(jsonName(type))"
        case .valueNotFound(let type, let ctx):
            return "null at \(path(ctx)): expected \(jsonName(type))"
        @unknown default:
            return "the request body does not match the expected JSON"
        }
    }

    static func jsonName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "a string"
        case is Bool.Type: return "a boolean"
        case is Int.Type, is Int64.Type, is Int32.Type: return "an integer"
        case is Double.Type, is Float.Type: return "a number"
        default:
            let name = String(describing: type)
            if name.hasPrefix("Array") { return "an array" }
            if name.hasPrefix("Dictionary") { return "an object" }
            return "an object"
        }
    }
}

extension JSONDecoder {
    /// Dates as ISO 8601 strings, like `JSONEncoder.medsync`.
    public static var medsync: JSONDecoder {
        let d = JSONDecoder()
        d.dateDecodingStrategy = .iso8601
        return d
    }
}

extension JSONEncoder {
    /// Sorted keys (stable output), unescaped slashes, dates as ISO 8601 strings.
    public static var medsync: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        e.dateEncodingStrategy = .iso8601
        return e
    }
}

extension Request {
    /// nginx's `$request_id` when it is one (1 to 64 letters, digits or dashes), else 16 random hex
    /// digits: a log line never carries a client-chosen string as the id.
    public static func requestID(_ fromNginx: String?) -> String {
        if let id = fromNginx, (1...64).contains(id.utf8.count),
           id.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x2D }) {
            return id
        }
        let n = UInt64.random(in: 0...UInt64.max)
        let hex = String(n, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}
