@testable import Domain
import Foundation
import Testing
import TestSupport
import Twilio

private func utc(_ s: String) -> Date { ISO8601DateFormatter().date(from: s)! }

/// The reminder job's use case on an in-memory claim store and a fake Twilio: clinics, patients and
/// appointments, which reminders go, in which language and wording, the template route, the run's
/// accounting. What only PostgreSQL shows (the statements of an idle run, the start time's text,
/// interrupted claims, concurrent runs) is in StoreTests' ReminderClaimStoreTests.
struct ReminderWorld {
    let store = MemoryReminderClaimStore()
    let twilio = FakeMessenger()
    private var nextPatient: Int64 = 1000

    static func randomPhone(_ prefix: String = "+1999") -> String { prefix + String(Int.random(in: 1_000_000...9_999_999)) }

    func workspace(timezone: String = "UTC", reminders: (hours: Int, template: String, custom: String?)? = (24, "appt_reminder", nil),
                   language: String? = nil, contentSids: [String: [String: String]] = [:], sender: Bool = true) -> Int64 {
        let settings = reminders.map { MemoryReminderClaimStore.Settings(hoursBefore: $0.hours, templateKey: $0.template, customMessage: $0.custom, language: language) }
        let ws = store.workspace(timezone: timezone, settings: settings, hasSender: sender)
        twilio.contentSids[ws] = contentSids
        return ws
    }

    struct Patient {
        let id: Int64
        let workspaceID: Int64
        let phone: String
        let name: String
        let language: String?
        let consent: Bool?
    }

    /// consent: true, false (never given) or nil = opted out (given, then withdrawn). `wroteAt`: the
    /// patient's last message (our records); `twilioWindowOpen`: Twilio's view.
    mutating func patient(_ ws: Int64, phone: String = ReminderWorld.randomPhone(), name: String, language: String? = "en", consent: Bool? = true,
                          wroteAt: Date? = nil, twilioWindowOpen: Bool = true) -> Patient {
        nextPatient += 1
        twilio.patients[nextPatient] = FakeMessenger.Patient(workspaceID: ws, phone: phone, consent: consent == true, lastInbound: wroteAt,
                                                             twilioWindowOpen: twilioWindowOpen)
        return Patient(id: nextPatient, workspaceID: ws, phone: phone, name: name, language: language, consent: consent)
    }

    @discardableResult
    func appointment(_ p: Patient, doctor: String?, startsAt: Date, status: String = "confirmed") -> Int64 {
        store.appointment(p.workspaceID, patientID: p.id, patientName: p.name, phone: p.phone, language: p.language, consent: p.consent ?? false,
                          consentUpdatedAt: p.consent == false ? nil : Date(), doctorName: doctor, startsAt: startsAt, status: status)
    }

    func run(now: Date = Date(), options: JobOptions = JobOptions(), retry: RetryPolicy = RetryPolicy(maxAttempts: 3)) throws -> ReminderJob.Summary {
        try ReminderJob.run(store: store, messenger: twilio, sendRate: 80, options: options, clock: InstantClock(now), retry: retry)
    }

    func logRows(_ appointment: Int64) -> [(status: String, reason: String?)] {
        store.logRows(appointment).map { ($0.status, $0.reason) }
    }
}

