/// A configuration value that must never reach a log, an error message or a response.
/// Every way of printing it (`description`, `debugDescription`, `dump`/mirrors, string
/// interpolation) shows `<redacted>`; only `.value` gives the text, and only on purpose.
public struct Secret: Sendable, Equatable, CustomStringConvertible, CustomDebugStringConvertible, CustomReflectable {
    public let value: String

    public init(_ value: String) { self.value = value }

    public var description: String { "<redacted>" }
    public var debugDescription: String { "<redacted>" }
    public var customMirror: Mirror { Mirror(self, children: [], displayStyle: .struct) }
}
