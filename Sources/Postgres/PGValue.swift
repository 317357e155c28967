import Foundation
import MedsyncCrypto

/// One parameter of a query, in PostgreSQL's text format (every parameter is sent as text;
/// the server infers its type from the statement, so cast in SQL where it is ambiguous: `$1::jsonb`).
public struct PGValue: Sendable, Hashable, CustomStringConvertible {
    /// The text sent to the server; `nil` is SQL NULL.
    public let text: String?

    public init(text: String?) { self.text = text }

    public static let null = PGValue(text: nil)

    public init(_ value: String?) { text = value }
    public init(_ value: Substring?) { text = value.map(String.init) }
    public init(_ value: Int?) { text = value.map { String($0) } }
    public init(_ value: Int32?) { text = value.map { String($0) } }
    public init(_ value: Int64?) { text = value.map { String($0) } }
    public init(_ value: Bool?) { text = value.map { $0 ? "true" : "false" } }
    public init(_ value: Double?) {
        text = value.map { v in
            if v.isNaN { return "NaN" }
            if v.isInfinite { return v > 0 ? "Infinity" : "-Infinity" }
            return "\(v)"
        }
    }
    /// A `timestamptz` in UTC with microseconds.
    public init(_ value: Date?) { text = value.map(PGValue.formatTimestamp) }
    /// A `bytea` in hex format (`\x0a1b...`).
    public init(_ value: [UInt8]?) { text = value.map { "\\x" + Crypto.hex($0) } }

    /// A `json`/`jsonb` document given as its text (cast in SQL: `$1::jsonb`).
    public static func json(_ text: String) -> PGValue { PGValue(text: text) }
    /// A value encoded as JSON text.
    public static func json<T: Encodable>(encoding value: T) throws -> PGValue {
        let data = try JSONEncoder().encode(value)
        return PGValue(text: String(decoding: data, as: UTF8.self))
    }

    public var description: String { text.map { "'\($0)'" } ?? "NULL" }

    static func formatTimestamp(_ date: Date) -> String { formatTimestampFast(date) ?? formatTimestampByParts(date) }