@Suite struct JobsRemindersTests {
    @Test func wordingFollowsEachClinicsTimezoneAcrossTheSpringDSTChange() throws {
        var w = ReminderWorld()
        // Saturday 28 March 2026, 10:00 UTC. Madrid moves to CEST (UTC+2) on Sunday 29 at 02:00;
        // Mexico City has no DST since 2022 (UTC-6 all year).
        let now = utc("2026-03-28T10:00:00Z")
        let madrid = w.workspace(timezone: "Europe/Madrid")
        let mexico = w.workspace(timezone: "America/Mexico_City", reminders: (36, "appt_reminder", nil))
        var cases: [(phone: String, expected: String)] = []
        for (ws, name, language, start, expected) in [
            (madrid, "Lucía", "es", "2026-03-29T07:00:00Z", "Hola Lucía, le recordamos su cita con Dr. Ruiz mañana a las 9:00. Responda a este mensaje si necesita cambiarla."),
            (madrid, "Tom", "en", "2026-03-29T08:30:00Z", "Hi Tom, this is a reminder of your appointment with Dr. Ruiz tomorrow at 10:30 AM. Reply to this message if you need to change it."),
            (mexico, "Rosa", "es", "2026-03-29T15:00:00Z", "Hola Rosa, le recordamos su cita con Dr. Ruiz mañana a las 9:00. Responda a este mensaje si necesita cambiarla."),
            (mexico, "Ann", "en", "2026-03-28T23:15:00Z", "Hi Ann, this is a reminder of your appointment with Dr. Ruiz today at 5:15 PM. Reply to this message if you need to change it."),
        ] {
            let patient = w.patient(ws, name: name, language: language, wroteAt: now.addingTimeInterval(-3600))
            w.appointment(patient, doctor: "Dr. Ruiz", startsAt: utc(start))
            cases.append((patient.phone, expected))
        }
        let summary = try w.run(now: now)
        #expect(summary.sent == 4, "\(summary)")
        for c in cases {
            #expect(w.twilio.sent(to: c.phone).map(\.body) == [c.expected])
        }
    }

