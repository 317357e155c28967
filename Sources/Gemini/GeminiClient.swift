import Foundation
import MedsyncConfig
import HTTPClient

/// A failed Gemini call. `code`: missing_key, timeout, transport, http, invalid_response.
public struct GeminiError: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: String
    public let message: String
    /// Google's HTTP status for `http` errors.
    public let httpStatus: Int?

    public init(code: String, message: String, httpStatus: Int? = nil) {
        self.code = code
        self.message = message
        self.httpStatus = httpStatus
    }

    public static let missingKey = GeminiError(code: "missing_key", message: "GEMINI_API_KEY is not set")
    public static func invalidResponse(_ m: String) -> GeminiError { GeminiError(code: "invalid_response", message: m) }

    public var description: String { "GeminiError(\(code)): \(message)" }
}

/// One turn of the conversation sent to the model.
public struct GeminiTurn: Sendable, Equatable {
    public enum Role: String, Sendable { case user, model }
    public var role: Role
    public var text: String
    public init(role: Role, text: String) { self.role = role; self.text = text }
}

/// A JSON schema for `responseJsonSchema`, serialized once (a model turn writes it into every request).
public struct GeminiSchema: Sendable {
    public let json: [UInt8]
    public init(_ object: [String: Any]) {
        json = (try? [UInt8](JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]))) ?? Array("{}".utf8)
    }
}

/// Structured data the model reads beside the system instruction (a JSON object, e.g. the offered
/// slots), sent as a part of its own so that nothing has to find it in the instruction's prose.
public struct GeminiData: Sendable, Equatable {
    public let json: String
    public init(json: String) { self.json = json }
}

/// Google's `generateContent` (v1beta) on the project's HTTP client: `x-goog-api-key`, a system
/// instruction, the turns, and structured JSON output (`responseMimeType` + `responseJsonSchema`).
/// Not `Sendable`: it uses its worker's `HTTPClient`.
public struct GeminiClient {
    public let http: HTTPClient
    public let apiKey: String?
    public let baseURL: String
    public let model: String
    public let timeoutMS: Int

    public init(http: HTTPClient, apiKey: String?, baseURL: String, model: String, timeoutMS: Int) {
        self.http = http
        self.apiKey = apiKey
        var b = baseURL
        while b.hasSuffix("/") { b.removeLast() }
        self.baseURL = b
        self.model = model
        self.timeoutMS = timeoutMS
    }

    public init(http: HTTPClient, config: Config) {
        self.init(http: http, apiKey: config.geminiAPIKey?.value, baseURL: config.geminiAPIBaseURL,
                  model: config.geminiModel, timeoutMS: config.geminiTimeoutMS)
    }

    /// The request body (JSON), written directly: Foundation's JSONSerialization of the same object
    /// (bridged dictionaries, dynamic casts) was the largest piece of a model turn's CPU in
    /// medsync-fcgi, 4.7× this. Separate so tests can inspect it.
    /// `data`, when given, is the system instruction's second part.
    public static func body(system: String, data: GeminiData? = nil, turns: [GeminiTurn], schema: GeminiSchema) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(512 + system.utf8.count + (data?.json.utf8.count ?? 0) + turns.reduce(0) { $0 + $1.text.utf8.count + 48 } + schema.json.count)
        out.append(contentsOf: #"{"systemInstruction":{"parts":[{"text":"#.utf8)
        appendString(system, to: &out)
        if let data {
            out.append(contentsOf: #"},{"text":"#.utf8)
            appendString(data.json, to: &out)
        }
        out.append(contentsOf: #"}]},"contents":["#.utf8)
        for (i, turn) in turns.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: #"{"role":""#.utf8)
            out.append(contentsOf: turn.role.rawValue.utf8)
            out.append(contentsOf: #"","parts":[{"text":"#.utf8)
            appendString(turn.text, to: &out)
            out.append(contentsOf: "}]}".utf8)
        }
        out.append(contentsOf: #"],"generationConfig":{"responseMimeType":"application/json","responseJsonSchema":"#.utf8)
        out.append(contentsOf: schema.json)
        out.append(contentsOf: #","temperature":0.2}}"#.utf8)
        return out
    }

    /// `s` as a JSON string: quote, backslash and control characters escaped, the rest as UTF-8.
    static func appendString(_ s: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        for b in s.utf8 {
            switch b {
            case UInt8(ascii: "\""): out += [UInt8(ascii: "\\"), b]
            case UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), b]
            case 0x0A: out += [UInt8(ascii: "\\"), UInt8(ascii: "n")]
            case 0x0D: out += [UInt8(ascii: "\\"), UInt8(ascii: "r")]
            case 0x09: out += [UInt8(ascii: "\\"), UInt8(ascii: "t")]
            case 0..<0x20: out.append(contentsOf: "\\u00".utf8); out += [hexDigit(b >> 4), hexDigit(b & 0xF)]
            default: out.append(b)
            }
        }
        out.append(UInt8(ascii: "\""))
    }

    private static func hexDigit(_ n: UInt8) -> UInt8 { n < 10 ? UInt8(ascii: "0") + n : UInt8(ascii: "a") + n - 10 }

    /// Calls the model and returns the text of the first candidate (the JSON the schema asked for).
    /// The whole call gets at most `timeoutMS`.
    public func generateJSON(system: String, data: GeminiData? = nil, turns: [GeminiTurn], schema: GeminiSchema) throws(GeminiError) -> String {
        guard let apiKey, !apiKey.isEmpty else { throw .missingKey }
        let name = model.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? model
        let request = HTTPRequest.json(
            url: "\(baseURL)/v1beta/models/\(name):generateContent", body: GeminiClient.body(system: system, data: data, turns: turns, schema: schema),
            headers: [("x-goog-api-key", apiKey)], timeoutMS: timeoutMS)
        let response: HTTPResponse
        do {
            response = try http.send(request)
        } catch {
            throw GeminiError(code: error.code == .timeout ? "timeout" : "transport", message: error.message)
        }
        guard response.status == 200 else {
            var message = "HTTP \(response.status)"
            if let o = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
               let e = o["error"] as? [String: Any] {
                message += ": \(e["status"] as? String ?? "") \(e["message"] as? String ?? "")"
            }
            throw GeminiError(code: "http", message: message, httpStatus: response.status)
        }
        guard let o = try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any],
              let candidates = o["candidates"] as? [[String: Any]], let first = candidates.first,
              let content = first["content"] as? [String: Any], let parts = content["parts"] as? [[String: Any]]
        else { throw .invalidResponse("the answer has no candidates[0].content.parts") }
        let text = parts.compactMap { $0["text"] as? String }.joined()
        guard !text.isEmpty else { throw .invalidResponse("the answer's text is empty") }
        return text
    }
}
