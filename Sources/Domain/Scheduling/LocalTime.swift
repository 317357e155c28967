import Foundation
import Synchronization

/// Clock times as a clinic's patients read them, in the workspace's timezone.
///
/// Formatting is done by hand (not `DateFormatter` with a locale) so the text is the same on every
/// machine, whatever ICU data it has: "tomorrow at 9:00 AM" / "mañana a las 9:00",
/// "Tue 3 Dec at 9:00 AM" / "mar 3 dic a las 9:00".
public enum LocalTime {
    static let weekdaysEN = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    static let weekdaysES = ["dom", "lun", "mar", "mié", "jue", "vie", "sáb"]
    static let monthsEN = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]
    static let monthsES = ["ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic"]

    /// The Gregorian calendar of an IANA timezone (UTC when the name is unknown).
    public static func calendar(_ timeZone: String) -> Calendar {
        if let cached = calendars.withLock({ $0[timeZone] }) { return cached }
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: timeZone) ?? TimeZone(identifier: "UTC")!
        calendars.withLock { if $0.count < maxCachedCalendars { $0[timeZone] = c } }
        return c
    }

    /// Calendars made once per timezone name and process (making one, with its TimeZone, cost more
    /// than the rest of a slot label): the worker threads share them behind a lock. A clinic has one
    /// timezone; the bound only keeps unknown names from growing the cache.
    static let calendars = Mutex<[String: Calendar]>([:])
    static let maxCachedCalendars = 256

    /// Local wall-clock parts of `date`.
    public struct Parts: Sendable, Equatable {
        public var year, month, day, weekday, hour, minute: Int  // weekday 0 = Sunday
    }

    public static func parts(_ date: Date, timeZone: String) -> Parts { parts(date, calendar: calendar(timeZone)) }

    static func parts(_ date: Date, calendar: Calendar) -> Parts {
        if let local = localSeconds(date, calendar.timeZone) { return parts(localSeconds: local) }
        let c = calendar.dateComponents([.year, .month, .day, .weekday, .hour, .minute], from: date)
        return Parts(year: c.year!, month: c.month!, day: c.day!, weekday: c.weekday! - 1, hour: c.hour!, minute: c.minute!)
    }

    /// Seconds since 1970-01-01 00:00 of the local wall clock at `date`; nil outside 1900...9999, where
    /// `Calendar` (Julian before 1582) is left to answer. The offset is the zone's own, as Calendar reads it.
    static func localSeconds(_ date: Date, _ zone: TimeZone) -> Int64? {
        let t = date.timeIntervalSince1970
        guard t >= -2_208_988_800, t < 253_402_300_800 else { return nil }  // also false for NaN
        return Int64(t.rounded(.down)) + Int64(zone.secondsFromGMT(for: date))
    }

    /// The day number (days since 1970-01-01, floored) of local seconds.
    static func dayNumber(_ localSeconds: Int64) -> Int64 {
        localSeconds >= 0 ? localSeconds / 86_400 : -((-localSeconds + 86_399) / 86_400)
    }

    /// Days since 1970-01-01 to (year, month, day) in the proleptic Gregorian calendar (Howard
    /// Hinnant's `civil_from_days`), as `PGValue.civilFromDays` decodes dates (a test compares them).
    static func civilFromDays(_ z0: Int) -> (year: Int, month: Int, day: Int) {
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

    /// Gregorian parts of local seconds, by arithmetic (`civilFromDays`): the same parts
    /// `Calendar.dateComponents` gives, without its locks and allocations.
    static func parts(localSeconds t: Int64) -> Parts {
        let days = dayNumber(t)
        let secondOfDay = Int(t - days * 86_400)
        let (year, month, day) = civilFromDays(Int(days))
        let weekday = Int(((days % 7) + 7 + 4) % 7)  // 1970-01-01 was a Thursday
        return Parts(year: year, month: month, day: day, weekday: weekday, hour: secondOfDay / 3_600, minute: secondOfDay % 3_600 / 60)
    }

    /// "9:00 AM" (en) / "9:00" (es, 24-hour).
    public static func clock(_ p: Parts, language: String) -> String {
        let mm = p.minute < 10 ? "0\(p.minute)" : "\(p.minute)"
        if language == "es" { return "\(p.hour):\(mm)" }
        let h12 = p.hour % 12 == 0 ? 12 : p.hour % 12
        return "\(h12):\(mm) \(p.hour < 12 ? "AM" : "PM")"
    }

    /// "today at 9:00 AM", "tomorrow at 9:00 AM", "Tue 3 Dec at 9:00 AM" (and the Spanish forms),
    /// relative to `now` in the same timezone.
    public static func describe(_ date: Date, timeZone: String, language: String, now: Date = Date()) -> String {
        let cal = calendar(timeZone)
        let p: Parts
        let days: Int
        if let d = localSeconds(date, cal.timeZone), let n = localSeconds(now, cal.timeZone) {
            p = parts(localSeconds: d)
            days = Int(dayNumber(d) - dayNumber(n))  // local calendar days between the two
        } else {
            p = parts(date, calendar: cal)
            days = cal.dateComponents([.day], from: cal.startOfDay(for: now), to: cal.startOfDay(for: date)).day ?? 99
        }
        let es = language == "es"
        let time = clock(p, language: language)
        switch days {
        case 0: return es ? "hoy a las \(time)" : "today at \(time)"
        case 1: return es ? "mañana a las \(time)" : "tomorrow at \(time)"
        default:
            if es { return "\(weekdaysES[p.weekday]) \(p.day) \(monthsES[p.month - 1]) a las \(time)" }
            return "\(weekdaysEN[p.weekday]) \(p.day) \(monthsEN[p.month - 1]) at \(time)"
        }
    }

    /// "Tuesday 3 December 2026, 14:05" — the clinic's current date/time for the bot's instruction.
    public static func longNow(_ now: Date, timeZone: String) -> String {
        let p = parts(now, timeZone: timeZone)
        let names = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
        let months = ["January", "February", "March", "April", "May", "June", "July", "August", "September",
                      "October", "November", "December"]
        let mm = p.minute < 10 ? "0\(p.minute)" : "\(p.minute)"
        return "\(names[p.weekday]) \(p.day) \(months[p.month - 1]) \(p.year), \(p.hour):\(mm)"
    }
}
