/// A refused model operation: a stable `code` and a message for people.
public struct ModelError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable { case invalid, notFound, conflict }
    public let kind: Kind
    public let code: String
    public let message: String

    public static func invalid(_ code: String, _ message: String) -> ModelError { ModelError(kind: .invalid, code: code, message: message) }
    public static func notFound(_ code: String, _ message: String) -> ModelError { ModelError(kind: .notFound, code: code, message: message) }
    public static func conflict(_ code: String, _ message: String) -> ModelError { ModelError(kind: .conflict, code: code, message: message) }

    /// The HTTP status an API answers with: 400, 404 or 409.
    public var httpStatus: Int {
        switch kind {
        case .invalid: return 400
        case .notFound: return 404
        case .conflict: return 409
        }
    }

    public var description: String { "\(code): \(message)" }
}
