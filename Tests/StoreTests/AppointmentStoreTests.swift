import Domain
import Foundation
import Synchronization
import MedsyncCrypto
import Postgres
import Store
import Testing
import TestSupport

/// What only PostgreSQL decides for appointments: free slots computed in SQL (local days, DST,
/// unknown zones), the exclusion constraint under concurrent bookings and moves, time off read in
/// the clinic's timezone.
@Suite(.needsStack) struct AppointmentStoreTests {
    /// Tuesday 1 Dec 2026, 08:00 in Mexico City (UTC-6).
    let now = Date(timeIntervalSince1970: 1_796_133_600)
    let tz = "America/Mexico_City"

    /// A clinic in Mexico City with one doctor available on `weekdays` in 30-minute slots, and a patient.
    struct Clinic {
        let url: String
        let conn: PGConnection
        let workspaceID: Int64
        let doctorID: Int64
        let patientID: Int64
        var store: PGAppointmentStore { PostgresStores(conn).appointments }

        init(availability: [(String, String)], weekdays: [Int]) throws {
            url = try TestDatabase.create()
            conn = try PGConnection(url)
            workspaceID = try conn.query("INSERT INTO workspaces (name, timezone, clinic_name) VALUES ('Sol', 'America/Mexico_City', 'Sol') RETURNING id").one().decode(Int64.self, "id")
            doctorID = try conn.query("INSERT INTO users (email, name) VALUES (\("doc-\(Crypto.hex(Crypto.randomBytes(4)))@clinic.test"), 'Dr. Ruiz') RETURNING id").one().decode(Int64.self, "id")
            try conn.execute("INSERT INTO memberships (user_id, workspace_id, role) VALUES (\(doctorID), \(workspaceID), 'doctor')")
            for day in weekdays {
                for (start, end) in availability {
                    try conn.execute("""
                        INSERT INTO doctor_availability (workspace_id, doctor_id, weekday, start_time, end_time, slot_minutes)
                        VALUES (\(workspaceID), \(doctorID), \(day), \(start), \(end), 30)
                        """)
                }
            }
            patientID = try conn.query("INSERT INTO patients (workspace_id, phone) VALUES (\(workspaceID), '+5215500000009') RETURNING id").one().decode(Int64.self, "id")
        }

        func appointment(_ start: Date, _ end: Date, _ status: String) throws {
            try conn.execute("""
                INSERT INTO appointments (workspace_id, patient_id, doctor_id, starts_at, ends_at, status)
                VALUES (\(workspaceID), \(patientID), \(doctorID), \(start), \(end), \(status))
                """)
        }
    }

    func local(_ slots: [Slot], now: Date? = nil) -> [String] {
        slots.map { LocalTime.describe($0.startsAt, timeZone: tz, language: "en", now: now ?? self.now) }
    }

    @Test("free slots: availability in the workspace's timezone, minus booked and past times")
    func freeSlots() throws {
        let clinic = try Clinic(availability: [("09:00", "10:00")], weekdays: [2, 4])  // Tue, Thu
        var slots = try clinic.store.freeSlots(workspaceID: clinic.workspaceID, from: now, days: 7, limit: 500)
        // 7 local days from Tuesday: Tue 1, Thu 3 (Tue 8 is the 8th day).
        #expect(local(slots) == ["today at 9:00 AM", "today at 9:30 AM", "Thu 3 Dec at 9:00 AM", "Thu 3 Dec at 9:30 AM"])
        #expect(slots.allSatisfy { $0.doctorUserID == clinic.doctorID && $0.endsAt.timeIntervalSince($0.startsAt) == 1800 })
        // A booked slot (and an overlapping one) disappears; a cancelled one stays free.
        try clinic.appointment(slots[0].startsAt, slots[0].endsAt, "pending_review")
        try clinic.appointment(slots[2].startsAt, slots[2].endsAt, "cancelled")
        slots = try clinic.store.freeSlots(workspaceID: clinic.workspaceID, from: now, days: 7, limit: 500)
        #expect(slots.count == 3)
        #expect(local([slots[0]]) == ["today at 9:30 AM"])
        // Later in the day the morning is gone.
        let noon = now.addingTimeInterval(4 * 3600)
        let later = try clinic.store.freeSlots(workspaceID: clinic.workspaceID, from: noon, days: 3, limit: 500)
        #expect(local(later, now: noon) == ["Thu 3 Dec at 9:00 AM", "Thu 3 Dec at 9:30 AM"])
        // One doctor's, and at most `limit`.
        #expect(try clinic.store.freeSlots(workspaceID: clinic.workspaceID, from: now, days: 7, limit: 1, doctorID: clinic.doctorID).count == 1)
        #expect(try clinic.store.freeSlots(workspaceID: clinic.workspaceID, from: now, days: 7, limit: 10, doctorID: clinic.patientID + 1000).isEmpty)
    }

