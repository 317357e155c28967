import Foundation

/// What a handler answers: status, headers in order, body bytes.
public struct Response: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(String, String)] = [], body: [UInt8] = []) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// The first header named `name`, case-insensitively.
    public func header(_ name: String) -> String? {
        let lowered = name.lowercased()
        return headers.first { $0.0.lowercased() == lowered }?.1
    }

    /// The answer with `Cache-Control: no-store` unless it says otherwise: every answer of the app
    /// may carry patients' data, and no browser or proxy cache may keep it (ASVS 8.2.1). Set here,
    /// not in nginx, so it holds behind any proxy.
    public func storedNowhere() -> Response {
        guard header("Cache-Control") == nil else { return self }
        var r = self
        r.headers.append(("Cache-Control", "no-store"))
        return r
    }

    /// `value` encoded with `JSONEncoder.medsync` (sorted keys, ISO 8601 dates). A value that cannot
    /// be encoded (e.g. a NaN) becomes a 500 `internal_error`.
    public static func json(_ status: Int, _ value: some Encodable) -> Response {
        do {
            let data = try JSONEncoder.medsync.encode(value)
            return Response(status: status, headers: [("Content-Type", "application/json; charset=utf-8")], body: Array(data))
        } catch {
            return .error(500, code: "internal_error", message: "The response could not be encoded.")
        }
    }

    public static func text(_ status: Int, _ s: String, contentType: String = "text/plain; charset=utf-8") -> Response {
        Response(status: status, headers: [("Content-Type", contentType)], body: Array(s.utf8))
    }

    /// The API's error shape: `{"error":{"code":"...","message":"..."}}`.
    public static func error(_ status: Int, code: String, message: String) -> Response {
        json(status, ErrorBody(error: .init(code: code, message: message)))
    }

    /// A body error as its 400 (or 415) response.
    public static func error(_ e: BodyError) -> Response { error(e.status, code: e.code, message: e.message) }

    struct ErrorBody: Encodable {
        struct Detail: Encodable { let code: String; let message: String }
        let error: Detail
    }

    /// The reason phrase for the `Status:` line.
    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: return "OK"
        case 201: return "Created"
        case 202: return "Accepted"
        case 204: return "No Content"
        case 301: return "Moved Permanently"
        case 302: return "Found"
        case 303: return "See Other"
        case 304: return "Not Modified"
        case 307: return "Temporary Redirect"
        case 308: return "Permanent Redirect"
        case 400: return "Bad Request"
        case 401: return "Unauthorized"
        case 402: return "Payment Required"
        case 403: return "Forbidden"
        case 404: return "Not Found"
        case 405: return "Method Not Allowed"
        case 406: return "Not Acceptable"
        case 408: return "Request Timeout"
        case 409: return "Conflict"
        case 410: return "Gone"
        case 411: return "Length Required"
        case 412: return "Precondition Failed"
        case 413: return "Payload Too Large"
        case 415: return "Unsupported Media Type"
        case 422: return "Unprocessable Content"
        case 429: return "Too Many Requests"
        case 500: return "Internal Server Error"
        case 501: return "Not Implemented"
        case 502: return "Bad Gateway"
        case 503: return "Service Unavailable"
        case 504: return "Gateway Timeout"
        default: return "Status \(status)"
        }
    }

    /// The CGI response as libfcgi writes it: `Status: NNN Reason`, headers, blank line, body.
    /// Header names/values lose any CR/LF (no header injection); Content-Length is added when absent.
    public func serialized() -> [UInt8] {
        func clean(_ s: String) -> String { s.filter { $0 != "\r" && $0 != "\n" && $0 != "\r\n" } }
        var head = "Status: \(status) \(Response.reasonPhrase(status))\r\n"
        var hasLength = false
        for (name, value) in headers {
            if name.lowercased() == "content-length" { hasLength = true }
            head += "\(clean(name)): \(clean(value))\r\n"
        }
        if !hasLength { head += "Content-Length: \(body.count)\r\n" }
        head += "\r\n"
        return Array(head.utf8) + body
    }
}