    @Test func autumnDSTChangeInMadridAndTheFullDateBeyondTomorrow() throws {
        var w = ReminderWorld()
        // Saturday 24 October 2026 08:00 UTC; Madrid returns to CET (UTC+1) on Sunday 25 at 03:00.
        let now = utc("2026-10-24T08:00:00Z")
        let ws = w.workspace(timezone: "Europe/Madrid", reminders: (48, "appt_reminder", nil))
        let patient = w.patient(ws, name: "Pilar", language: "es", wroteAt: now.addingTimeInterval(-600))
        w.appointment(patient, doctor: "Dra. Vega", startsAt: utc("2026-10-26T08:00:00Z"))  // Monday 9:00 CET
        let summary = try w.run(now: now)
        #expect(summary.sent == 1, "\(summary)")
        #expect(w.twilio.accepted.map(\.body)
                == ["Hola Pilar, le recordamos su cita con Dra. Vega lun 26 oct a las 9:00. Responda a este mensaje si necesita cambiarla."])
    }

    @Test func cancelledPastOptedOutAndConsentlessAreNotSentAndTheReasonIsRecorded() throws {
        var w = ReminderWorld()
        let now = Date()
        let ws = w.workspace()
        func make(_ name: String, consent: Bool?, start: Date, status: String = "confirmed") -> (Int64, String) {
            let p = w.patient(ws, name: name, consent: consent, wroteAt: now.addingTimeInterval(-3600))
            return (w.appointment(p, doctor: "Dr. House", startsAt: start, status: status), p.phone)
        }
        let inTwoHours = now.addingTimeInterval(7200)
        let cancelled = make("Cancelled", consent: true, start: inTwoHours, status: "cancelled")
        let past = make("Past", consent: true, start: now.addingTimeInterval(-1800))
        let optedOut = make("OptedOut", consent: nil, start: inTwoHours.addingTimeInterval(60))
        let noConsent = make("NoConsent", consent: false, start: inTwoHours.addingTimeInterval(120))
        let pending = make("Pending", consent: true, start: inTwoHours.addingTimeInterval(180), status: "pending_review")
        let farAway = make("Later", consent: true, start: now.addingTimeInterval(30 * 3600))
        let due = make("Due", consent: true, start: inTwoHours.addingTimeInterval(240))

        let first = try w.run(now: now)
        #expect(first.sent == 1 && first.failed == 0, "\(first)")
        #expect(first.skipped == ["cancelled": 1, "past": 1, "opted_out": 1, "no_consent": 1], "\(first)")
        #expect(w.logRows(cancelled.0).map(\.reason) == ["cancelled"])
        #expect(w.logRows(past.0).map(\.reason) == ["past"])
        #expect(w.logRows(optedOut.0).map(\.reason) == ["opted_out"])
        #expect(w.logRows(noConsent.0).map(\.reason) == ["no_consent"])
        #expect(w.logRows(cancelled.0).map(\.status) == ["skipped"])
        #expect(w.logRows(pending.0).isEmpty)
        #expect(w.logRows(farAway.0).isEmpty)
        #expect(w.logRows(due.0).map(\.status) == ["sent"])
        #expect(w.twilio.accepted.map(\.to) == [due.1])

        // A second run changes nothing: nothing is sent twice, no reason is recorded twice.
        let second = try w.run(now: now)
        #expect(second.sent == 0 && second.skipped.isEmpty, "\(second)")
        #expect(w.twilio.accepted.count == 1)
        #expect(w.store.log.count == 5)
    }

    @Test func aRescheduledAppointmentIsRemindedAgainForItsNewTime() throws {
        var w = ReminderWorld()
        let now = Date()
        let ws = w.workspace(timezone: "America/Mexico_City")
        let patient = w.patient(ws, name: "Luis", language: "es", wroteAt: now.addingTimeInterval(-60))
        let first = now.addingTimeInterval(3 * 3600)
        let appointment = w.appointment(patient, doctor: "Dr. Soto", startsAt: first)
        #expect(try w.run(now: now).sent == 1)
        #expect(try w.run(now: now).sent == 0)

        let moved = now.addingTimeInterval(20 * 3600)
        w.store.update(appointment: appointment) { $0.startsAt = moved }
        #expect(try w.run(now: now).sent == 1)
        let bodies = w.twilio.accepted.map(\.body)
        #expect(bodies.count == 2)
        #expect(bodies.last?.contains(LocalTime.describe(moved, timeZone: "America/Mexico_City", language: "es", now: now)) == true,
                "\(bodies)")
        #expect(w.logRows(appointment).map(\.status) == ["sent", "sent"])

        // Cancelled after the move: no further reminder.
        w.store.update(appointment: appointment) { $0.status = "cancelled" }
        #expect(try w.run(now: now).sent == 0)
        #expect(w.twilio.accepted.count == 2)
    }

    @Test func outsideTheWindowAReminderGoesAsAContentTemplateOrIsSkippedOnce() throws {
        var w = ReminderWorld()
        let now = Date()
        // Clinic A maps a Content SID for reminders in English; clinic B maps none.
        let a = w.workspace(contentSids: ["appt_reminder": ["en": "HXaaaabbbbccccdddd0000111122223333"]])
        let b = w.workspace()
        var phones: [Int64: (String, Int64)] = [:]
        for ws in [a, b] {
            // Last wrote 30 hours ago: the window is closed (in our records and at Twilio).
            let patient = w.patient(ws, name: "Mia", wroteAt: now.addingTimeInterval(-30 * 3600), twilioWindowOpen: false)
            phones[ws] = (patient.phone, w.appointment(patient, doctor: "Dr. Kim", startsAt: now.addingTimeInterval(5 * 3600)))
        }
        let summary = try w.run(now: now)
        #expect(summary.sent == 1 && summary.skipped == ["window_closed": 1], "\(summary)")

        let viaTemplate = w.twilio.sent(to: phones[a]!.0)
        #expect(viaTemplate.count == 1)
        #expect(viaTemplate.first?.contentSid == "HXaaaabbbbccccdddd0000111122223333")
        let vars = viaTemplate.first?.contentVariables
        #expect(vars?["1"] == "Mia" && vars?["2"] == "Dr. Kim")
        #expect(vars?["3"] == LocalTime.describe(now.addingTimeInterval(5 * 3600), timeZone: "UTC", language: "en", now: now))
        #expect(w.logRows(phones[a]!.1).map(\.status) == ["sent"])

        #expect(w.twilio.sent(to: phones[b]!.0).isEmpty)
        #expect(w.logRows(phones[b]!.1).map { "\($0.status)/\($0.reason ?? "")" } == ["skipped/window_closed"])
        // Not retried on the next run.
        let again = try w.run(now: now)
        #expect(again.sent == 0 && again.skipped.isEmpty, "\(again)")
        #expect(w.logRows(phones[b]!.1).count == 1)
    }

    @Test func dryRunListsWhatWouldBeSentAndClaimsNothing() throws {
        var w = ReminderWorld()
        let ws = w.workspace()
        let patient = w.patient(ws, name: "Zoe", wroteAt: Date())
        w.appointment(patient, doctor: nil, startsAt: Date().addingTimeInterval(3600))
        let summary = try w.run(options: JobOptions(dryRun: true))
        #expect(summary.plan.count == 1)
        #expect(summary.plan.first?.contains("Hi Zoe, this is a reminder of your appointment with your doctor") == true, "\(summary.plan)")
        #expect(w.store.log.isEmpty)
        #expect(w.twilio.accepted.isEmpty)
    }

    /// The guide's reminder language: a patient without a language of their own is reminded in it.
    @Test func aPatientWithoutALanguageIsRemindedInTheReminderLanguage() throws {
        var w = ReminderWorld()
        let now = utc("2026-06-10T08:00:00Z")
        let ws = w.workspace(language: "es")
        var phones: [String] = []
        for (name, language) in [("Lola", nil), ("Tom", "en" as String?)] {
            let patient = w.patient(ws, name: name, language: language, wroteAt: now.addingTimeInterval(-600))
            w.appointment(patient, doctor: "Dr. Ruiz", startsAt: utc("2026-06-10T11:00:00Z").addingTimeInterval(Double(phones.count) * 1800))
            phones.append(patient.phone)
        }
        let summary = try w.run(now: now)
        #expect(summary.sent == 2, "\(summary)")
        #expect(w.twilio.sent(to: phones[0]).first?.body
                == "Hola Lola, le recordamos su cita con Dr. Ruiz hoy a las 11:00. Responda a este mensaje si necesita cambiarla.")
        #expect(w.twilio.sent(to: phones[1]).first?.body.hasPrefix("Hi Tom") == true)
    }
}

