import Foundation

/// A statement and its parameters, built by string interpolation as postgres-nio's `PostgresQuery`:
///
///     let q: PGQuery = "SELECT \(unescaped: Columns.sender) FROM whatsapp_senders WHERE id = \(id)"
///     // sql:   "SELECT id, phone_number FROM whatsapp_senders WHERE id = $1", binds: ["42"]
///
/// Every interpolated value becomes the next `$n` bind; its text never enters the SQL. Constant SQL
/// (a column list shared by several queries) goes in only through `\(unescaped:)` with a
/// `SQLFragment`, which can be made from a string literal alone, never from a runtime string.
/// The SQL text is also the key of the connection's prepared-statement cache, so a query's text
/// must not vary with its values (it does not: values are binds).
public struct PGQuery: Sendable, Hashable, CustomStringConvertible {
    /// The statement with `$1...$n` placeholders.
    public var sql: String
    /// The parameters, in order: `binds[0]` is `$1`.
    public var binds: [PGValue]

    /// A statement whose text is trusted as it is (identifiers made by the caller, migrations, tests).
    public init(unsafeSQL sql: String, binds: [PGValue] = []) {
        self.sql = sql
        self.binds = binds
    }

    /// Only the SQL and the number of binds: values stay out of descriptions (and so out of logs).
    public var description: String { "PGQuery(\(sql.debugDescription), \(binds.count) bind(s))" }
}

extension PGQuery: ExpressibleByStringInterpolation {
    public init(stringLiteral value: String) {
        sql = value
        binds = []
    }

    public init(stringInterpolation: StringInterpolation) {
        sql = stringInterpolation.sql
        binds = stringInterpolation.binds
    }

    public struct StringInterpolation: StringInterpolationProtocol, Sendable {
        public typealias StringLiteralType = String
        var sql = ""
        var binds: [PGValue] = []

        public init(literalCapacity: Int, interpolationCount: Int) {
            sql.reserveCapacity(literalCapacity + 4 * interpolationCount)
            binds.reserveCapacity(interpolationCount)
        }

        public mutating func appendLiteral(_ literal: String) { sql += literal }

        /// A value: the next `$n`.
        public mutating func appendInterpolation<Value: PGEncodable>(_ value: Value) {
            bind(value.pgValue)
        }

        /// An optional value: `nil` is SQL NULL.
        public mutating func appendInterpolation<Value: PGEncodable>(_ value: Value?) {
            bind(value?.pgValue ?? .null)
        }

        /// Constant SQL, verbatim.
        public mutating func appendInterpolation(unescaped fragment: SQLFragment) {
            sql += fragment.sql
        }

        /// Another query (a clause that only some calls need), its binds after this one's: its `$n`
        /// placeholders are renumbered. Its text must hold no other `$` followed by a digit (none of
        /// ours do: a `PGQuery`'s `$n` come from its binds). Each shape of the whole is its own
        /// prepared statement, so a part left out costs PostgreSQL nothing when the statement runs.
        public mutating func appendInterpolation(_ part: PGQuery) {
            let offset = binds.count
            binds.append(contentsOf: part.binds)
            guard offset > 0, !part.binds.isEmpty else { sql += part.sql; return }
            var bytes = Array(part.sql.utf8)[...]
            while let dollar = bytes.firstIndex(of: UInt8(ascii: "$")) {
                sql += String(decoding: bytes[..<dollar], as: UTF8.self)
                sql.append("$")
                var end = dollar + 1
                var n = 0
                while end < bytes.endIndex, bytes[end] >= UInt8(ascii: "0"), bytes[end] <= UInt8(ascii: "9"), n < 1_000_000 {
                    n = n * 10 + Int(bytes[end] - UInt8(ascii: "0"))
                    end += 1
                }
                if end > dollar + 1 { sql.append(String(n + offset)) }
                bytes = bytes[end...]
            }
            sql += String(decoding: bytes, as: UTF8.self)
        }

        mutating func bind(_ value: PGValue) {
            binds.append(value)
            sql.append("$")
            sql.append(String(binds.count))
        }
    }
}

/// Constant SQL text (a column list, a shared FROM clause) spliced into a `PGQuery` with
/// `\(unescaped:)`. Made only from string literals, so no runtime value can become SQL through it.
public struct SQLFragment: Sendable, Hashable, ExpressibleByStringLiteral {
    public let sql: String

    public init(stringLiteral value: StaticString) {
        sql = value.withUTF8Buffer { String(decoding: $0, as: UTF8.self) }
    }

    /// Two constant fragments joined.
    public static func + (lhs: SQLFragment, rhs: SQLFragment) -> SQLFragment { SQLFragment(sql: lhs.sql + rhs.sql) }

    private init(sql: String) { self.sql = sql }
}

// MARK: encoding

/// A Swift value that can be a query parameter (in PostgreSQL's text format).
public protocol PGEncodable {
    var pgValue: PGValue { get }
}

