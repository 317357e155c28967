import Domain
import Foundation
import Testing
import TestSupport
import HTTPClient
import Postgres

private func utc(_ s: String) -> Date { ISO8601DateFormatter().date(from: s)! }

/// `ReminderJob.run` (what `medsync-jobs reminders` calls) against a fresh database and the sandbox.
@Suite(.needsStack) struct JobsRemindersTests {
    @Test func wordingFollowsEachClinicsTimezoneAcrossTheSpringDSTChange() throws {
        let w = try JobsWorld()
        // Saturday 28 March 2026, 10:00 UTC. Madrid moves to CEST (UTC+2) on Sunday 29 at 02:00;
        // Mexico City has no DST since 2022 (UTC-6 all year).
        let now = utc("2026-03-28T10:00:00Z")
        let madrid = try w.workspace(timezone: "Europe/Madrid")
        let mexico = try w.workspace(timezone: "America/Mexico_City", reminders: (36, "appt_reminder", nil))
        var cases: [(phone: String, sender: JobsWorld.Sender, expected: String)] = []
        for (ws, name, language, start, expected) in [
            (madrid, "Lucía", "es", "2026-03-29T07:00:00Z", "Hola Lucía, le recordamos su cita con Dr. Ruiz mañana a las 9:00. Responda a este mensaje si necesita cambiarla."),
            (madrid, "Tom", "en", "2026-03-29T08:30:00Z", "Hi Tom, this is a reminder of your appointment with Dr. Ruiz tomorrow at 10:30 AM. Reply to this message if you need to change it."),
            (mexico, "Rosa", "es", "2026-03-29T15:00:00Z", "Hola Rosa, le recordamos su cita con Dr. Ruiz mañana a las 9:00. Responda a este mensaje si necesita cambiarla."),
            (mexico, "Ann", "en", "2026-03-28T23:15:00Z", "Hi Ann, this is a reminder of your appointment with Dr. Ruiz today at 5:15 PM. Reply to this message if you need to change it."),
        ] {
            let sender = try SenderAccount.primary(w.conn, workspaceID: ws).map { s in JobsWorld.Sender(id: s.id, phone: s.phoneNumber, accountSID: w.masterSID) }
                ?? w.sender(ws)
            let doctor = try w.doctor(ws, name: "Dr. Ruiz")
            let phone = JobsWorld.randomPhone()
            let patient = try w.patient(ws, phone: phone, name: name, language: language)
            try w.window(ws, patient: patient, phone: phone, sender: sender, at: now.addingTimeInterval(-3600))
            _ = try w.appointment(ws, patient: patient, doctor: doctor, startsAt: utc(start))
            cases.append((phone, sender, expected))
        }
        let summary = try ReminderJob.run(w.conn, http: HTTPClient(), config: w.config(), clock: FixedClock(now))
        #expect(summary.sent == 4, "\(summary)")
        for c in cases {
            let got = try w.sent(from: c.sender).filter { $0["to"] as? String == "whatsapp:\(c.phone)" }
            #expect(got.map { $0["body"] as? String } == [c.expected])
        }
    }

