import Domain
import Foundation
import TestSupport
import Testing
import MedsyncCrypto
import HTTPClient
import Postgres

/// Staff sending through nginx → medsync-fcgi → the sandbox (Twilio stand-in), as a clinic's owner.
struct StaffClient {
    let clinic: StackClinic
    let token: String

    init(subaccount: Bool = false) throws {
        clinic = try StackClinic(subaccount: subaccount)
        let user = try Users.create(clinic.conn, email: "owner-\(Crypto.hex(Crypto.randomBytes(4)))@e2e.test", name: "Owner",
                                    workspaceID: clinic.workspaceID, role: .owner)
        token = try Tokens.create(clinic.conn, userID: user.id)
    }

    struct Answer {
        let status: Int
        let json: [String: Any]
        let text: String
        var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
    }

    func call(_ method: String, _ path: String, _ body: [String: Any]? = nil, headers: [(String, String)] = []) throws -> Answer {
        var request = HTTPRequest(method: method, url: try clinic.appURL + path,
                                  headers: [("Authorization", "Bearer \(token)"), ("X-Account-Id", String(clinic.workspaceID))] + headers)
        if let body {
            request.body = [UInt8](try JSONSerialization.data(withJSONObject: body))
            request.headers.append(("Content-Type", "application/json"))
        }
        let r = try http(request)
        let text = String(decoding: r.body, as: UTF8.self)
        return Answer(status: r.status, json: (try? JSONSerialization.jsonObject(with: Data(r.body))) as? [String: Any] ?? [:], text: text)
    }

    func patientID(_ phone: String) throws -> Int64 {
        try #require(try clinic.conn.query("SELECT id FROM patients WHERE workspace_id = \(clinic.workspaceID) AND phone = \(phone)").first?.int64("id"))
    }

    /// A patient who never wrote (so no 24-hour window), with consent.
    func silentPatient(language: String = "en") throws -> (id: Int64, phone: String) {
        let phone = StackClinic.patient()
        let id = try clinic.conn.query("""
            INSERT INTO patients (workspace_id, phone, name, preferred_language, consent_whatsapp) VALUES (\(clinic.workspaceID), \(phone), 'Silent', \(language), true) RETURNING id
            """).first!.int64("id")!
        return (id, phone)
    }

    /// What the sandbox says the patient received.
    func received(_ phone: String) throws -> [[String: Any]] {
        let r = try clinic.sandbox("GET", "/sandbox/patients/\(phone)/messages")
        return ((try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any])?["messages"] as? [[String: Any]]) ?? []
    }

    /// Waits (bounded) for the message row to reach `status`; returns the last status seen.
    func waitForStatus(messageID: Int64, _ status: String) throws -> String? {
        var last: String? = nil
        for _ in 0..<100 {
            last = try clinic.conn.query("SELECT status FROM whatsapp_messages WHERE id = \(messageID)").first?.string("status")
            if last == status { return last }
            Thread.sleep(forTimeInterval: 0.1)
        }
        return last
    }
}

@Suite("Staff sending end to end (nginx, medsync-fcgi, sandbox)", .needsStack)
struct StaffSendTests {
    @Test("send inside the window → delivered with our StatusCallback, status moves to read")
    func sendInsideWindow() throws {
        let c = try StaffClient()
        let phone = StackClinic.patient()
        try c.clinic.say(phone, "Hello there")
        let r = try c.call("POST", "/api/whatsapp/send", ["patient_id": try c.patientID(phone), "body": "Your results are ready."])
        #expect(r.status == 201, "\(r.text)")
        let sid = try #require(r.json["twilio_sid"] as? String)
        let got = try c.received(phone).filter { $0["sid"] as? String == sid }
        #expect(got.count == 1)
        #expect(got.first?["body"] as? String == "Your results are ready.")
        #expect(got.first?["status_callback"] as? String == (try c.clinic.appURL) + "/api/webhooks/whatsapp/status")
        let messageID = try #require(r.json["message_id"] as? Int)
        #expect(try c.waitForStatus(messageID: Int64(messageID), "read") == "read")
        let audit = try c.clinic.conn.query("SELECT count(*) AS n FROM audit_log WHERE workspace_id = \(c.clinic.workspaceID) AND action = 'whatsapp.send'")
        #expect(audit.first?.int("n") == 1)
    }

