/// An error the API answers with: a stable `code` for programs, a `message` for people and the
/// HTTP `status`. Rendered as `{"error":{"code":"...","message":"..."}}` by the app.
public struct AppError: Error, Sendable, Equatable, CustomStringConvertible {
    public let status: Int
    public let code: String
    public let message: String
    /// Seconds after which a retry may succeed (429/503); sent as `Retry-After`.
    public let retryAfter: Int?

    public init(status: Int, code: String, message: String, retryAfter: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    public static let notFound = AppError(status: 404, code: "not_found", message: "Not found.")
    public static func notFound(_ message: String) -> AppError { AppError(status: 404, code: "not_found", message: message) }
    public static let methodNotAllowed = AppError(status: 405, code: "method_not_allowed", message: "Method not allowed.")
    public static let unauthorized = AppError(status: 401, code: "unauthorized", message: "Authentication required.")
    public static func unauthorized(_ message: String) -> AppError { AppError(status: 401, code: "unauthorized", message: message) }
    public static let forbidden = AppError(status: 403, code: "forbidden", message: "You are not allowed to do this.")
    public static func forbidden(_ message: String) -> AppError { AppError(status: 403, code: "forbidden", message: message) }
    public static func badRequest(code: String = "bad_request", message: String) -> AppError {
        AppError(status: 400, code: code, message: message)
    }
    public static func conflict(code: String = "conflict", message: String) -> AppError {
        AppError(status: 409, code: code, message: message)
    }
    public static let payloadTooLarge = AppError(status: 413, code: "payload_too_large", message: "The request body is too large.")
    public static let tooManyRequests = AppError(status: 429, code: "too_many_requests", message: "Too many requests; retry later.")
    public static let databaseUnavailable = AppError(
        status: 503, code: "database_unavailable", message: "The database is unavailable; retry later.")
    /// The only thing a client learns of an unexpected failure; details go to the log.
    public static let `internal` = AppError(status: 500, code: "internal_error", message: "Internal server error.")

    /// 400 with a specific code (validation_failed, invalid_timezone, …).
    public static func invalid(_ code: String, _ message: String) -> AppError { AppError(status: 400, code: code, message: message) }
    public static func notFound(_ code: String, _ message: String) -> AppError { AppError(status: 404, code: code, message: message) }
    public static func conflict(_ code: String, _ message: String) -> AppError { AppError(status: 409, code: code, message: message) }

    public var description: String { "AppError(\(status) \(code)): \(message)" }
}
