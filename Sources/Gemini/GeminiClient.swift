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

    /// The request body (JSON object) — separate so tests can inspect it.
    public static func body(system: String, turns: [GeminiTurn], schema: [String: Any]) -> [String: Any] {
        [
            "systemInstruction": ["parts": [["text": system]]],
            "contents": turns.map { ["role": $0.role.rawValue, "parts": [["text": $0.text]]] },
            "generationConfig": [
                "responseMimeType": "application/json",
                "responseJsonSchema": schema,
                "temperature": 0.2,
            ] as [String: Any],
        ]
    }

    /// Calls the model and returns the text of the first candidate (the JSON the schema asked for).
    /// The whole call gets at most `timeoutMS`.
    public func generateJSON(system: String, turns: [GeminiTurn], schema: [String: Any]) throws(GeminiError) -> String {
        guard let apiKey, !apiKey.isEmpty else { throw .missingKey }
        let data: Data
        do {
            data = try JSONSerialization.data(withJSONObject: GeminiClient.body(system: system, turns: turns, schema: schema))
        } catch {
            throw .invalidResponse("cannot encode the request: \(error)")
        }
        let name = model.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed) ?? model
        let request = HTTPRequest.json(
            url: "\(baseURL)/v1beta/models/\(name):generateContent", body: [UInt8](data),
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
