import Domain
import Foundation
import Postgres
import Store
import Testing
import TestSupport

/// The reminder run's claims in PostgreSQL (reminder_log): what the in-memory twin cannot show — the
/// statements an idle run costs, the start time compared as PostgreSQL wrote it, interrupted claims,
/// two runs claiming the same reminder. The run goes through the sandbox as `medsync-jobs reminders` does.
@Suite(.needsStack) struct ReminderClaimStoreTests {
    /// medsync-jobs runs every 5 minutes: with nothing due, one statement tells for every clinic
    /// whether it has a sender and anything due, whatever the number of clinics (it was two per clinic).
    /// A clinic with something due is still read and reminded, and one without a sender still counted.
    @Test func aRunWithNothingDueCostsTheSameFewStatementsForTwentyClinics() throws {
        let w = try JobsWorld()
        let now = Date()
        var clinics: [(ws: Int64, sender: JobsWorld.Sender, doctor: Int64)] = []
        for _ in 0..<20 {
            let ws = try w.workspace()
            clinics.append((ws, try w.sender(ws), try w.doctor(ws, name: "Dr. Idle")))
        }
        _ = try w.workspace()  // reminders on, no sender
        // Appointments outside every window: far ahead, and long past.
        for c in clinics {
            let p = try w.patient(c.ws, name: "Later")
            _ = try w.appointment(c.ws, patient: p, doctor: c.doctor, startsAt: now.addingTimeInterval(5 * 86400))
            _ = try w.appointment(c.ws, patient: p, doctor: c.doctor, startsAt: now.addingTimeInterval(-5 * 86400))
        }
        let before = w.conn.statementsRun
        let idle = try w.runReminders()
        #expect(w.conn.statementsRun - before == 2, "the workspaces query and the interrupted-claims update")
        #expect(idle.workspaces == 21 && idle.due == 0 && idle.sent == 0 && idle.workspacesWithoutSender == 1, "\(idle)")

        // One appointment due in the last clinic: read and sent.
        let last = clinics[clinics.count - 1]
        let phone = JobsWorld.randomPhone()
        let patient = try w.patient(last.ws, phone: phone, name: "Due")
        try w.window(last.ws, patient: patient, phone: phone, sender: last.sender, at: now.addingTimeInterval(-600))
        let due = try w.appointment(last.ws, patient: patient, doctor: last.doctor, startsAt: now.addingTimeInterval(3 * 3600))
        let run = try w.runReminders()
        #expect(run.sent == 1 && run.due == 1 && run.workspacesWithoutSender == 1, "\(run)")
        #expect(try w.logRows(due).map(\.status) == ["sent"])
        #expect(try w.sent(from: last.sender).compactMap { $0["to"] as? String } == ["whatsapp:\(phone)"])
    }

    @Test func aClaimLeftSendingByAKilledRunIsMarkedInterruptedAndNeverResent() throws {
        let w = try JobsWorld()
        let ws = try w.workspace()
        let sender = try w.sender(ws)
        let phone = JobsWorld.randomPhone()
        let patient = try w.patient(ws, phone: phone, name: "Kai")
        try w.window(ws, patient: patient, phone: phone, sender: sender, at: Date())
        let start = Date().addingTimeInterval(7200)
        let appt = try w.appointment(ws, patient: patient, doctor: nil, startsAt: start)
        try w.conn.execute("""
            INSERT INTO reminder_log (workspace_id, appointment_id, scheduled_for, status, created_at) VALUES (\(ws), \(appt), \(start), 'sending', now() - interval '20 minutes')
            """)
        let summary = try w.runReminders()
        #expect(summary.interrupted == 1 && summary.sent == 0, "\(summary)")
        #expect(try w.logRows(appt).map { "\($0.status)/\($0.reason ?? "")" } == ["failed/interrupted"])
        #expect(try w.sent(from: sender).isEmpty)
    }

    /// A start time whose text → Date → text round trip is a microsecond off (2027-01-08 21:45:33.916674):
    /// the claim compares the start as PostgreSQL wrote it, so the reminder is claimed and sent
    /// (it used to count as "claimed elsewhere" and never go out).
    @Test func aStartTimeThatDoesNotRoundTripThroughDoubleIsStillClaimed() throws {
        let w = try JobsWorld()
        let ws = try w.workspace()
        let sender = try w.sender(ws)
        let phone = JobsWorld.randomPhone()
        let patient = try w.patient(ws, phone: phone, name: "Uma")
        let start = Date(timeIntervalSince1970: 1_799_444_733.916674)
        let now = start.addingTimeInterval(-3600)
        try w.window(ws, patient: patient, phone: phone, sender: sender, at: now.addingTimeInterval(-60))
        let appt = try w.appointment(ws, patient: patient, doctor: nil, startsAt: start)
        #expect(try w.conn.query("SELECT starts_at::text AS t FROM appointments WHERE id = \(appt)").first?.string("t")
                == "2027-01-08 21:45:33.916674+00")
        let summary = try w.runReminders(clock: FixedClock(now))
        #expect(summary.sent == 1 && summary.claimedElsewhere == 0, "\(summary)")
        #expect(try w.logRows(appt).map(\.status) == ["sent"])
    }

    /// Two runs (two sessions) that read the same due appointment: one claim wins, the other finds
    /// it taken; a claim given back can be taken again, a recorded one cannot.
    @Test func twoRunsClaimAReminderOnce() throws {
        let w = try JobsWorld()
        let ws = try w.workspace()
        let patient = try w.patient(ws, name: "Ona")
        let start = Date().addingTimeInterval(3600)
        let appt = try w.appointment(ws, patient: patient, doctor: nil, startsAt: start)
        let a = PostgresStores(w.conn).reminderClaims
        let b = PostgresStores(try PGConnection(w.databaseURL)).reminderClaims
        let due = try #require(try a.dueAppointments(workspaceID: ws, kind: "reminder", after: Date(), through: start).first)
        #expect(due.id == appt)
        let first = try a.claim(workspaceID: ws, appointmentID: appt, startsAtText: due.startsAtText, kind: "reminder", skipReason: nil)
        #expect(first != nil)
        #expect(try b.claim(workspaceID: ws, appointmentID: appt, startsAtText: due.startsAtText, kind: "reminder", skipReason: nil) == nil)
        #expect(try b.dueAppointments(workspaceID: ws, kind: "reminder", after: Date(), through: start).isEmpty)

        try a.release(claimID: try #require(first))
        let second = try b.claim(workspaceID: ws, appointmentID: appt, startsAtText: due.startsAtText, kind: "reminder", skipReason: nil)
        #expect(second != nil)
        try b.record(claimID: try #require(second), ReminderResult(status: "sent", sid: "SMx"))
        try a.release(claimID: try #require(second))   // a recorded claim is not given back
        #expect(try w.logRows(appt).map(\.status) == ["sent"])
        #expect(try a.claim(workspaceID: ws, appointmentID: appt, startsAtText: due.startsAtText, kind: "reminder", skipReason: nil) == nil)
    }
}
