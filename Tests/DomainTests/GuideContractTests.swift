import Domain
import Foundation
import Testing
import TestSupport
import HTTPClient
import Postgres
import Twilio

private func utc(_ s: String) -> Date { ISO8601DateFormatter().date(from: s)! }

/// Where the product guide's contract and ours differed: templates, troubleshooting hints.
@Suite struct GuideTemplateTests {
    @Test func templatesTakeTheGuidesDateAndTimeForWhen() throws {
        let en = try Templates.render(key: "appt_confirmed", language: "en", variables: [
            "patient_name": "Ana", "date": "3 Dec", "time": "9:00 AM", "doctor_name": "Dr. Ruiz", "clinic_name": "Clínica Norte"])
        #expect(en == "Hi Ana, your appointment with Dr. Ruiz on 3 Dec at 9:00 AM at Clínica Norte is confirmed.")
        let es = try Templates.render(key: "reschedule", language: "es", variables: ["patient_name": "Ana", "date": "3 dic", "doctor_name": "Dra. Vega"])
        #expect(es == "Hola Ana, necesitamos cambiar su cita con Dra. Vega el 3 dic. Responda con un horario que le convenga.")
        // `when` still works and wins over date/time.
        let when = try Templates.render(key: "pre_visit", language: "en", variables: [
            "patient_name": "Bo", "when": "tomorrow at 9:00 AM", "date": "ignored", "clinic_name": "C"])
        #expect(when.contains("before your appointment tomorrow at 9:00 AM at C"))
        // Content SIDs get the same composed value.
        #expect(Templates.contentVariables(key: "appt_reminder", variables: ["patient_name": "Ana", "doctor_name": "X", "date": "3 dic", "time": "9:00"],
                                           language: "es") == ["1": "Ana", "2": "X", "3": "el 3 dic a las 9:00"])
    }

    @Test func missingVariablesAreNamedAsTheGuideNamesThem() {
        var message = ""
        do { _ = try Templates.render(key: "appt_reminder", language: "en", variables: ["patient_name": "Ana", "doctor_name": "X"]) } catch {
            message = error.message
        }
        #expect(message == "The template appt_reminder needs: date, time.")
    }

    @Test func everyTemplateHasTheGuidesCategoryAndVariables() {
        let byKey = Dictionary(uniqueKeysWithValues: Templates.list().map { ($0.key, $0) })
        #expect(byKey["appt_reminder"]?.guideVariables == ["patient_name", "date", "time"])
        #expect(byKey["appt_confirmed"]?.guideVariables == ["patient_name", "date", "time", "doctor_name"])
        #expect(byKey["followup"]?.guideVariables == ["patient_name"])
        #expect(byKey["pre_visit"]?.guideVariables == ["patient_name", "date"])
        #expect(byKey["reschedule"]?.guideVariables == ["patient_name", "date"])
        #expect(byKey["custom"]?.category == "marketing")
        for key in ["appt_reminder", "appt_confirmed", "followup", "pre_visit", "reschedule"] { #expect(byKey[key]?.category == "utility") }
    }

    @Test func troubleshootingHintsForA401AndForA63112() {
        let wrong = TwilioError(httpStatus: 401, code: 20003, message: "Authenticate", moreInfo: nil).explanation
        #expect(wrong.contains("wrong") && wrong.contains("zero balance"), "\(wrong)")
        let bare = TwilioError(httpStatus: 401, code: nil, message: "Unauthorized", moreInfo: nil).explanation
        #expect(bare.contains("zero balance"), "\(bare)")
        let meta = TwilioError.explanation(for: 63112) ?? ""
        #expect(meta.contains("disabled the WhatsApp Business Account") && meta.contains("billing lapse"), "\(meta)")
        #expect(meta.contains("Recharge") && meta.contains("open a ticket"), "\(meta)")
        // What staff read when a send is refused, and what the status callback stores on the message.
        #expect(AppError(TwilioError(httpStatus: 400, code: 63112, message: "x", moreInfo: nil)).message.contains("billing lapse"))
        #expect(AppError(TwilioError(httpStatus: 401, code: 20003, message: "x", moreInfo: nil)).message.contains("zero balance"))
        #expect(StatusCallback.explanation(for: 63112).contains("open a ticket"))
    }
}

/// `medsync-jobs reminders` with the guide's defaults, against a fresh database and the sandbox (the
/// reminder language of a patient without one: JobsRemindersTests).
@Suite(.needsStack) struct GuideReminderTests {
    @Test func aNewClinicSendsNoRemindersUntilItTurnsThemOnThenReminderDefaultSendsTheReminder() throws {
        let w = try JobsWorld()
        let now = utc("2026-06-10T08:00:00Z")
        // As `medsync-jobs workspace create` makes it.
        let ws = try Workspaces.create(w.conn, name: "Clínica \(UUID().uuidString.prefix(6))", timezone: "UTC").id
        let sender = try w.sender(ws)
        let doctor = try w.doctor(ws, name: "Dr. Ruiz")
        let phone = JobsWorld.randomPhone()
        let patient = try w.patient(ws, phone: phone, name: "Tom", language: "en")
        try w.window(ws, patient: patient, phone: phone, sender: sender, at: now.addingTimeInterval(-600))
        _ = try w.appointment(ws, patient: patient, doctor: doctor, startsAt: utc("2026-06-10T11:00:00Z"))

        let off = try ReminderJob.run(w.conn, http: HTTPClient(), config: w.config(), clock: FixedClock(now))
        #expect(off.workspaces == 0 && off.sent == 0, "\(off)")
        #expect(try w.sent(from: sender).isEmpty)
        #expect(try w.conn.query("SELECT count(*) AS n FROM reminder_log").first?.int("n") == 0)

        let settings = try ReminderSettings.put(w.conn, actor: StaffActor(userID: doctor, workspaceID: ws, role: .owner), .init(enabled: true))
        #expect(settings.templateKey == "reminder_default")
        let on = try ReminderJob.run(w.conn, http: HTTPClient(), config: w.config(), clock: FixedClock(now))
        #expect(on.sent == 1, "\(on)")
        #expect(try w.sent(from: sender).map { $0["body"] as? String }
                == ["Hi Tom, this is a reminder of your appointment with Dr. Ruiz today at 11:00 AM. Reply to this message if you need to change it."])
    }
}