/// When Twilio fails: claims given back, settled from Twilio's records, never sent twice.
@Suite struct JobsRemindersFailureTests {
    @Test func whenTwilioKeepsFailingWith5xxTheClaimIsGivenBackAndTheNextRunSends() throws {
        var w = ReminderWorld()
        let ws = w.workspace()
        let patient = w.patient(ws, name: "Noa", wroteAt: Date())
        let appt = w.appointment(patient, doctor: nil, startsAt: Date().addingTimeInterval(3600))
        // Three 503s: the three attempts of one run all fail.
        let unavailable = TwilioError(httpStatus: 503, code: nil, message: "Service Unavailable", moreInfo: nil)
        w.twilio.faults[patient.phone] = Array(repeating: .refuse(unavailable), count: 3)
        let first = try w.run()
        #expect(first.sent == 0 && first.released == 1, "\(first)")
        #expect(w.logRows(appt).isEmpty)
        #expect(w.twilio.accepted.isEmpty)
        let second = try w.run()
        #expect(second.sent == 1, "\(second)")
        #expect(w.logRows(appt).map(\.status) == ["sent"])
        #expect(w.twilio.accepted.count == 1)
    }

    /// Twilio answers 500 although it recorded (and sends) the reminder. Before the retry the job asks
    /// Twilio's Messages list for that patient since the claim: a match is recorded as sent.
    @Test func aFiveHundredAfterTwilioRecordedTheReminderIsNotSentTwice() throws {
        var w = ReminderWorld()
        let ws = w.workspace()
        let patient = w.patient(ws, name: "Noa", wroteAt: Date())
        let appt = w.appointment(patient, doctor: nil, startsAt: Date().addingTimeInterval(3600))
        w.twilio.faults[patient.phone] = [.afterAccepting(TwilioError(httpStatus: 500, code: nil, message: "Internal Server Error", moreInfo: nil))]
        let summary = try w.run(retry: RetryPolicy(maxAttempts: 3, baseSeconds: 0.05))
        #expect(summary.sent == 1 && summary.failed == 0 && summary.released == 0, "\(summary)")
        let got = w.twilio.sent(to: patient.phone)
        #expect(got.count == 1, "\(got)")
        let log = try #require(w.store.logRows(appt).first)
        #expect(log.status == "sent")
        #expect(log.sid == got.first?.sid)
        #expect(log.messageID.flatMap { w.twilio.recorded[$0] } == got.first?.sid)
        // A second run finds it done.
        #expect(try w.run().sent == 0)
        #expect(w.twilio.accepted.count == 1)
    }