    @Test("send outside the window → window_closed, Twilio never called")
    func sendOutsideWindow() throws {
        let c = try StaffClient()
        let p = try c.silentPatient()
        let r = try c.call("POST", "/api/whatsapp/send", ["patient_id": p.id, "body": "Hi"])
        #expect(r.status == 409)
        #expect(r.errorCode == "window_closed")
        #expect(r.text.contains("/api/whatsapp/send-template"))
        #expect(try c.received(p.phone).isEmpty)
        let noConsent = try c.clinic.conn.query("""
            INSERT INTO patients (workspace_id, phone, consent_whatsapp) VALUES (\(c.clinic.workspaceID), \(StackClinic.patient()), false) RETURNING id
            """).first!.int64("id")!
        #expect(try c.call("POST", "/api/whatsapp/send", ["patient_id": noConsent, "body": "Hi"]).errorCode == "no_consent")
    }

    @Test("template outside the window with a Content SID → delivered via ContentSid + ContentVariables")
    func templateOutsideWindow() throws {
        let c = try StaffClient()
        let contentSid = "HX" + Crypto.hex(Crypto.randomBytes(16))
        try c.clinic.conn.execute("UPDATE workspaces SET content_sids = jsonb_build_object('followup', jsonb_build_object('es', \(contentSid)::text)) WHERE id = \(c.clinic.workspaceID)")
        let p = try c.silentPatient(language: "es")
        let list = try c.call("GET", "/api/whatsapp/templates")
        let followup = (list.json["templates"] as? [[String: Any]])?.first { $0["id"] as? String == "followup" }
        #expect((followup?["content_sids"] as? [String: String])?["es"] == contentSid)
        #expect(followup?["variables"] as? [String] == ["patient_name", "doctor_name"])

        let r = try c.call("POST", "/api/whatsapp/send-template", ["patient_id": p.id, "template_id": "followup",
                                                                   "variables": ["patient_name": "Ana", "doctor_name": "Dra. Ruiz"]])
        #expect(r.status == 201, "\(r.text)")
        #expect(r.json["content_sid"] as? String == contentSid)
        let got = try c.received(p.phone)
        #expect(got.count == 1)
        #expect(got.first?["content_sid"] as? String == contentSid)
        #expect(got.first?["content_variables"] as? [String: String] == ["1": "Ana", "2": "Dra. Ruiz"])
        // Without a Content SID (English not mapped) the template is freeform: refused outside the window.
        let en = try c.call("POST", "/api/whatsapp/send-template", ["patient_id": p.id, "template_id": "followup", "language": "en",
                                                                    "variables": ["patient_name": "Ana", "doctor_name": "Dr. Ruiz"]])
        #expect(en.errorCode == "window_closed")
        let missing = try c.call("POST", "/api/whatsapp/send-template", ["patient_id": p.id, "template_id": "followup", "variables": [:]])
        #expect(missing.status == 400)
        #expect(missing.errorCode == "missing_variables")
    }

    @Test("a subaccount sender sends through its subaccount")
    func subaccountSender() throws {
        let c = try StaffClient(subaccount: true)
        let sub = try #require(try c.clinic.conn.query("SELECT twilio_subaccount_sid FROM whatsapp_senders WHERE workspace_id = \(c.clinic.workspaceID)").first?.string("twilio_subaccount_sid"))
        let phone = StackClinic.patient()
        try c.clinic.say(phone, "hola")
        let r = try c.call("POST", "/api/whatsapp/send", ["patient_id": try c.patientID(phone), "body": "Hola desde la subcuenta"])
        #expect(r.status == 201, "\(r.text)")
        let got = try c.received(phone).filter { $0["body"] as? String == "Hola desde la subcuenta" }
        #expect(got.first?["account_sid"] as? String == sub)
        #expect(sub != (try c.clinic.env["TWILIO_ACCOUNT_SID"]))
    }

    @Test("accept → confirmed + appt_confirmed in the patient's language; accept again → 409")
    func acceptSendsConfirmation() throws {
        let c = try StaffClient()
        let phone = StackClinic.patient()
        try c.clinic.say(phone, "Hola, quiero una cita")
        try c.clinic.say(phone, "1")
        let appt = try #require(try c.clinic.conn.query("SELECT id FROM appointments WHERE workspace_id = \(c.clinic.workspaceID) AND status = 'pending_review'").first?.int64("id"))
        let r = try c.call("POST", "/api/whatsapp/pending-appointments/\(appt)/accept")
        #expect(r.status == 200, "\(r.text)")
        #expect((r.json["notification"] as? [String: Any])?["sent"] as? Bool == true)
        let got = try c.received(phone).filter { ($0["body"] as? String)?.contains("está confirmada") == true }
        #expect(got.count == 1)
        #expect((got.first?["body"] as? String)?.contains(c.clinic.name) == true)
        #expect(try c.call("POST", "/api/whatsapp/pending-appointments/\(appt)/accept").status == 409)
        #expect(try c.call("POST", "/api/whatsapp/pending-appointments/\(appt)/reject").status == 409)
    }

