import Domain
import Foundation
import Testing
import TestSupport
import HTTPClient
import MedsyncConfig
import MedsyncCrypto
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

private func appError(_ body: () throws -> Void) -> String? {
    do { try body() } catch let e as AppError { return e.code.rawValue } catch { return "\(error)" }
    return nil
}

/// A configuration whose Twilio is a closed port: a send that reached Twilio would fail with
/// "no answer", never with one of the checks' codes.
private func unreachableTwilio() throws -> Config {
    try Config.load(environment: ["TWILIO_ACCOUNT_SID": "AC" + String(repeating: "0", count: 32), "TWILIO_AUTH_TOKEN": "token",
                                  "TWILIO_API_BASE_URL": "http://127.0.0.1:9", "TWILIO_WEBHOOK_BASE_URL": "http://127.0.0.1:9"], dotEnvPath: nil)
}

/// `Outbound`'s checks and records on the in-memory store (no PostgreSQL, no Twilio).
@Suite struct OutboundTests {
    @Test func checksConsentSenderAndWindowBeforeCallingTwilio() throws {
        let store = MemoryMessageStore()
        let http = try HTTPClient()
        let config = try unreachableTwilio()
        let noSender: Int64 = 100
        let p0 = store.addPatient(workspaceID: noSender, phone: "+15550000001", name: "Solo")
        #expect(appError { _ = try Outbound.send(store, http: http, config: config, OutboundRequest(workspaceID: noSender, patientID: p0, content: .freeform("hi"))) } == "no_active_sender")

        let ws: Int64 = 200
        let sender = store.addSender(workspaceID: ws, phone: "+15550001000")
        let noConsent = store.addPatient(workspaceID: ws, phone: "+15550000002", name: "NoConsent", consent: false)
        #expect(appError { _ = try Outbound.send(store, http: http, config: config, OutboundRequest(workspaceID: ws, patientID: noConsent, content: .freeform("hi"))) } == "no_consent")
        // Another workspace's patient is not found.
        #expect(appError { _ = try Outbound.send(store, http: http, config: config, OutboundRequest(workspaceID: ws, patientID: p0, content: .freeform("hi"))) } == "patient_not_found")
        // An inactive sender chosen by id is refused.
        let inactive = store.addSender(workspaceID: ws, phone: "+15550001001", primary: false, active: false)
        let open = store.addPatient(workspaceID: ws, phone: "+15550000004", name: "Open")
        store.window(workspaceID: ws, patientID: open, senderID: sender.id, at: Date())
        #expect(appError { _ = try Outbound.send(store, http: http, config: config, OutboundRequest(workspaceID: ws, patientID: open, content: .freeform("hi"), senderID: inactive.id)) } == "no_active_sender")
        #expect(appError { _ = try Outbound.send(store, http: http, config: config, OutboundRequest(workspaceID: ws, patientID: open, content: .freeform("  "))) } == "empty_body")

        // Our records say the patient wrote 25 h ago: closed, whatever Twilio would say.
        let closed = store.addPatient(workspaceID: ws, phone: "+15550000003", name: "Closed")
        store.window(workspaceID: ws, patientID: closed, senderID: sender.id, at: Date().addingTimeInterval(-25 * 3600))
        #expect(appError { _ = try Outbound.send(store, http: http, config: config, OutboundRequest(workspaceID: ws, patientID: closed, content: .freeform("hi"))) } == "window_closed")
        // A template without a Content SID is checked as free text; with one it may go (prepared, not sent here).
        let template = OutboundContent.template(key: "followup", language: "en", variables: ["patient_name": "C", "doctor_name": "D"])
        #expect(appError { _ = try Outbound.prepare(store, OutboundRequest(workspaceID: ws, patientID: closed, content: template)) } == "window_closed")
        store.contentSids[ws] = ["followup": ["en": "HXfollowupEN000000000000000000000"]]
        let prepared = try Outbound.prepare(store, OutboundRequest(workspaceID: ws, patientID: closed, content: template))
        #expect(prepared.contentSid == "HXfollowupEN000000000000000000000" && prepared.contentVariables == ["1": "C", "2": "D"])
        #expect(store.messages.isEmpty)
    }

