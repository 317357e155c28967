import Domain
import Foundation
import Testing
import TestSupport
import HTTPClient
import Postgres
import Twilio

@Suite struct MessagingTemplateTests {
    @Test func everyTemplateExistsInEnglishAndSpanishWithItsVariables() throws {
        #expect(Templates.list().map(\.key) == ["appt_reminder", "appt_confirmed", "followup", "pre_visit", "reschedule", "custom"])
        for t in Templates.list() {
            #expect(Set(t.bodies.keys) == ["en", "es"])
            for body in t.bodies.values { #expect(Set(Templates.placeholders(in: body)) == Set(t.variables), "\(t.key)") }
        }
        let text = try Templates.render(key: "appt_reminder", language: "es",
                                        variables: ["patient_name": "Ana", "doctor_name": "Dr. Ruiz", "when": "mañana a las 9:00"])
        #expect(text == "Hola Ana, le recordamos su cita con Dr. Ruiz mañana a las 9:00. Responda a este mensaje si necesita cambiarla.")
        #expect(Templates.contentVariables(key: "appt_reminder", variables: ["patient_name": "Ana", "doctor_name": "X", "when": "W"])
                == ["1": "Ana", "2": "X", "3": "W"])
    }

    @Test func missingVariablesUnknownTemplatesAndLanguagesAreClearErrors() {
        func code(_ body: () throws -> Void) -> String? {
            do { try body() } catch let e as AppError { return "\(e.code.rawValue): \(e.message)" } catch { return "\(error)" }
            return nil
        }
        #expect(code { _ = try Templates.render(key: "appt_reminder", language: "en", variables: ["patient_name": "Ana"]) }
                == "missing_variables: The template appt_reminder needs: doctor_name, date, time.")
        #expect(code { _ = try Templates.render(key: "nope", language: "en", variables: [:]) }?.hasPrefix("unknown_template") == true)
        #expect(code { _ = try Templates.render(key: "custom", language: "fr", variables: ["message": "x"]) }?.hasPrefix("unsupported_language") == true)
        // Free text fills what it knows and leaves the rest as written.
        #expect(Templates.fill("Hi {name}, {unknown} {", ["name": "Bo"]) == "Hi Bo, {unknown} {")
    }
}

/// `Outbound.send` against a fresh database and the sandbox.
@Suite(.needsStack) struct MessagingOutboundTests {
    private func appError(_ body: () throws -> Void) -> String? {
        do { try body() } catch let e as AppError { return e.code.rawValue } catch { return "\(error)" }
        return nil
    }

    @Test func checksConsentSenderAndWindowBeforeCallingTwilio() throws {
        let w = try JobsWorld()
        let http = try HTTPClient()
        let config = try w.config()
        let noSender = try w.workspace()
        let p0 = try w.patient(noSender, name: "Solo")
        #expect(appError { _ = try Outbound.send(w.conn, http: http, config: config, OutboundRequest(workspaceID: noSender, patientID: p0, content: .freeform("hi"))) } == "no_active_sender")

        let ws = try w.workspace()
        let sender = try w.sender(ws)
        let noConsent = try w.patient(ws, name: "NoConsent", consent: false)
        #expect(appError { _ = try Outbound.send(w.conn, http: http, config: config, OutboundRequest(workspaceID: ws, patientID: noConsent, content: .freeform("hi"))) } == "no_consent")
        // Another workspace's patient is not found.
        #expect(appError { _ = try Outbound.send(w.conn, http: http, config: config, OutboundRequest(workspaceID: ws, patientID: p0, content: .freeform("hi"))) } == "patient_not_found")

        // The sandbox would accept it (window open there), but our records say the patient wrote 25 h ago.
        let phone = JobsWorld.randomPhone()
        let closed = try w.patient(ws, phone: phone, name: "Closed")
        try w.window(ws, patient: closed, phone: phone, sender: sender, at: Date().addingTimeInterval(-25 * 3600))
        #expect(appError { _ = try Outbound.send(w.conn, http: http, config: config, OutboundRequest(workspaceID: ws, patientID: closed, content: .freeform("hi"))) } == "window_closed")
        #expect(try w.sent(from: sender).isEmpty)
        #expect(try w.conn.query("SELECT count(*) AS n FROM whatsapp_messages").first!.int("n") == 0)
    }