    @Test("free slots: appointments across the window's start or end still take the slots they overlap")
    func freeSlotsAtTheWindowEdges() throws {
        let clinic = try Clinic(availability: [("09:00", "10:00")], weekdays: [2, 4])  // Tue, Thu
        // Tue 07:30–09:10 local starts before `from` (08:00) and takes the 9:00 slot; Thu 09:45 local
        // to Sat 11:00 ends after the last slot's day and takes Thu 9:30; Wed is outside every slot.
        try clinic.appointment(now.addingTimeInterval(-0.5 * 3600), now.addingTimeInterval(70 * 60), "confirmed")
        try clinic.appointment(now.addingTimeInterval(49.75 * 3600), now.addingTimeInterval(99 * 3600), "pending_review")
        try clinic.appointment(now.addingTimeInterval(25 * 3600), now.addingTimeInterval(26 * 3600), "confirmed")
        let slots = try clinic.store.freeSlots(workspaceID: clinic.workspaceID, from: now, days: 3, limit: 500)
        #expect(local(slots) == ["today at 9:30 AM", "Thu 3 Dec at 9:00 AM"])
    }

    @Test("free slots: a time zone PostgreSQL does not know (written around the API) is read as UTC, not an error")
    func unknownTimeZoneIsUTC() throws {
        let clinic = try Clinic(availability: [("09:00", "10:00")], weekdays: [2])  // Tuesday
        try clinic.conn.execute("UPDATE workspaces SET timezone = 'Mars/Olympus_Mons' WHERE id = \(clinic.workspaceID)")
        // Tuesday 1 Dec 2026 09:00 and 09:30 UTC are before `now` (14:00Z): nothing left that day.
        #expect(try clinic.store.freeSlots(workspaceID: clinic.workspaceID, from: now, days: 1, limit: 500).isEmpty)
        let midnight = now.addingTimeInterval(-14 * 3600)   // 00:00Z that Tuesday
        let early = try clinic.store.freeSlots(workspaceID: clinic.workspaceID, from: midnight, days: 1, limit: 500)
        let iso = ISO8601DateFormatter()
        #expect(early.map { iso.string(from: $0.startsAt) } == ["2026-12-01T09:00:00Z", "2026-12-01T09:30:00Z"])
    }

    @Test("two staff booking overlapping times of one doctor at once: one booked, the other slot_taken, one entry")
    func concurrentBookingsMeetTheExclusionConstraint() throws {
        let clinic = try Clinic(availability: [("09:00", "13:00")], weekdays: [2])
        let start = now.addingTimeInterval(3600)
        let results = Mutex<[StaffBookingResult]>([])
        let (url, ws, patient, doctor) = (clinic.url, clinic.workspaceID, clinic.patientID, clinic.doctorID)
        DispatchQueue.concurrentPerform(iterations: 8) { i in
            do {
                let conn = try PGConnection(url)
                let store = PostgresStores(conn).appointments
                let r = try store.book(StaffBooking(workspaceID: ws, patientID: patient, doctorID: doctor,
                                                    startsAt: start.addingTimeInterval(Double(i % 2) * 600), reason: nil, userID: doctor),
                                       end: { start.addingTimeInterval(Double(i % 2) * 600 + Double($0) * 60) },
                                       audit: { AuditEntry(workspaceID: ws, userID: nil, action: "appointment.create", targetType: "appointment", targetID: String($0)) })
                results.withLock { $0.append(r) }
            } catch {
                Issue.record("\(error)")
            }
        }
        let all = results.withLock { $0 }
        #expect(all.count == 8)
        #expect(all.filter { if case .booked = $0 { return true } else { return false } }.count == 1)
        #expect(all.filter { $0 == .slotTaken }.count == 7)
        #expect(try clinic.conn.query("SELECT count(*) AS n FROM appointments").one().decode(Int.self, "n") == 1)
        #expect(try clinic.conn.query("SELECT count(*) AS n FROM audit_log WHERE action = 'appointment.create'").one().decode(Int.self, "n") == 1)
        // Not a patient or a doctor of the workspace: nothing written.
        let stranger = StaffBooking(workspaceID: clinic.workspaceID, patientID: clinic.patientID + 1000, doctorID: clinic.doctorID, startsAt: start, reason: nil, userID: 1)
        #expect(try clinic.store.book(stranger, end: { _ in start.addingTimeInterval(1800) }, audit: { _ in Issue.record("audited"); return AuditEntry(workspaceID: 0, userID: nil, action: "", targetType: nil, targetID: nil) }) == .patientNotFound)
    }

