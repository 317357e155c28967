/// A request body (or query string) that could not be read. Handlers let it propagate: the app
/// answers it as `{"error":{"code":...,"message":...}}` with `status` (400, or 415).
public struct BodyError: Error, Sendable, Equatable, CustomStringConvertible {
    public let code: String
    public let message: String

    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    public static let malformedFormCode = "malformed_form"
    public static let malformedJSONCode = "malformed_json"
    public static let malformedMultipartCode = "malformed_multipart"
    public static let invalidUTF8Code = "invalid_utf8"
    public static let unsupportedMediaTypeCode = "unsupported_media_type"
    /// A NUL character (a raw 0 byte, `%00` in a form, `\u0000` in JSON): PostgreSQL text cannot hold
    /// it and no field of the API needs it, so it is refused where the body is read.
    public static let nulCharacterCode = "nul_character"

    public static func malformedForm(_ message: String) -> BodyError { BodyError(code: malformedFormCode, message: message) }
    public static func malformedJSON(_ message: String) -> BodyError { BodyError(code: malformedJSONCode, message: message) }
    public static func malformedMultipart(_ message: String) -> BodyError { BodyError(code: malformedMultipartCode, message: message) }
    public static func invalidUTF8(_ message: String) -> BodyError { BodyError(code: invalidUTF8Code, message: message) }
    public static func nulCharacter(_ message: String) -> BodyError { BodyError(code: nulCharacterCode, message: message) }
    public static func unsupportedMediaType(_ message: String) -> BodyError {
        BodyError(code: unsupportedMediaTypeCode, message: message)
    }

    /// The HTTP status a client gets for this error.
    public var status: Int { code == BodyError.unsupportedMediaTypeCode ? 415 : 400 }

    public var description: String { "BodyError(\(code)): \(message)" }
}