    static func formatTimestampByParts(_ date: Date) -> String {
        var micros = (date.timeIntervalSince1970 * 1_000_000).rounded()
        if micros.isNaN { micros = 0 }
        var seconds = Int(floor(micros / 1_000_000))
        var fraction = Int(micros - Double(seconds) * 1_000_000)
        if fraction >= 1_000_000 { seconds += 1; fraction -= 1_000_000 }
        let (y, m, d) = civilFromDays(Int(floor(Double(seconds) / 86_400)))
        let secOfDay = seconds - Int(floor(Double(seconds) / 86_400)) * 86_400
        func pad(_ n: Int, _ w: Int) -> String {
            let s = String(n)
            return s.count >= w ? s : String(repeating: "0", count: w - s.count) + s
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2)) \(pad(secOfDay / 3600, 2)):\(pad(secOfDay / 60 % 60, 2)):\(pad(secOfDay % 60, 2)).\(pad(fraction, 6))+00"
    }

    /// `formatTimestampByParts` into one byte buffer (its `String` pieces cost more than the
    /// arithmetic), for instants within 2^52 microseconds of 1970 (1827...2112: there the Double
    /// arithmetic of the other is exact, so both give the same text); nil elsewhere.
    static func formatTimestampFast(_ date: Date) -> String? {
        let micros = (date.timeIntervalSince1970 * 1_000_000).rounded()
        guard abs(micros) < 4_503_599_627_370_496 else { return nil }  // false for NaN
        let total = Int64(micros)
        let seconds = total >= 0 ? total / 1_000_000 : -((-total + 999_999) / 1_000_000)
        let fraction = Int(total - seconds * 1_000_000)
        let days = seconds >= 0 ? seconds / 86_400 : -((-seconds + 86_399) / 86_400)
        let secOfDay = Int(seconds - days * 86_400)
        let (y, m, d) = civilFromDays(Int(days))
        guard (0...9999).contains(y) else { return nil }
        var out = [UInt8](repeating: 0, count: 29)
        func put(_ n: Int, _ width: Int, at start: Int) {
            var n = n
            for k in stride(from: start + width - 1, through: start, by: -1) { out[k] = UInt8(48 + n % 10); n /= 10 }
        }
        put(y, 4, at: 0); out[4] = 45; put(m, 2, at: 5); out[7] = 45; put(d, 2, at: 8); out[10] = 32
        put(secOfDay / 3600, 2, at: 11); out[13] = 58; put(secOfDay / 60 % 60, 2, at: 14); out[16] = 58; put(secOfDay % 60, 2, at: 17)
        out[19] = 46; put(fraction, 6, at: 20); out[26] = 43; out[27] = 48; out[28] = 48
        return String(decoding: out, as: UTF8.self)
    }

    /// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar (H. Hinnant's
    /// algorithm). Public for the domain's wall-clock arithmetic (`LocalTime`).
    public static func civilFromDays(_ z0: Int) -> (Int, Int, Int) {
        let z = z0 + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        return (yoe + era * 400 + (m <= 2 ? 1 : 0), m, d)
    }

    /// (year, month, day) to days since 1970-01-01.
    static func daysFromCivil(_ y0: Int, _ m: Int, _ d: Int) -> Int {
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }

    /// Parses PostgreSQL's ISO output of `timestamptz`, `timestamp` (taken as UTC) and `date`:
    /// `2024-05-01 09:30:00.123456+02`, `...+05:30`, `2024-05-01`.
    public static func parseTimestamp(_ s: String) -> Date? {
        let b = Array(s.utf8)
        var i = 0
        func number(_ width: Int) -> Int? {
            guard i + width <= b.count else { return nil }
            var n = 0
            for k in i..<(i + width) {
                guard b[k] >= 48, b[k] <= 57 else { return nil }
                n = n * 10 + Int(b[k] - 48)
            }
            i += width
            return n
        }
        func expect(_ c: UInt8) -> Bool {
            guard i < b.count, b[i] == c else { return false }
            i += 1
            return true
        }
        guard let y = number(4), expect(45), let mo = number(2), expect(45), let d = number(2) else { return nil }
        var seconds = Double(daysFromCivil(y, mo, d) * 86_400)
        if i == b.count { return Date(timeIntervalSince1970: seconds) }
        guard expect(32) || expect(84), let h = number(2), expect(58), let mi = number(2), expect(58), let se = number(2) else { return nil }
        seconds += Double(h * 3600 + mi * 60 + se)
        if expect(46) {
            var scale = 0.1
            while i < b.count, b[i] >= 48, b[i] <= 57 { seconds += Double(b[i] - 48) * scale; scale /= 10; i += 1 }
        }
        if i < b.count {
            let sign: Double
            if expect(43) { sign = 1 } else if expect(45) { sign = -1 } else if expect(90) { return Date(timeIntervalSince1970: seconds) } else { return nil }
            guard let oh = number(2) else { return nil }
            var offset = oh * 3600
            if expect(58) { guard let om = number(2) else { return nil }; offset += om * 60 }
            if expect(58) { guard let os = number(2) else { return nil }; offset += os }
            seconds -= sign * Double(offset)
        }
        guard i == b.count else { return nil }
        return Date(timeIntervalSince1970: seconds)
    }
}

extension PGValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByNilLiteral, ExpressibleByFloatLiteral
{
    public init(stringLiteral value: String) { text = value }
    public init(integerLiteral value: Int) { text = String(value) }
    public init(booleanLiteral value: Bool) { text = value ? "true" : "false" }
    public init(nilLiteral: ()) { text = nil }
    public init(floatLiteral value: Double) { self.init(value) }
}
