import Foundation
import MedsyncCrypto
import HTTPClient

/// A request as the sandbox's handlers see it (built from the FastCGI layer's `Request` in main.swift).
struct SandboxRequest: Sendable {
    var method: String
    /// Raw path, without the query.
    var path: String
    var query: String
    /// Lower-cased names.
    var headers: [String: String]
    var body: [UInt8]

    func header(_ name: String) -> String? { headers[name.lowercased()] }

    /// HTTP Basic credentials, if any.
    var basicAuth: (String, String)? {
        guard let h = header("authorization"), h.lowercased().hasPrefix("basic "),
            let raw = Base64.decode(String(h.dropFirst(6)).trimmingCharacters(in: .whitespaces))
        else { return nil }
        let text = String(decoding: raw, as: UTF8.self)
        guard let colon = text.firstIndex(of: ":") else { return nil }
        return (String(text[..<colon]), String(text[text.index(after: colon)...]))
    }

    /// The form body (application/x-www-form-urlencoded), order and repeats kept.
    var form: [(String, String)] { Form.parse(String(decoding: body, as: UTF8.self)) }
    var queryItems: [(String, String)] { Form.parse(query) }
    var json: JSON? { JSON.parse(body) }
}

struct SandboxResponse: Sendable {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]

    static func json(_ status: Int, _ value: JSON) -> SandboxResponse {
        SandboxResponse(status: status, headers: [("Content-Type", "application/json; charset=utf-8")],
                        body: Array(value.serialized().utf8))
    }

    /// The control API's error shape, as the app's: {"error":{"code":"...","message":"..."}}.
    static func controlError(_ status: Int, _ code: String, _ message: String) -> SandboxResponse {
        json(status, .object([("error", .object([("code", .string(code)), ("message", .string(message))]))]))
    }
}

enum Form {
    /// application/x-www-form-urlencoded (also query strings): `+` is a space, %XX bytes are UTF-8.
    static func parse(_ text: String) -> [(String, String)] {
        guard !text.isEmpty else { return [] }
        return text.split(separator: "&", omittingEmptySubsequences: true).map { part in
            if let eq = part.firstIndex(of: "=") {
                return (decode(part[..<eq]), decode(part[part.index(after: eq)...]))
            }
            return (decode(part), "")
        }
    }

    /// Percent-decoding; `+` is a space in forms and queries, itself in a path.
    static func decode(_ s: Substring, plusIsSpace: Bool = true) -> String {
        var bytes: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let b = it.popFirst() {
            if b == UInt8(ascii: "+") && plusIsSpace {
                bytes.append(UInt8(ascii: " "))
            } else if b == UInt8(ascii: "%"), it.count >= 2,
                let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16)
            {
                bytes.append(v)
                it = it.dropFirst(2)
            } else {
                bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func first(_ pairs: [(String, String)], _ name: String) -> String? { pairs.first { $0.0 == name }?.1 }
    static func all(_ pairs: [(String, String)], _ name: String) -> [String] { pairs.filter { $0.0 == name }.map(\.1) }
}

/// Path patterns like "/2010-04-01/Accounts/{sid}/Messages.json": a `{name}` segment matches one
/// path segment; a segment may also be a literal prefix/suffix around one `{name}`
/// ("{sid}.json", "{model}:generateContent").
struct Route: Sendable {
    let method: String
    let segments: [String]
    let handler: @Sendable (SandboxRequest, [String: String], HTTPClient) -> SandboxResponse

    init(_ method: String, _ pattern: String,
         _ handler: @escaping @Sendable (SandboxRequest, [String: String], HTTPClient) -> SandboxResponse) {
        self.method = method
        segments = pattern.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        self.handler = handler
    }

    func match(_ path: String) -> [String: String]? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == segments.count else { return nil }
        var params: [String: String] = [:]
        for (pattern, part) in zip(segments, parts) {
            guard let open = pattern.firstIndex(of: "{"), let close = pattern.firstIndex(of: "}") else {
                if pattern != part { return nil }
                continue
            }
            let prefix = String(pattern[..<open])
            let suffix = String(pattern[pattern.index(after: close)...])
            let name = String(pattern[pattern.index(after: open)..<close])
            guard part.hasPrefix(prefix), part.hasSuffix(suffix), part.count > prefix.count + suffix.count else { return nil }
            let value = part.dropFirst(prefix.count).dropLast(suffix.count)
            params[name] = Form.decode(value, plusIsSpace: false)
        }
        return params
    }
}

struct Router: Sendable {
    let routes: [Route]

    func handle(_ request: SandboxRequest, http: HTTPClient) -> SandboxResponse {
        var allowed: [String] = []
        for route in routes {
            guard let params = route.match(request.path) else { continue }
            if route.method == request.method { return route.handler(request, params, http) }
            allowed.append(route.method)
        }
        if request.path.hasPrefix("/2010-04-01/") {
            return TwilioErrors.response(allowed.isEmpty ? 404 : 405, code: 20404,
                                         message: "The requested resource \(request.path) was not found")
        }
        if request.path.hasPrefix("/v1beta/") {
            return GeminiErrors.response(404, "Requested entity was not found.")
        }
        if !allowed.isEmpty {
            return .controlError(405, "method_not_allowed", "\(request.method) is not allowed on \(request.path) (use \(allowed.joined(separator: ", ")))")
        }
        return .controlError(404, "not_found", "no sandbox route for \(request.method) \(request.path)")
    }
}
