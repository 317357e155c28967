import Domain
import Foundation
import TestSupport
import Testing
import Postgres

@Suite("Scheduling: local time text and free slots")
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

    @Test("free slots: availability in the workspace's timezone, minus booked and past times", .needsStack)
    func freeSlots() throws {
        let clinic = try InboundClinic(availability: [("09:00", "10:00")], weekdays: [2, 4])  // Tue, Thu
        var slots = try FreeSlots.compute(clinic.conn, workspaceID: clinic.workspaceID, from: now, days: 7)
        let local = slots.map { LocalTime.describe($0.startsAt, timeZone: tz, language: "en", now: now) }
        // 7 local days from Tuesday: Tue 1, Thu 3 (Tue 8 is the 8th day).
        #expect(local == ["today at 9:00 AM", "today at 9:30 AM", "Thu 3 Dec at 9:00 AM", "Thu 3 Dec at 9:30 AM"])
        #expect(slots.allSatisfy { $0.doctorUserID == clinic.doctorID && $0.endsAt.timeIntervalSince($0.startsAt) == 1800 })
        // A booked slot (and an overlapping one) disappears; a cancelled one stays free.
        let patient = try clinic.conn.query("INSERT INTO patients (workspace_id, phone) VALUES (\(clinic.workspaceID), '+5215500000009') RETURNING id").first!.int64("id")!
        try clinic.conn.execute("""
            INSERT INTO appointments (workspace_id, patient_id, doctor_id, starts_at, ends_at, status)
            VALUES (\(clinic.workspaceID), \(patient), \(clinic.doctorID), \(slots[0].startsAt), \(slots[0].endsAt), 'pending_review'), (\(clinic.workspaceID), \(patient), \(clinic.doctorID), \(slots[2].startsAt), \(slots[2].endsAt), 'cancelled')
            """)
        slots = try FreeSlots.compute(clinic.conn, workspaceID: clinic.workspaceID, from: now, days: 7)
        #expect(slots.count == 3)
        #expect(LocalTime.describe(slots[0].startsAt, timeZone: tz, language: "en", now: now) == "today at 9:30 AM")
        // Later in the day the morning is gone.
        let noon = now.addingTimeInterval(4 * 3600)
        let later = try FreeSlots.compute(clinic.conn, workspaceID: clinic.workspaceID, from: noon, days: 3)
        #expect(later.map { LocalTime.describe($0.startsAt, timeZone: tz, language: "en", now: noon) }
            == ["Thu 3 Dec at 9:00 AM", "Thu 3 Dec at 9:30 AM"])
    }

    @Test("free slots: appointments across the window's start or end still take the slots they overlap", .needsStack)
    func freeSlotsAtTheWindowEdges() throws {
        let clinic = try InboundClinic(availability: [("09:00", "10:00")], weekdays: [2, 4])  // Tue, Thu
        let patient = try clinic.conn.query("INSERT INTO patients (workspace_id, phone) VALUES (\(clinic.workspaceID), '+5215500000010') RETURNING id").first!.int64("id")!
        // Tue 07:30–09:10 local starts before `from` (08:00) and takes the 9:00 slot; Thu 09:45 local
        // to Sat 11:00 ends after the last slot's day and takes Thu 9:30; Wed is outside every slot.
        let startEdge = now.addingTimeInterval(-0.5 * 3600), startEdgeEnd = now.addingTimeInterval(70 * 60)
        let endEdge = now.addingTimeInterval(49.75 * 3600), endEdgeEnd = now.addingTimeInterval(99 * 3600)
        let wednesday = now.addingTimeInterval(25 * 3600), wednesdayEnd = now.addingTimeInterval(26 * 3600)
        try clinic.conn.execute("""
            INSERT INTO appointments (workspace_id, patient_id, doctor_id, starts_at, ends_at, status)
            VALUES (\(clinic.workspaceID), \(patient), \(clinic.doctorID), \(startEdge), \(startEdgeEnd), 'confirmed'),
                   (\(clinic.workspaceID), \(patient), \(clinic.doctorID), \(endEdge), \(endEdgeEnd), 'pending_review'),
                   (\(clinic.workspaceID), \(patient), \(clinic.doctorID), \(wednesday), \(wednesdayEnd), 'confirmed')
            """)
        let slots = try FreeSlots.compute(clinic.conn, workspaceID: clinic.workspaceID, from: now, days: 3)
        #expect(slots.map { LocalTime.describe($0.startsAt, timeZone: tz, language: "en", now: now) }
            == ["today at 9:30 AM", "Thu 3 Dec at 9:00 AM"])
    }

    @Test("free slots: a time zone PostgreSQL does not know (written around the API) is read as UTC, not an error", .needsStack)
    func unknownTimeZoneIsUTC() throws {
        let clinic = try InboundClinic(availability: [("09:00", "10:00")], weekdays: [2])  // Tuesday
        try clinic.conn.execute("UPDATE workspaces SET timezone = 'Mars/Olympus_Mons' WHERE id = \(clinic.workspaceID)")
        let slots = try FreeSlots.compute(clinic.conn, workspaceID: clinic.workspaceID, from: now, days: 1)
        // Tuesday 1 Dec 2026 09:00 and 09:30 UTC are before `now` (14:00Z): nothing left that day.
        #expect(slots.isEmpty)
        let midnight = now.addingTimeInterval(-14 * 3600)   // 00:00Z that Tuesday
        let early = try FreeSlots.compute(clinic.conn, workspaceID: clinic.workspaceID, from: midnight, days: 1)
        let iso = ISO8601DateFormatter()
        #expect(early.map { iso.string(from: $0.startsAt) } == ["2026-12-01T09:00:00Z", "2026-12-01T09:30:00Z"])
    }
}