    @Test("provision against the sandbox: subaccount + number + webhooks, linked; the same Idempotency-Key answers the same sender")
    func provision() throws {
        let c = try StaffClient()
        let body: [String: Any] = ["clinic_name": c.clinic.name, "country": "US", "area_code": String(Int.random(in: 200...999))]
        let key = [("Idempotency-Key", "provision-\(c.clinic.name)")]
        let r = try c.call("POST", "/api/whatsapp/provision", body, headers: key)
        #expect(r.status == 201, "\(r.text)")
        let again = try c.call("POST", "/api/whatsapp/provision", body, headers: key)
        #expect(again.status == 201 && again.json["id"] as? Int == r.json["id"] as? Int, "\(again.text)")
        let ours = (try JSONSerialization.jsonObject(with: Data(try c.clinic.sandbox("GET", "/sandbox/accounts").body)) as? [String: Any])?["accounts"]
            as? [[String: Any]] ?? []
        #expect(ours.filter { $0["friendly_name"] as? String == "MedSync \(c.clinic.name)" }.count == 1)
        let sub = try #require(r.json["twilio_subaccount_sid"] as? String)
        let number = try #require(r.json["phone_number"] as? String)
        #expect(r.json["is_active"] as? Bool == true)
        let accounts = try c.clinic.sandbox("GET", "/sandbox/accounts")
        #expect(String(decoding: accounts.body, as: UTF8.self).contains(sub))
        let numbers = try c.clinic.sandbox("GET", "/sandbox/numbers")
        let list = ((try JSONSerialization.jsonObject(with: Data(numbers.body)) as? [String: Any])?["numbers"] as? [[String: Any]]) ?? []
        let bought = list.first { $0["phone_number"] as? String == number }
        #expect(bought != nil, "\(String(decoding: numbers.body, as: UTF8.self).prefix(500))")
        #expect((bought?["sms_url"] as? String)?.hasSuffix("/api/webhooks/whatsapp") == true)
        let stored = try #require(try c.clinic.conn.query("SELECT twilio_subaccount_token_enc FROM whatsapp_senders WHERE phone_number = \(number) AND is_active").first?.string("twilio_subaccount_token_enc"))
        #expect(!stored.isEmpty)
    }