    /// The same with a timeout: Twilio records the reminder but the answer never arrives in time.
    @Test func aTimeoutAfterTwilioRecordedTheReminderIsNotSentTwice() throws {
        var w = ReminderWorld()
        let ws = w.workspace()
        let patient = w.patient(ws, name: "Ivo", wroteAt: Date())
        let appt = w.appointment(patient, doctor: nil, startsAt: Date().addingTimeInterval(3600))
        w.twilio.faults[patient.phone] = [.afterAccepting(TwilioTransportError(code: .timeout, message: "Operation timed out after 1000 milliseconds"))]
        let summary = try w.run(retry: RetryPolicy(maxAttempts: 3, baseSeconds: 0.05))
        #expect(summary.sent == 1 && summary.failed == 0, "\(summary)")
        #expect(w.twilio.sent(to: patient.phone).count == 1)
        #expect(w.logRows(appt).map(\.status) == ["sent"])
    }

    /// When Twilio's Messages list cannot be read after an ambiguous failure, nobody knows whether the
    /// reminder went out: it is recorded failed (twilio_unknown), never sent again.
    @Test func anAmbiguousFailureWhoseListCannotBeReadIsNeverResent() throws {
        var w = ReminderWorld()
        let ws = w.workspace()
        let patient = w.patient(ws, name: "Eli", wroteAt: Date())
        let appt = w.appointment(patient, doctor: nil, startsAt: Date().addingTimeInterval(3600))
        w.twilio.faults[patient.phone] = [.afterAccepting(TwilioError(httpStatus: 502, code: nil, message: "Bad Gateway", moreInfo: nil))]
        w.twilio.listUnreadable = true
        let summary = try w.run(retry: RetryPolicy(maxAttempts: 3, baseSeconds: 0.05))
        #expect(summary.sent == 0 && summary.failed == 1 && summary.released == 0, "\(summary)")
        #expect(w.logRows(appt).map { "\($0.status)/\($0.reason ?? "")" } == ["failed/twilio_unknown"])
        #expect(w.twilio.accepted.count == 1)
        // The next run does not try again either.
        _ = try w.run()
        #expect(w.twilio.accepted.count == 1)
    }

    @Test func whenTwilioSaysTheWindowClosedTheReminderGoesAsTheTemplateOrIsSkipped() throws {
        var w = ReminderWorld()
        let now = Date()
        let withTemplate = w.workspace(contentSids: ["appt_reminder": ["en": "HXreminderEN00000000000000000000"]])
        let without = w.workspace()
        var cases: [(String, Int64)] = []
        for ws in [withTemplate, without] {
            // Our records: wrote an hour ago. Twilio: 30 hours ago.
            let patient = w.patient(ws, name: "Ines", wroteAt: now.addingTimeInterval(-3600), twilioWindowOpen: false)
            cases.append((patient.phone, w.appointment(patient, doctor: nil, startsAt: now.addingTimeInterval(7200))))
        }
        let summary = try w.run(now: now)
        #expect(summary.sent == 1 && summary.skipped == ["window_closed": 1] && summary.failed == 0, "\(summary)")
        #expect(w.twilio.sent(to: cases[0].0).map(\.contentSid) == ["HXreminderEN00000000000000000000"])
        #expect(w.logRows(cases[0].1).map(\.status) == ["sent"])
        #expect(w.twilio.sent(to: cases[1].0).isEmpty)
        #expect(w.logRows(cases[1].1).map { "\($0.status)/\($0.reason ?? "")" } == ["skipped/window_closed"])
    }

    /// A clinic without a sender claims nothing, so its reminders go once one is linked.
    @Test func aClinicWithoutASenderClaimsNothing() throws {
        var w = ReminderWorld()
        let ws = w.workspace(sender: false)
        let patient = w.patient(ws, name: "Ada", wroteAt: Date())
        let appt = w.appointment(patient, doctor: nil, startsAt: Date().addingTimeInterval(3600))
        let summary = try w.run()
        #expect(summary.workspaces == 1 && summary.workspacesWithoutSender == 1 && summary.sent == 0, "\(summary)")
        #expect(w.logRows(appt).isEmpty)
    }
}
