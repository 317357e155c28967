import Foundation

/// The one set of limits every path that places or moves an appointment obeys (staff booking,
/// reschedule, the bot's booking): it ends after it starts, lasts at most 12 hours, and starts no
/// earlier than 2000 and no later than five years from now. Outside them: 400
/// `validation_failed` naming the field, before anything is written.
public enum AppointmentSpan {
    public static let maxLength: TimeInterval = 12 * 3600
    /// 2000-01-01T00:00:00Z.
    public static let earliest = Date(timeIntervalSince1970: 946_684_800)
    /// How far ahead an appointment may start (five years of 366 days: far enough for any real
    /// booking, near enough that no date PostgreSQL or the calendar cannot hold gets through).
    public static let maxAhead: TimeInterval = 5 * 366 * 86_400

    /// The error for a span outside the limits, nil when it is inside them.
    public static func problem(startsAt: Date, endsAt: Date, now: Date) -> AppError? {
        if !(startsAt >= earliest) { return AppError.validation("starts_at", "not before 2000-01-01.") }
        if !(startsAt <= now.addingTimeInterval(maxAhead)) { return AppError.validation("starts_at", "at most five years from now.") }
        if !(endsAt > startsAt) { return AppError.validation("ends_at", "must be after starts_at.") }
        if !(endsAt.timeIntervalSince(startsAt) <= maxLength) { return AppError.validation("ends_at", "at most 12 hours after starts_at.") }
        return nil
    }

    public static func validate(startsAt: Date, endsAt: Date, now: Date) throws {
        if let e = problem(startsAt: startsAt, endsAt: endsAt, now: now) { throw e }
    }
}