    @Test func aMessageTwilioSentIsRecordedOnceBySID() throws {
        let store = MemoryMessageStore()
        let ws: Int64 = 1
        let sender = store.addSender(workspaceID: ws, phone: "+15550001000")
        let patient = store.addPatient(workspaceID: ws, phone: "+15550000001", name: "Eva")
        let prepared = try Outbound.prepare(store, OutboundRequest(workspaceID: ws, patientID: patient, content: .freeform("See you soon ✅"), checkWindow: false))
        #expect(prepared.sender == sender && prepared.conversationID == nil)
        let listed = try JSONDecoder().decode(TwilioMessage.self, from: Data("""
            {"sid": "SM0001", "account_sid": "AC1", "status": "delivered", "to": "whatsapp:+15550000001", "from": "whatsapp:x"}
            """.utf8))
        let first = try Outbound.recordSettled(store, prepared, listed)
        #expect(first.status == "delivered" && first.twilioSID == "SM0001")
        // Settling it again (a run that recorded it and died before answering, its key taken over):
        // the row with Twilio's SID is the answer, never a second row.
        let again = try Outbound.recordSettled(store, prepared, listed)
        #expect(again.messageID == first.messageID && again.conversationID == first.conversationID)
        #expect(store.messages.filter { $0.sid == "SM0001" }.count == 1)
        // Twilio's status the schema does not know is stored as queued.
        #expect(OutboundMessage.storedStatus("accepted") == "queued" && OutboundMessage.storedStatus("accepted", else: "sent") == "sent")
    }
}

/// The sandbox (Twilio's stand-in, `make test`'s stack) with the rows in memory: senders registered
/// there (a subaccount's token stored Fernet-encrypted), the patient's window there and in the store.
/// Every phone number is random, so tests sharing the sandbox never see each other's messages.
private struct SandboxWorld {
    let store = MemoryMessageStore()
    let sandboxURL: String
    let masterSID: String
    let masterToken: String
    let fernetKey = "bWVkc3luYy1kZXYtZmVybmV0LWtleS1ub3QtcHJvZCE="

    init() throws {
        let env = try StackEnvironment.shared()
        sandboxURL = try env.sandboxURL
        masterSID = try env["TWILIO_ACCOUNT_SID"]
        masterToken = try env["TWILIO_AUTH_TOKEN"]
    }

    func config() throws -> Config {
        try Config.load(environment: ["TWILIO_ACCOUNT_SID": masterSID, "TWILIO_AUTH_TOKEN": masterToken, "TWILIO_API_BASE_URL": sandboxURL,
                                      "MEDSYNC_FERNET_KEY": fernetKey, "TWILIO_WEBHOOK_BASE_URL": "http://127.0.0.1:9"], dotEnvPath: nil)
    }

