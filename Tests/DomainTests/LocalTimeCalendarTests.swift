@testable import Domain
import Postgres
import Testing

@Suite("Scheduling: LocalTime's calendar arithmetic")
struct LocalTimeCalendarTests {
    @Test("civilFromDays gives the dates PGValue decodes, across eras, leap days and negative days")
    func sameAsPostgresDecoding() {
        for days in stride(from: -800_000, through: 800_000, by: 97) + [-719_468, -1, 0, 1, 59, 60, 11_016, 20_513] {
            let a = LocalTime.civilFromDays(days)
            let b = PGValue.civilFromDays(days)
            #expect(a.year == b.0 && a.month == b.1 && a.day == b.2, "day \(days)")
        }
    }
}