    @Test func autumnDSTChangeInMadridAndTheFullDateBeyondTomorrow() throws {
        let w = try JobsWorld()
        // Saturday 24 October 2026 08:00 UTC; Madrid returns to CET (UTC+1) on Sunday 25 at 03:00.
        let now = utc("2026-10-24T08:00:00Z")
        let ws = try w.workspace(timezone: "Europe/Madrid", reminders: (48, "appt_reminder", nil))
        let sender = try w.sender(ws)
        let doctor = try w.doctor(ws, name: "Dra. Vega")
        let phone = JobsWorld.randomPhone()
        let patient = try w.patient(ws, phone: phone, name: "Pilar", language: "es")
        try w.window(ws, patient: patient, phone: phone, sender: sender, at: now.addingTimeInterval(-600))
        _ = try w.appointment(ws, patient: patient, doctor: doctor, startsAt: utc("2026-10-26T08:00:00Z"))  // Monday 9:00 CET
        let summary = try ReminderJob.run(w.conn, http: HTTPClient(), config: w.config(), clock: FixedClock(now))
        #expect(summary.sent == 1, "\(summary)")
        #expect(try w.sent(from: sender).map { $0["body"] as? String }
                == ["Hola Pilar, le recordamos su cita con Dra. Vega lun 26 oct a las 9:00. Responda a este mensaje si necesita cambiarla."])
    }

    @Test func cancelledPastOptedOutAndConsentlessAreNotSentAndTheReasonIsRecorded() throws {
        let w = try JobsWorld()
        let now = Date()
        let ws = try w.workspace()
        let sender = try w.sender(ws)
        func make(_ name: String, consent: Bool?, start: Date, status: String = "confirmed") throws -> (Int64, String) {
            let phone = JobsWorld.randomPhone()
            let p = try w.patient(ws, phone: phone, name: name, consent: consent)
            try w.window(ws, patient: p, phone: phone, sender: sender, at: now.addingTimeInterval(-3600))
            // A doctor each: the appointments are minutes apart, and one doctor's may not overlap.
            let doctor = try w.doctor(ws, name: "Dr. House")
            return (try w.appointment(ws, patient: p, doctor: doctor, startsAt: start, status: status), phone)
        }
        let inTwoHours = now.addingTimeInterval(7200)
        let cancelled = try make("Cancelled", consent: true, start: inTwoHours, status: "cancelled")
        let past = try make("Past", consent: true, start: now.addingTimeInterval(-1800))
        let optedOut = try make("OptedOut", consent: nil, start: inTwoHours.addingTimeInterval(60))
        let noConsent = try make("NoConsent", consent: false, start: inTwoHours.addingTimeInterval(120))
        let pending = try make("Pending", consent: true, start: inTwoHours.addingTimeInterval(180), status: "pending_review")
        let farAway = try make("Later", consent: true, start: now.addingTimeInterval(30 * 3600))
        let due = try make("Due", consent: true, start: inTwoHours.addingTimeInterval(240))

        let http = try HTTPClient()
        let first = try ReminderJob.run(w.conn, http: http, config: w.config())
        #expect(first.sent == 1 && first.failed == 0, "\(first)")
        #expect(first.skipped == ["cancelled": 1, "past": 1, "opted_out": 1, "no_consent": 1], "\(first)")
        #expect(try w.logRows(cancelled.0).map(\.reason) == ["cancelled"])
        #expect(try w.logRows(past.0).map(\.reason) == ["past"])
        #expect(try w.logRows(optedOut.0).map(\.reason) == ["opted_out"])
        #expect(try w.logRows(noConsent.0).map(\.reason) == ["no_consent"])
        #expect(try w.logRows(cancelled.0).map(\.status) == ["skipped"])
        #expect(try w.logRows(pending.0).isEmpty)
        #expect(try w.logRows(farAway.0).isEmpty)
        #expect(try w.logRows(due.0).map(\.status) == ["sent"])
        let received = try w.sent(from: sender)
        #expect(received.compactMap { $0["to"] as? String } == ["whatsapp:\(due.1)"])

        // A second run changes nothing: nothing is sent twice, no reason is recorded twice.
        let second = try ReminderJob.run(w.conn, http: http, config: w.config())
        #expect(second.sent == 0 && second.skipped.isEmpty, "\(second)")
        #expect(try w.sent(from: sender).count == 1)
        #expect(try w.conn.query("SELECT count(*) AS n FROM reminder_log").first!.int("n") == 5)
    }

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
        let http = try HTTPClient()
        let before = w.conn.statementsRun
        let idle = try ReminderJob.run(w.conn, http: http, config: w.config())
        #expect(w.conn.statementsRun - before == 2, "the workspaces query and the interrupted-claims update")
        #expect(idle.workspaces == 21 && idle.due == 0 && idle.sent == 0 && idle.workspacesWithoutSender == 1, "\(idle)")

        // One appointment due in the last clinic: read and sent.
        let last = clinics[clinics.count - 1]
        let phone = JobsWorld.randomPhone()
        let patient = try w.patient(last.ws, phone: phone, name: "Due")
        try w.window(last.ws, patient: patient, phone: phone, sender: last.sender, at: now.addingTimeInterval(-600))
        let due = try w.appointment(last.ws, patient: patient, doctor: last.doctor, startsAt: now.addingTimeInterval(3 * 3600))
        let run = try ReminderJob.run(w.conn, http: http, config: w.config())
        #expect(run.sent == 1 && run.due == 1 && run.workspacesWithoutSender == 1, "\(run)")
        #expect(try w.logRows(due).map(\.status) == ["sent"])
        #expect(try w.sent(from: last.sender).compactMap { $0["to"] as? String } == ["whatsapp:\(phone)"])
    }

    @Test func aRescheduledAppointmentIsRemindedAgainForItsNewTime() throws {
        let w = try JobsWorld()
        let now = Date()
        let ws = try w.workspace(timezone: "America/Mexico_City")
        let sender = try w.sender(ws)
        let doctor = try w.doctor(ws, name: "Dr. Soto")
        let phone = JobsWorld.randomPhone()
        let patient = try w.patient(ws, phone: phone, name: "Luis", language: "es")
        try w.window(ws, patient: patient, phone: phone, sender: sender, at: now.addingTimeInterval(-60))
        let first = now.addingTimeInterval(3 * 3600)
        let appointment = try w.appointment(ws, patient: patient, doctor: doctor, startsAt: first)
        let http = try HTTPClient()
        #expect(try ReminderJob.run(w.conn, http: http, config: w.config()).sent == 1)
        #expect(try ReminderJob.run(w.conn, http: http, config: w.config()).sent == 0)

        let moved = now.addingTimeInterval(20 * 3600)
        try w.conn.execute("UPDATE appointments SET starts_at = \(moved), ends_at = \(moved.addingTimeInterval(1800)) WHERE id = \(appointment)")
        #expect(try ReminderJob.run(w.conn, http: http, config: w.config()).sent == 1)
        let bodies = try w.sent(from: sender).compactMap { $0["body"] as? String }
        #expect(bodies.count == 2)
        #expect(bodies.last?.contains(LocalTime.describe(moved, timeZone: "America/Mexico_City", language: "es", now: Date())) == true,
                "\(bodies)")
        #expect(try w.logRows(appointment).map(\.status) == ["sent", "sent"])

        // Cancelled after the move: no further reminder.
        try w.conn.execute("UPDATE appointments SET status = 'cancelled' WHERE id = \(appointment)")
        #expect(try ReminderJob.run(w.conn, http: http, config: w.config()).sent == 0)
        #expect(try w.sent(from: sender).count == 2)
    }

    @Test func outsideTheWindowAReminderGoesAsAContentTemplateOrIsSkippedOnce() throws {
        let w = try JobsWorld()
        let now = Date()
        // Clinic A maps a Content SID for reminders in English; clinic B maps none.
        let a = try w.workspace(contentSids: #"{"appt_reminder": {"en": "HXaaaabbbbccccdddd0000111122223333"}}"#)
        let b = try w.workspace()
        var phones: [Int64: (String, JobsWorld.Sender, Int64)] = [:]
        for ws in [a, b] {
            let sender = try w.sender(ws)
            let phone = JobsWorld.randomPhone()
            let patient = try w.patient(ws, phone: phone, name: "Mia")
            // Last wrote 30 hours ago: the window is closed (in our database and in the sandbox).
            try w.window(ws, patient: patient, phone: phone, sender: sender, at: now.addingTimeInterval(-30 * 3600), sandboxHoursAgo: 30)
            let appt = try w.appointment(ws, patient: patient, doctor: try w.doctor(ws, name: "Dr. Kim"), startsAt: now.addingTimeInterval(5 * 3600))
            phones[ws] = (phone, sender, appt)
        }
        let http = try HTTPClient()
        let summary = try ReminderJob.run(w.conn, http: http, config: w.config())
        #expect(summary.sent == 1 && summary.skipped == ["window_closed": 1], "\(summary)")

        let viaTemplate = try w.sent(from: phones[a]!.1)
        #expect(viaTemplate.count == 1)
        #expect(viaTemplate.first?["content_sid"] as? String == "HXaaaabbbbccccdddd0000111122223333")
        let vars = viaTemplate.first?["content_variables"] as? [String: String]
        #expect(vars?["1"] == "Mia" && vars?["2"] == "Dr. Kim")
        #expect(vars?["3"] == LocalTime.describe(now.addingTimeInterval(5 * 3600), timeZone: "UTC", language: "en", now: now))
        #expect(try w.logRows(phones[a]!.2).map(\.status) == ["sent"])

        #expect(try w.sent(from: phones[b]!.1).isEmpty)
        #expect(try w.logRows(phones[b]!.2).map { "\($0.status)/\($0.reason ?? "")" } == ["skipped/window_closed"])
        // Not retried on the next run.
        let again = try ReminderJob.run(w.conn, http: http, config: w.config())
        #expect(again.sent == 0 && again.skipped.isEmpty, "\(again)")
        #expect(try w.logRows(phones[b]!.2).count == 1)
    }

    @Test func dryRunListsWhatWouldBeSentAndClaimsNothing() throws {
        let w = try JobsWorld()
        let ws = try w.workspace()
        let sender = try w.sender(ws)
        let phone = JobsWorld.randomPhone()
        let patient = try w.patient(ws, phone: phone, name: "Zoe")
        try w.window(ws, patient: patient, phone: phone, sender: sender, at: Date())
        _ = try w.appointment(ws, patient: patient, doctor: nil, startsAt: Date().addingTimeInterval(3600))
        let summary = try ReminderJob.run(w.conn, http: HTTPClient(), config: w.config(), options: JobOptions(dryRun: true))
        #expect(summary.plan.count == 1)
        #expect(summary.plan.first?.contains("Hi Zoe, this is a reminder of your appointment with your doctor") == true, "\(summary.plan)")
        #expect(try w.conn.query("SELECT count(*) AS n FROM reminder_log").first!.int("n") == 0)
        #expect(try w.sent(from: sender).isEmpty)
    }
}