    func sender(_ workspaceID: Int64, subaccount: Bool = false) throws -> JobsWorld.Sender {
        let phone = JobsWorld.randomPhone("+1555")
        var accountSID = masterSID
        var tokenEnc: String? = nil
        var subSID: String? = nil
        if subaccount {
            let account = try TwilioClient(accountSID: masterSID, authToken: masterToken, baseURL: sandboxURL, http: try HTTPClient())
                .createSubaccount(friendlyName: "messaging test \(phone)")
            accountSID = account.sid
            subSID = account.sid
            tokenEnc = try Fernet(key: fernetKey).encrypt(account.authToken)
        }
        try control("POST", "/sandbox/numbers", #"{"phone_number":"\#(phone)","account_sid":"\#(accountSID)"}"#)
        let s = store.addSender(workspaceID: workspaceID, phone: phone, subaccountSID: subSID, subaccountTokenEncrypted: tokenEnc)
        return JobsWorld.Sender(id: s.id, phone: phone, accountSID: accountSID)
    }

    /// The patient wrote to the sender at `at` (our records) and an hour ago (the sandbox's clock).
    func window(_ workspaceID: Int64, patient: Int64, phone: String, sender: JobsWorld.Sender, at: Date) throws {
        store.window(workspaceID: workspaceID, patientID: patient, senderID: sender.id, at: at)
        try control("POST", "/sandbox/patients/window", #"{"patient":"\#(phone)","sender":"\#(sender.phone)","hours_ago":1}"#)
    }

    @discardableResult
    func control(_ method: String, _ path: String, _ body: String? = nil) throws -> [String: Any] {
        let response = try http(HTTPRequest(method: method, url: sandboxURL + path,
                                            headers: body == nil ? [] : [("Content-Type", "application/json")], body: Array((body ?? "").utf8)))
        guard (200..<300).contains(response.status),
              let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        else { throw TestSetupError("sandbox \(method) \(path) answered \(response.status): \(response.text)") }
        return object
    }

    /// Every message the sandbox accepted from this sender number.
    func sent(from sender: JobsWorld.Sender) throws -> [[String: Any]] {
        try control("GET", "/sandbox/messages?from=\(sender.phone.replacingOccurrences(of: "+", with: "%2B"))")["messages"] as? [[String: Any]] ?? []
    }
}

/// `Outbound.send` against the sandbox (what Twilio received), the rows in memory.
@Suite(.needsStack) struct MessagingOutboundTests {
    @Test func sendsThroughTheSubaccountWithOurStatusCallbackAndRecordsTwiliosSID() throws {
        let w = try SandboxWorld()
        let store = w.store
        let http = try HTTPClient()
        let ws: Int64 = 1
        let sender = try w.sender(ws, subaccount: true)
        let phone = JobsWorld.randomPhone()
        let patient = store.addPatient(workspaceID: ws, phone: phone, name: "Eva")
        try w.window(ws, patient: patient, phone: phone, sender: sender, at: Date().addingTimeInterval(-60))
        let result = try Outbound.send(store, http: http, config: w.config(),
                                       OutboundRequest(workspaceID: ws, patientID: patient, content: .freeform("See you soon ✅")))
        let received = try w.sent(from: sender)
        #expect(received.count == 1)
        #expect(received.first?["sid"] as? String == result.twilioSID)
        #expect(received.first?["account_sid"] as? String == sender.accountSID)
        #expect(sender.accountSID != w.masterSID)
        #expect(received.first?["status_callback"] as? String == "http://127.0.0.1:9/api/webhooks/whatsapp/status")
        let row = try #require(store.messages.first { $0.id == result.messageID })
        #expect(row.sid == result.twilioSID && row.direction == "outbound")
        #expect(row.body == "See you soon ✅" && row.status == "queued")
        // Settling it again (a run that recorded it and died before answering, its key taken over):
        // the row with Twilio's SID is the answer, never a second row (the retry would send again).
        let listed = try JSONDecoder().decode(TwilioMessage.self, from: Data("""
            {"sid": "\(result.twilioSID)", "account_sid": "\(sender.accountSID)", "status": "delivered", "to": "whatsapp:\(phone)", "from": "whatsapp:x"}
            """.utf8))
        let prepared = try Outbound.prepare(store, OutboundRequest(workspaceID: ws, patientID: patient, content: .freeform("See you soon ✅")))
        let settled = try Outbound.recordSettled(store, prepared, listed)
        #expect(settled.messageID == result.messageID)
        #expect(store.messages.filter { $0.sid == result.twilioSID }.count == 1)
    }

    @Test func aContentTemplateGoesOutsideTheWindowAndTwilioErrorsAreStoredOnTheMessage() throws {
        let w = try SandboxWorld()
        let store = w.store
        let http = try HTTPClient()
        let ws: Int64 = 1
        store.contentSids[ws] = ["followup": ["es": "HXfollowupES000000000000000000000"]]
        let sender = try w.sender(ws)
        let phone = JobsWorld.randomPhone()
        let patient = store.addPatient(workspaceID: ws, phone: phone, name: "Juan", language: "es")
        let vars = ["patient_name": "Juan", "doctor_name": "Dra. Vega"]
        let result = try Outbound.send(store, http: http, config: w.config(), OutboundRequest(
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
            _ = try Outbound.send(store, http: http, config: w.config(), OutboundRequest(workspaceID: ws, patientID: patient, content: .freeform("hola")))
        } catch let e as TwilioError { thrown = e }
        #expect(thrown?.code == 63024 && thrown?.isRetryable == false)
        let failed = try #require(store.messages.first { $0.status == "failed" })
        #expect(failed.errorCode == 63024)
        #expect(failed.errorMessage?.contains("cannot receive WhatsApp messages") == true)
    }
}