extension PGValue: PGEncodable { public var pgValue: PGValue { self } }
extension String: PGEncodable { public var pgValue: PGValue { PGValue(self) } }
extension Substring: PGEncodable { public var pgValue: PGValue { PGValue(self) } }
extension Int: PGEncodable { public var pgValue: PGValue { PGValue(self) } }
extension Int32: PGEncodable { public var pgValue: PGValue { PGValue(self) } }
extension Int64: PGEncodable { public var pgValue: PGValue { PGValue(self) } }
extension Bool: PGEncodable { public var pgValue: PGValue { PGValue(self) } }
extension Double: PGEncodable { public var pgValue: PGValue { PGValue(self) } }
extension Date: PGEncodable { public var pgValue: PGValue { PGValue(self) } }

/// A `bytea` parameter (a `[UInt8]` on its own would be ambiguous with an array of integers).
public struct PGBytea: PGEncodable, Sendable {
    public var bytes: [UInt8]
    public init(_ bytes: [UInt8]) { self.bytes = bytes }
    public var pgValue: PGValue { PGValue(bytes) }
}

/// A `json`/`jsonb` parameter given as its text (cast in SQL: `\(PGJSON(text))::jsonb`).
public struct PGJSON: PGEncodable, Sendable {
    public var text: String
    public init(_ text: String) { self.text = text }
    public init<T: Encodable>(encoding value: T) throws {
        text = String(decoding: try JSONEncoder().encode(value), as: UTF8.self)
    }
    public var pgValue: PGValue { PGValue(text: text) }
}

/// A value that can be an element of an array parameter (its text; nil is a NULL element).
public protocol PGArrayElement {
    var pgArrayElementText: String? { get }
}
extension PGArrayElement where Self: PGEncodable {
    public var pgArrayElementText: String? { pgValue.text }
}
extension String: PGArrayElement {}
extension Substring: PGArrayElement {}
extension Int: PGArrayElement {}
extension Int32: PGArrayElement {}
extension Int64: PGArrayElement {}
extension Bool: PGArrayElement {}
extension Double: PGArrayElement {}
extension Date: PGArrayElement {}
extension Optional: PGArrayElement where Wrapped: PGArrayElement {
    public var pgArrayElementText: String? { self?.pgArrayElementText }
}

/// An array parameter, sent as one `$n` in PostgreSQL's array text format (cast in SQL where the
/// element type is not clear from the context: `\(ids)::bigint[]`). Every element is quoted and
/// escaped, NULL elements stay NULL, so no element can change the array's shape.
extension Array: PGEncodable where Element: PGArrayElement {
    public var pgValue: PGValue { PGValue(text: PGValue.arrayLiteral(map(\.pgArrayElementText))) }
}

extension PGValue {
    /// `{"a","b\"c",NULL}`: the array text format, every element double-quoted with `\` and `"` escaped.
    static func arrayLiteral(_ elements: [String?]) -> String {
        var out = "{"
        for (i, element) in elements.enumerated() {
            if i > 0 { out += "," }
            guard let element else { out += "NULL"; continue }
            out += "\""
            for ch in element.unicodeScalars {
                if ch == "\"" || ch == "\\" { out += "\\" }
                out.unicodeScalars.append(ch)
            }
            out += "\""
        }
        return out + "}"
    }
}

// MARK: decoding

/// A Swift value that a column (in PostgreSQL's text format) decodes to.
public protocol PGDecodable {
    /// The value of a non-NULL column's text, nil when the text is not one of these.
    static func pgDecode(text: String) -> Self?
    /// The value of a NULL column, nil when NULL is not allowed (every type but `Optional`).
    static var pgNull: Self? { get }
}

extension PGDecodable {
    public static var pgNull: Self? { nil }
}

extension Optional: PGDecodable where Wrapped: PGDecodable {
    public static func pgDecode(text: String) -> Self? { Wrapped.pgDecode(text: text).map { .some($0) } }
    public static var pgNull: Self? { .some(.none) }
}

extension String: PGDecodable { public static func pgDecode(text: String) -> String? { text } }
extension Int: PGDecodable { public static func pgDecode(text: String) -> Int? { Int(text) } }
extension Int32: PGDecodable { public static func pgDecode(text: String) -> Int32? { Int32(text) } }
extension Int64: PGDecodable { public static func pgDecode(text: String) -> Int64? { Int64(text) } }
extension Double: PGDecodable {
    public static func pgDecode(text: String) -> Double? {
        switch text {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default: return Double(text)
        }
    }
}
extension Bool: PGDecodable {
    public static func pgDecode(text: String) -> Bool? {
        switch text {
        case "t", "true": return true
        case "f", "false": return false
        default: return nil
        }
    }
}
/// A `timestamptz`, `timestamp` (read as UTC) or `date` column.
extension Date: PGDecodable {
    public static func pgDecode(text: String) -> Date? { PGValue.parseTimestamp(text) }
}