@Suite(.needsStack) struct JobsRemindersInterruptedTests {
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
        let summary = try ReminderJob.run(w.conn, http: HTTPClient(), config: w.config())
        #expect(summary.interrupted == 1 && summary.sent == 0, "\(summary)")
        #expect(try w.logRows(appt).map { "\($0.status)/\($0.reason ?? "")" } == ["failed/interrupted"])
        #expect(try w.sent(from: sender).isEmpty)
    }

    @Test func whenTwilioKeepsFailingWith5xxTheClaimIsGivenBackAndTheNextRunSends() throws {
        let w = try JobsWorld()
        let ws = try w.workspace()
        let sender = try w.sender(ws)
        let phone = JobsWorld.randomPhone()
        let patient = try w.patient(ws, phone: phone, name: "Noa")
        try w.window(ws, patient: patient, phone: phone, sender: sender, at: Date())
        let appt = try w.appointment(ws, patient: patient, doctor: nil, startsAt: Date().addingTimeInterval(3600))
        // Three 503s: the three attempts of one run all fail.
        try w.control("POST", "/sandbox/faults", #"{"api":"twilio_messages","kind":"http","status":503,"count":3,"to":"\#(phone)"}"#)
        let http = try HTTPClient()
        let first = try ReminderJob.run(w.conn, http: http, config: w.config())
        #expect(first.sent == 0 && first.released == 1, "\(first)")
        #expect(try w.logRows(appt).isEmpty)
        #expect(try w.sent(from: sender).isEmpty)
        let second = try ReminderJob.run(w.conn, http: http, config: w.config())
        #expect(second.sent == 1, "\(second)")
        #expect(try w.logRows(appt).map(\.status) == ["sent"])
        #expect(try w.sent(from: sender).count == 1)
    }

    /// Issue 9: Twilio answers 500 although it recorded (and sends) the reminder. Before the retry the
    /// job asks Twilio's Messages list for that patient since the claim: a match is recorded as sent.
    @Test func aFiveHundredAfterTwilioRecordedTheReminderIsNotSentTwice() throws {
        let w = try JobsWorld()
        let ws = try w.workspace()
        let sender = try w.sender(ws)
        let phone = JobsWorld.randomPhone()
        let patient = try w.patient(ws, phone: phone, name: "Noa")
        try w.window(ws, patient: patient, phone: phone, sender: sender, at: Date())
        let appt = try w.appointment(ws, patient: patient, doctor: nil, startsAt: Date().addingTimeInterval(3600))
        try w.control("POST", "/sandbox/faults", #"{"api":"twilio_messages","kind":"http","status":500,"after":true,"count":1,"to":"\#(phone)"}"#)
        let summary = try ReminderJob.run(w.conn, http: HTTPClient(), config: w.config(), retry: RetryPolicy(maxAttempts: 3, baseSeconds: 0.05))
        #expect(summary.sent == 1 && summary.failed == 0 && summary.released == 0, "\(summary)")
        let got = try w.sent(from: sender).filter { $0["to"] as? String == "whatsapp:\(phone)" }
        #expect(got.count == 1, "\(got)")
        let log = try #require(try w.conn.query("SELECT status, twilio_sid, message_id FROM reminder_log WHERE appointment_id = \(appt)").first)
        #expect(log.string("status") == "sent")
        #expect(log.string("twilio_sid") == got.first?["sid"] as? String)
        #expect(try w.conn.query("SELECT twilio_sid FROM whatsapp_messages WHERE id = \(log.int64("message_id"))")
                    .first?.string("twilio_sid") == got.first?["sid"] as? String)
        // A second run finds it done.
        #expect(try ReminderJob.run(w.conn, http: HTTPClient(), config: w.config()).sent == 0)
        #expect(try w.sent(from: sender).count == 1)
    }

    /// The same with a timeout: Twilio records the reminder but the answer never arrives in time.
    @Test func aTimeoutAfterTwilioRecordedTheReminderIsNotSentTwice() throws {
        let w = try JobsWorld()
        let ws = try w.workspace()
        let sender = try w.sender(ws)
        let phone = JobsWorld.randomPhone()
        let patient = try w.patient(ws, phone: phone, name: "Ivo")
        try w.window(ws, patient: patient, phone: phone, sender: sender, at: Date())
        let appt = try w.appointment(ws, patient: patient, doctor: nil, startsAt: Date().addingTimeInterval(3600))
        try w.control("POST", "/sandbox/faults", #"{"api":"twilio_messages","kind":"hang","seconds":3,"after":true,"count":1,"to":"\#(phone)"}"#)
        let impatient = try HTTPClient(connectTimeoutMS: 1000, timeoutMS: 1000)
        let summary = try ReminderJob.run(w.conn, http: impatient, config: w.config(), retry: RetryPolicy(maxAttempts: 3, baseSeconds: 0.05))
        #expect(summary.sent == 1 && summary.failed == 0, "\(summary)")
        let got = try w.sent(from: sender).filter { $0["to"] as? String == "whatsapp:\(phone)" }
        #expect(got.count == 1, "\(got)")
        #expect(try w.logRows(appt).map(\.status) == ["sent"])
    }

    /// When Twilio's Messages list cannot be read after an ambiguous failure, nobody knows whether the
    /// reminder went out: it is recorded failed (twilio_unknown), never sent again.
    @Test func anAmbiguousFailureWhoseListCannotBeReadIsNeverResent() throws {
        let w = try JobsWorld()
        let ws = try w.workspace()
        let sender = try w.sender(ws, subaccount: true)
        let phone = JobsWorld.randomPhone()
        let patient = try w.patient(ws, phone: phone, name: "Eli")
        try w.window(ws, patient: patient, phone: phone, sender: sender, at: Date())
        let appt = try w.appointment(ws, patient: patient, doctor: nil, startsAt: Date().addingTimeInterval(3600))
        try w.control("POST", "/sandbox/faults", #"{"api":"twilio_messages","kind":"http","status":502,"after":true,"count":1,"to":"\#(phone)"}"#)
        try w.control("POST", "/sandbox/faults", #"{"api":"twilio_list","kind":"http","status":503,"count":10,"account_sid":"\#(sender.accountSID)"}"#)
        let summary = try ReminderJob.run(w.conn, http: HTTPClient(), config: w.config(), retry: RetryPolicy(maxAttempts: 3, baseSeconds: 0.05))
        #expect(summary.sent == 0 && summary.failed == 1 && summary.released == 0, "\(summary)")
        #expect(try w.logRows(appt).map { "\($0.status)/\($0.reason ?? "")" } == ["failed/twilio_unknown"])
        #expect(try w.sent(from: sender).count == 1)
        // The next run does not try again either.
        _ = try ReminderJob.run(w.conn, http: HTTPClient(), config: w.config())
        #expect(try w.sent(from: sender).count == 1)
        _ = try w.control("DELETE", "/sandbox/faults?account_sid=\(sender.accountSID)")
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
        let summary = try ReminderJob.run(w.conn, http: HTTPClient(), config: w.config(), clock: FixedClock(now))
        #expect(summary.sent == 1 && summary.claimedElsewhere == 0, "\(summary)")
        #expect(try w.logRows(appt).map(\.status) == ["sent"])
    }

    @Test func whenTwilioSaysTheWindowClosedTheReminderGoesAsTheTemplateOrIsSkipped() throws {
        let w = try JobsWorld()
        let now = Date()
        let withTemplate = try w.workspace(contentSids: #"{"appt_reminder": {"en": "HXreminderEN00000000000000000000"}}"#)
        let without = try w.workspace()
        var cases: [(JobsWorld.Sender, Int64)] = []
        for ws in [withTemplate, without] {
            let sender = try w.sender(ws)
            let phone = JobsWorld.randomPhone()
            let patient = try w.patient(ws, phone: phone, name: "Ines")
            // Our records: wrote an hour ago. Twilio (the sandbox): 30 hours ago.
            try w.window(ws, patient: patient, phone: phone, sender: sender, at: now.addingTimeInterval(-3600), sandboxHoursAgo: 30)
            cases.append((sender, try w.appointment(ws, patient: patient, doctor: nil, startsAt: now.addingTimeInterval(7200))))
        }
        let summary = try ReminderJob.run(w.conn, http: HTTPClient(), config: w.config())
        #expect(summary.sent == 1 && summary.skipped == ["window_closed": 1] && summary.failed == 0, "\(summary)")
        #expect(try w.sent(from: cases[0].0).map { $0["content_sid"] as? String } == ["HXreminderEN00000000000000000000"])
        #expect(try w.logRows(cases[0].1).map(\.status) == ["sent"])
        #expect(try w.sent(from: cases[1].0).isEmpty)
        #expect(try w.logRows(cases[1].1).map { "\($0.status)/\($0.reason ?? "")" } == ["skipped/window_closed"])
    }
}