    @Test("a move onto another live appointment of the doctor is slot_taken and changes nothing; a cancelled one leaves the time free")
    func rescheduleMeetsTheExclusionConstraint() throws {
        let clinic = try Clinic(availability: [("09:00", "13:00")], weekdays: [2])
        let nine = now.addingTimeInterval(3600), ten = now.addingTimeInterval(7200)
        try clinic.appointment(nine, nine.addingTimeInterval(1800), "confirmed")
        try clinic.appointment(ten, ten.addingTimeInterval(1800), "confirmed")
        let ids = try clinic.conn.query("SELECT id FROM appointments ORDER BY starts_at").map { try $0.decode(Int64.self, "id") }
        let audit: (Date) -> AuditEntry = { _ in AuditEntry(workspaceID: clinic.workspaceID, userID: nil, action: "appointment.reschedule", targetType: nil, targetID: nil) }
        let onto = try clinic.store.reschedule(workspaceID: clinic.workspaceID, id: ids[1], startsAt: nine.addingTimeInterval(900), end: { s, e in nine.addingTimeInterval(900 + e.timeIntervalSince(s)) }, audit: audit)
        #expect(onto == .slotTaken)
        #expect(try clinic.store.get(workspaceID: clinic.workspaceID, id: ids[1])?.startsAt == ten)
        #expect(try clinic.store.cancel(workspaceID: clinic.workspaceID, id: ids[0], audit: audit(nine)) != .notFound)
        guard case .moved(let moved) = try clinic.store.reschedule(workspaceID: clinic.workspaceID, id: ids[1], startsAt: nine, end: { s, e in nine.addingTimeInterval(e.timeIntervalSince(s)) }, audit: audit) else {
            Issue.record("not moved"); return
        }
        #expect(moved.startsAt == nine && moved.endsAt == nine.addingTimeInterval(1800))
        #expect(try clinic.conn.query("SELECT count(*) AS n FROM audit_log").one().decode(Int.self, "n") == 2)
    }

    @Test("time off is written from local times in the clinic's timezone and read back in it; it takes its slots")
    func timeOffInTheClinicsTimezone() throws {
        let clinic = try Clinic(availability: [("09:00", "11:00")], weekdays: [2, 3])
        let rows = DoctorAvailabilityRows(weekly: [.init(weekday: 2, start: 540, end: 660, slot: 30), .init(weekday: 3, start: 540, end: 1440, slot: 60)],
                                          timeOff: [.init(from: "2026-12-01 09:30", to: "2026-12-01 10:30", reason: "Dentist")])
        try clinic.store.replaceAvailability(workspaceID: clinic.workspaceID, doctorID: clinic.doctorID, rows,
                                             audit: AuditEntry(workspaceID: clinic.workspaceID, userID: nil, action: "doctor.availability", targetType: "doctor", targetID: nil))
        let (weekly, off) = try clinic.store.availability(workspaceID: clinic.workspaceID, doctorID: clinic.doctorID, timezone: tz)
        #expect(weekly == [DoctorWeeklyRange(weekday: 2, start: "09:00", end: "11:00", slotMinutes: 30), DoctorWeeklyRange(weekday: 3, start: "09:00", end: "24:00", slotMinutes: 60)])
        #expect(off.map { "\($0.from)–\($0.to) \($0.reason ?? "")" } == ["2026-12-01T09:30–2026-12-01T10:30 Dentist"])
        let iso = ISO8601DateFormatter()
        #expect(off.map { iso.string(from: $0.startsAt) } == ["2026-12-01T15:30:00Z"])   // 09:30 in Mexico City
        let tuesday = try clinic.store.freeSlots(workspaceID: clinic.workspaceID, from: now, days: 1, limit: 50)
        #expect(local(tuesday) == ["today at 9:00 AM", "today at 10:30 AM"])
        #expect(try clinic.store.timezone(workspaceID: clinic.workspaceID) == tz)
        #expect(try clinic.store.isDoctor(workspaceID: clinic.workspaceID, userID: clinic.doctorID))
        #expect(!(try clinic.store.isDoctor(workspaceID: clinic.workspaceID, userID: clinic.patientID + 1000)))
    }
}
