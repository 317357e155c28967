import Domain
import Foundation
import Testing

/// The one set of limits booking, reschedule and the bot's booking share (issue 22).
@Suite struct AppointmentSpanTests {
    let now = Date(timeIntervalSince1970: 1_796_000_000)   // December 2026

    @Test func insideTheLimitsIsFineAndEveryWayOutIsAFieldError() {
        let start = now.addingTimeInterval(86_400)
        #expect(AppointmentSpan.problem(startsAt: start, endsAt: start.addingTimeInterval(12 * 3600), now: now) == nil)
        #expect(AppointmentSpan.problem(startsAt: start, endsAt: start.addingTimeInterval(1800), now: now) == nil)
        let cases: [(Date, Date, String)] = [
            (start, start.addingTimeInterval(12 * 3600 + 1), "ends_at"),
            (start, start.addingTimeInterval(10 * 365 * 86_400), "ends_at"),
            (start, start, "ends_at"),
            (start, start.addingTimeInterval(-60), "ends_at"),
            (Date(timeIntervalSince1970: 946_684_799), Date(timeIntervalSince1970: 946_686_000), "starts_at"),
            (now.addingTimeInterval(6 * 366 * 86_400), now.addingTimeInterval(6 * 366 * 86_400 + 1800), "starts_at"),
            (Date.distantFuture, Date.distantFuture, "starts_at"),
            (Date.distantPast, Date.distantPast.addingTimeInterval(60), "starts_at"),
        ]
        for (s, e, field) in cases {
            let problem = AppointmentSpan.problem(startsAt: s, endsAt: e, now: now)
            #expect(problem?.code == .validationFailed, "\(s) – \(e)")
            #expect(problem?.message.hasPrefix(field) == true, "\(s) – \(e): \(problem?.message ?? "none")")
        }
    }
}