    @Test func sendsThroughTheSubaccountWithOurStatusCallbackAndRecordsTwiliosSID() throws {
        let w = try JobsWorld()
        let http = try HTTPClient()
        let ws = try w.workspace()
        let sender = try w.sender(ws, subaccount: true)
        let phone = JobsWorld.randomPhone()
        let patient = try w.patient(ws, phone: phone, name: "Eva")
        try w.window(ws, patient: patient, phone: phone, sender: sender, at: Date().addingTimeInterval(-60))
        let result = try Outbound.send(w.conn, http: http, config: w.config(),
                                       OutboundRequest(workspaceID: ws, patientID: patient, content: .freeform("See you soon ✅")))
        let received = try w.sent(from: sender)
        #expect(received.count == 1)
        #expect(received.first?["sid"] as? String == result.twilioSID)
        #expect(received.first?["account_sid"] as? String == sender.accountSID)
        #expect(sender.accountSID != w.masterSID)
        #expect(received.first?["status_callback"] as? String == "http://127.0.0.1:9/api/webhooks/whatsapp/status")
        let row = try #require(try w.conn.query("SELECT * FROM whatsapp_messages WHERE id = \(result.messageID)").first)
        #expect(row.string("twilio_sid") == result.twilioSID && row.string("direction") == "outbound")
        #expect(row.string("body") == "See you soon ✅" && row.string("status") == "queued")
        // Settling it again (a run that recorded it and died before answering, its key taken over):
        // the row with Twilio's SID is the answer, never a second row (the retry would send again).
        let listed = try JSONDecoder().decode(TwilioMessage.self, from: Data("""
            {"sid": "\(result.twilioSID)", "account_sid": "\(sender.accountSID)", "status": "delivered", "to": "whatsapp:\(phone)", "from": "whatsapp:x"}
            """.utf8))
        let prepared = try Outbound.prepare(w.conn, OutboundRequest(workspaceID: ws, patientID: patient, content: .freeform("See you soon ✅")))
        let settled = try Outbound.recordSettled(w.conn, prepared, listed)
        #expect(settled.messageID == result.messageID)
        #expect(try w.conn.query("SELECT count(*) AS n FROM whatsapp_messages WHERE twilio_sid = \(result.twilioSID)").first?.int("n") == 1)
    }

    @Test func aContentTemplateGoesOutsideTheWindowAndTwilioErrorsAreStoredOnTheMessage() throws {
        let w = try JobsWorld()
        let http = try HTTPClient()
        let ws = try w.workspace(contentSids: #"{"followup": {"es": "HXfollowupES000000000000000000000"}}"#)
        let sender = try w.sender(ws)
        let phone = JobsWorld.randomPhone()
        let patient = try w.patient(ws, phone: phone, name: "Juan", language: "es")
        let vars = ["patient_name": "Juan", "doctor_name": "Dra. Vega"]
        let result = try Outbound.send(w.conn, http: http, config: w.config(), OutboundRequest(
            workspaceID: ws, patientID: patient, content: .template(key: "followup", language: "es", variables: vars)))
        #expect(result.contentSid == "HXfollowupES000000000000000000000")
        let received = try w.sent(from: sender)
        #expect(received.first?["content_sid"] as? String == "HXfollowupES000000000000000000000")
        #expect(received.first?["content_variables"] as? [String: String] == ["1": "Juan", "2": "Dra. Vega"])

        // Inside the window, a Twilio refusal is thrown typed and kept on the message with its explanation.
        try w.window(ws, patient: patient, phone: phone, sender: sender, at: Date())
        try w.control("POST", "/sandbox/faults", #"{"api":"twilio_messages","kind":"twilio_error","code":63024,"count":1,"to":"\#(phone)"}"#)
        var thrown: TwilioError?
        do {
            _ = try Outbound.send(w.conn, http: http, config: w.config(), OutboundRequest(workspaceID: ws, patientID: patient, content: .freeform("hola")))
        } catch let e as TwilioError { thrown = e }
        #expect(thrown?.code == 63024 && thrown?.isRetryable == false)
        let failed = try #require(try w.conn.query("SELECT * FROM whatsapp_messages WHERE status = 'failed'").first)
        #expect(failed.int("error_code") == 63024)
        #expect(failed.string("error_message")?.contains("cannot receive WhatsApp messages") == true)
    }
}
