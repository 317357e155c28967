import Foundation

/// A failure to get any HTTP response at all. A response with status 4xx/5xx is NOT an error:
/// it comes back as an `HTTPResponse` and the caller decides.
public struct HTTPClientError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable {
        /// The connect or total timeout elapsed (CURLE_OPERATION_TIMEDOUT).
        case timeout
        /// The host could not be resolved or refused the connection.
        case connect
        /// Anything else curl reports (TLS, protocol, write, bad URL, ...).
        case transport
    }

    public let code: Code
    /// For people and logs: names the curl call and carries curl's own explanation. Never a secret.
    public let message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    public static func timeout(_ message: String) -> HTTPClientError { .init(code: .timeout, message: message) }
    public static func connect(_ message: String) -> HTTPClientError { .init(code: .connect, message: message) }
    public static func transport(_ message: String) -> HTTPClientError { .init(code: .transport, message: message) }

    public var description: String { "HTTPClientError(\(code.rawValue)): \(message)" }
}

/// One outgoing request. Plain value; build it with `init`, `.form(url:pairs:)` or `.json(url:body:)`.
public struct HTTPRequest: Sendable {
    public var method: String
    public var url: String
    /// Sent in order; repeated names allowed.
    public var headers: [(String, String)]
    public var body: [UInt8]
    /// HTTP basic auth (user, password), e.g. a Twilio account SID and auth token.
    public var basicAuth: (String, String)?
    /// Overrides the client's total timeout for this request only.
    public var timeoutMS: Int?

    public init(
        method: String = "GET", url: String, headers: [(String, String)] = [], body: [UInt8] = [],
        basicAuth: (String, String)? = nil, timeoutMS: Int? = nil
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.basicAuth = basicAuth
        self.timeoutMS = timeoutMS
    }

    /// An `application/x-www-form-urlencoded` POST. Order and repeated names are kept
    /// (Twilio's `MediaUrl` may appear several times).
    public static func form(
        url: String, pairs: [(String, String)], method: String = "POST", headers: [(String, String)] = [],
        basicAuth: (String, String)? = nil, timeoutMS: Int? = nil
    ) -> HTTPRequest {
        HTTPRequest(
            method: method, url: url,
            headers: [("Content-Type", "application/x-www-form-urlencoded")] + headers,
            body: Array(formEncode(pairs).utf8), basicAuth: basicAuth, timeoutMS: timeoutMS)
    }

    /// A JSON POST whose body is already serialized.
    public static func json(
        url: String, body: [UInt8], method: String = "POST", headers: [(String, String)] = [],
        basicAuth: (String, String)? = nil, timeoutMS: Int? = nil
    ) -> HTTPRequest {
        HTTPRequest(
            method: method, url: url,
            headers: [("Content-Type", "application/json"), ("Accept", "application/json")] + headers,
            body: body, basicAuth: basicAuth, timeoutMS: timeoutMS)
    }

    /// A JSON POST whose body is already serialized text.
    public static func json(
        url: String, body: String, method: String = "POST", headers: [(String, String)] = [],
        basicAuth: (String, String)? = nil, timeoutMS: Int? = nil
    ) -> HTTPRequest {
        let bytes: [UInt8] = Array(body.utf8)
        return json(url: url, body: bytes, method: method, headers: headers, basicAuth: basicAuth, timeoutMS: timeoutMS)
    }

    /// A JSON POST of an `Encodable` value (encoded with `JSONEncoder`, no escaped slashes).
    public static func json<T: Encodable>(
        url: String, body: T, method: String = "POST", headers: [(String, String)] = [],
        basicAuth: (String, String)? = nil, timeoutMS: Int? = nil
    ) throws -> HTTPRequest {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.withoutEscapingSlashes]
        let data = try encoder.encode(body)
        return json(url: url, body: [UInt8](data), method: method, headers: headers, basicAuth: basicAuth, timeoutMS: timeoutMS)
    }

    /// `application/x-www-form-urlencoded` serialization: UTF-8, every byte except ALPHA / DIGIT / "-" "." "_" "~"
    /// percent-encoded, space as "+". Order and repeated names kept. Also right for query strings.
    public static func formEncode(_ pairs: [(String, String)]) -> String {
        pairs.map { "\(formEscape($0.0))=\(formEscape($0.1))" }.joined(separator: "&")
    }

    static func formEscape(_ s: String) -> String {
        let hex = Array("0123456789ABCDEF".utf8)
        var out = [UInt8]()
        out.reserveCapacity(s.utf8.count)
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.append(b)
            case UInt8(ascii: " "):
                out.append(UInt8(ascii: "+"))
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hex[Int(b >> 4)])
                out.append(hex[Int(b & 0x0f)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

/// What the server answered (any status, 1xx excluded).
public struct HTTPResponse: Sendable {
    public let status: Int
    /// Header lines of the final response in the order received; names as the server sent them.
    public let headers: [(String, String)]
    public let body: [UInt8]

    public init(status: Int, headers: [(String, String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// First value of a header, name compared case-insensitively.
    public func header(_ name: String) -> String? {
        let lower = name.lowercased()
        return headers.first { $0.0.lowercased() == lower }?.1
    }

    /// Every value of a header (e.g. several Set-Cookie lines).
    public func headerValues(_ name: String) -> [String] {
        let lower = name.lowercased()
        return headers.filter { $0.0.lowercased() == lower }.map(\.1)
    }

    /// The body decoded as UTF-8 (invalid sequences replaced).
    public var text: String { String(decoding: body, as: UTF8.self) }

    /// The body decoded as JSON.
    public func decodeJSON<T: Decodable>(_ type: T.Type = T.self) throws -> T {
        try JSONDecoder().decode(T.self, from: Data(body))
    }
}
