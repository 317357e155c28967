import Foundation

/// The instants the API takes from a client — query dates, cursors, appointment times: from
/// 1900-01-01 to 2200-01-01 (UTC). Checked once, where the value is parsed, so an out-of-range value
/// is 400 `validation_failed` naming it, never a PostgreSQL date overflow (22008) answered as 500.
public enum TimeBounds {
    /// 1900-01-01T00:00:00Z.
    public static let earliest = Date(timeIntervalSince1970: -2_208_988_800)
    /// 2200-01-01T00:00:00Z.
    public static let latest = Date(timeIntervalSince1970: 7_258_118_400)

    public static func contains(_ date: Date) -> Bool { date >= earliest && date < latest }

    /// `date`, or 400 `validation_failed` naming `field`.
    @discardableResult
    public static func check(_ date: Date, _ field: String) throws -> Date {
        guard contains(date) else { throw AppError.validation(field, "a time between 1900-01-01 and 2200-01-01.") }
        return date
    }

    /// Microseconds since 1970 of an instant in range (a cursor's time part).
    static func containsMicros(_ micros: Int64) -> Bool {
        micros >= Int64(earliest.timeIntervalSince1970) * 1_000_000 && micros < Int64(latest.timeIntervalSince1970) * 1_000_000
    }
}
