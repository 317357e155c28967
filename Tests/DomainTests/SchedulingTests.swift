import Domain
import Foundation
import TestSupport
import Testing

@Suite("Scheduling: local time text")
struct SchedulingTests {
    // Tuesday 1 Dec 2026 08:00 in Mexico City.
    let now = InboundClinic.now
    let tz = "America/Mexico_City"

    @Test("describe: today / tomorrow / a later day, in English and Spanish")
    func describe() {
        let today9 = now.addingTimeInterval(3600)          // 09:00 local
        let tomorrow14 = now.addingTimeInterval(30 * 3600)  // Wed 14:00 local
        let thursday930 = now.addingTimeInterval(49.5 * 3600)  // Thu 3 Dec 09:30
        #expect(LocalTime.describe(today9, timeZone: tz, language: "en", now: now) == "today at 9:00 AM")
        #expect(LocalTime.describe(today9, timeZone: tz, language: "es", now: now) == "hoy a las 9:00")
        #expect(LocalTime.describe(tomorrow14, timeZone: tz, language: "en", now: now) == "tomorrow at 2:00 PM")
        #expect(LocalTime.describe(tomorrow14, timeZone: tz, language: "es", now: now) == "mañana a las 14:00")
        #expect(LocalTime.describe(thursday930, timeZone: tz, language: "en", now: now) == "Thu 3 Dec at 9:30 AM")
        #expect(LocalTime.describe(thursday930, timeZone: tz, language: "es", now: now) == "jue 3 dic a las 9:30")
        // The same instant is "tomorrow" in Madrid (16:00 + 17 h = 09:00 Wed there).
        #expect(LocalTime.describe(today9, timeZone: "Europe/Madrid", language: "en", now: now) == "today at 4:00 PM")
    }
}