    @Test("Twilio's refusal → 502 twilio_error with code and explanation, stored on the message")
    func twilioErrorIsStoredAndReturned() throws {
        let c = try StaffClient()
        let phone = StackClinic.patient()
        try c.clinic.say(phone, "hello")
        try c.clinic.fault(["api": "twilio", "kind": "twilio_error", "code": 21211, "to": phone])
        let r = try c.call("POST", "/api/whatsapp/send", ["patient_id": try c.patientID(phone), "body": "will fail"])
        #expect(r.status == 502, "\(r.text)")
        #expect(r.errorCode == "twilio_error")
        #expect(r.text.contains("21211"))
        let row = try #require(try c.clinic.conn.query("""
            SELECT status, error_code, error_message FROM whatsapp_messages m JOIN whatsapp_conversations c ON c.id = m.conversation_id
             WHERE c.workspace_id = \(c.clinic.workspaceID) AND m.direction = 'outbound' AND m.body = 'will fail'
            """).first)
        #expect(row.string("status") == "failed")
        #expect(row.int("error_code") == 21211)
        #expect(!(row.string("error_message") ?? "").isEmpty)
    }

    @Test("Twilio's 63016 (its window closed although ours said open) → 409 window_closed, as the precheck answers")
    func twilio63016IsWindowClosed() throws {
        let c = try StaffClient()
        let phone = StackClinic.patient()
        try c.clinic.say(phone, "hello")
        try c.clinic.fault(["api": "twilio", "kind": "twilio_error", "code": 63016, "to": phone])
        let r = try c.call("POST", "/api/whatsapp/send", ["patient_id": try c.patientID(phone), "body": "too late"])
        #expect(r.status == 409, "\(r.text)")
        #expect(r.errorCode == "window_closed")
        let row = try #require(try c.clinic.conn.query("""
            SELECT status, error_code FROM whatsapp_messages m JOIN whatsapp_conversations c ON c.id = m.conversation_id
             WHERE c.workspace_id = \(c.clinic.workspaceID) AND m.direction = 'outbound' AND m.body = 'too late'
            """).first)
        #expect(row.string("status") == "failed")
        #expect(row.int("error_code") == 63016)
    }

    @Test("through nginx, workspace A's token with workspace B's ids → 404/403, never B's data")
    func isolationThroughNginx() throws {
        let a = try StaffClient()
        let b = try StaffClient()
        let phone = StackClinic.patient()
        try b.clinic.say(phone, "secret of B")
        let conversation = try #require(try b.clinic.conn.query("SELECT id FROM whatsapp_conversations WHERE workspace_id = \(b.clinic.workspaceID)").first?.int64("id"))
        let r = try a.call("GET", "/api/whatsapp/conversations/\(conversation)/messages")
        #expect(r.status == 404)
        #expect(!r.text.contains("secret of B"))
        let send = try a.call("POST", "/api/whatsapp/send", ["patient_id": try b.patientID(phone), "body": "hi"])
        #expect(send.status == 404)
        #expect(try a.received(phone).filter { $0["body"] as? String == "hi" }.isEmpty)
        var request = HTTPRequest(method: "GET", url: try a.clinic.appURL + "/api/whatsapp/conversations",
                                  headers: [("Authorization", "Bearer \(a.token)"), ("X-Account-Id", String(b.clinic.workspaceID))])
        request.body = []
        let other = try http(request)
        #expect(other.status == 403)
    }

    @Test("reject → cancelled + a notice in the patient's language")
    func rejectSendsNotice() throws {
        let c = try StaffClient()
        let phone = StackClinic.patient()
        try c.clinic.say(phone, "Hello, I want an appointment")
        try c.clinic.say(phone, "1")
        let appt = try #require(try c.clinic.conn.query("SELECT id FROM appointments WHERE workspace_id = \(c.clinic.workspaceID) AND status = 'pending_review'").first?.int64("id"))
        let pending = try c.call("GET", "/api/whatsapp/pending-appointments")
        #expect((pending.json["items"] as? [[String: Any]])?.map { $0["id"] as? Int } == [Int(appt)])
        let r = try c.call("POST", "/api/whatsapp/pending-appointments/\(appt)/reject")
        #expect(r.status == 200, "\(r.text)")
        #expect((r.json["appointment"] as? [String: Any])?["status"] as? String == "cancelled")
        #expect((r.json["notification"] as? [String: Any])?["sent"] as? Bool == true)
        // The product guide: the patient is told the request was declined (not asked to reschedule).
        #expect(try c.received(phone).contains { ($0["body"] as? String)?.hasPrefix("Sorry, the clinic could not confirm your appointment") == true })
        #expect(try !c.received(phone).contains { ($0["body"] as? String)?.contains("needs to be rescheduled") == true })
        #expect(try c.call("POST", "/api/whatsapp/pending-appointments/\(appt)/accept").status == 409)
    }

    @Test("handoff from the inbox → the bot stays quiet; resume-bot → it answers again; the inbox shows the window open")
    func handoffThroughTheAPI() throws {
        let c = try StaffClient()
        let phone = StackClinic.patient()
        try c.clinic.say(phone, "Hello")
        let inbox = try c.call("GET", "/api/whatsapp/conversations")
        let conversation = try #require((inbox.json["items"] as? [[String: Any]])?.first)
        #expect(((conversation["window"] as? [String: Any])?["open"] as? Bool) == true)
        #expect((conversation["patient"] as? [String: Any])?["phone"] as? String == phone)
        let id = try #require(conversation["id"] as? Int)
        #expect(try c.call("POST", "/api/whatsapp/conversations/\(id)/handoff").status == 200)
        let quiet = try c.clinic.say(phone, "What time do you open?")
        #expect(quiet.replies.isEmpty)
        #expect(try c.call("POST", "/api/whatsapp/conversations/\(id)/resume-bot").status == 200)
        let answered = try c.clinic.say(phone, "Hello again")
        #expect(!answered.replies.isEmpty)
        let messages = try c.call("GET", "/api/whatsapp/conversations/\(id)/messages")
        #expect((messages.json["items"] as? [[String: Any]])?.contains { $0["body"] as? String == "What time do you open?" } == true)
    }
}
