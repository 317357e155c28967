import Domain
import Foundation
import TestSupport
import Testing
import MedsyncConfig
import MedsyncCrypto
import HTTPClient
import Postgres

/// Issue 22, items 5–7: staff sends and bundle sends exactly once (Idempotency-Key; an ambiguous
/// Twilio failure settled against its Messages list), a stale bot offer answered, out-of-range input
/// refused with 400, and a doctor's email never shown to a patient.
@Suite("Exactly once from staff; no 500 from input or stored state", .needsStack)
struct ExactlyOnceTests {
    /// What the patient received with this body (the sandbox plays the phone).
    func deliveries(_ c: StaffClient, _ phone: String, _ body: String) throws -> [[String: Any]] {
        try c.received(phone).filter { $0["body"] as? String == body }
    }

    func messageRow(_ c: StaffClient, _ body: String) throws -> [PGRow] {
        Array(try c.clinic.conn.query("""
            SELECT m.id, m.status, m.twilio_sid FROM whatsapp_messages m
             WHERE m.workspace_id = \(c.clinic.workspaceID) AND m.direction = 'outbound' AND m.body = \(body) ORDER BY m.id
            """))
    }

    @Test("a Twilio 500 after it delivered: the send answers what happened, and a retry with the same Idempotency-Key delivers nothing more")
    func fiveHundredAfterDeliveryWithAKey() throws {
        let c = try StaffClient(subaccount: true)
        let account = try #require(try c.clinic.conn.query("SELECT twilio_subaccount_sid FROM whatsapp_senders WHERE workspace_id = \(c.clinic.workspaceID)").first?.string("twilio_subaccount_sid"))
        let phone = StackClinic.patient()
        try c.clinic.say(phone, "hello")
        let patient = try c.patientID(phone)
        try c.clinic.fault(["api": "twilio_messages", "kind": "http", "status": 500, "after": true, "count": 1, "to": phone, "account_sid": account])
        let key = [("Idempotency-Key", "send-\(UUID().uuidString)")]
        let text = "Your results are ready (\(UUID().uuidString.prefix(6)))."
        let first = try c.call("POST", "/api/whatsapp/send", ["patient_id": patient, "body": text], headers: key)
        let retry = try c.call("POST", "/api/whatsapp/send", ["patient_id": patient, "body": text], headers: key)
        #expect(retry.status == 201, "\(retry.text)")
        let got = try deliveries(c, phone, text)
        #expect(got.count == 1, "delivered \(got.count) times; first answer \(first.status) \(first.text)")
        // Settled against the Messages list: the message is stored as sent, with Twilio's SID.
        #expect(first.status == 201, "\(first.text)")
        #expect(retry.json["message_id"] as? Int == first.json["message_id"] as? Int)
        let rows = try messageRow(c, text)
        #expect(rows.count == 1)
        #expect(rows.first?.string("twilio_sid") == got.first?["sid"] as? String)
        #expect(rows.first?.string("status").map { ["queued", "sent", "delivered", "read"].contains($0) } == true, "\(rows.first?.string("status") ?? "none")")
        // The same key for another message is refused, and sends nothing.
        let other = try c.call("POST", "/api/whatsapp/send", ["patient_id": patient, "body": text + " (2)"], headers: key)
        #expect(other.status == 422)
        #expect(other.errorCode == "idempotency_key_reused")
        #expect(try deliveries(c, phone, text + " (2)").isEmpty)
        let bad = try c.call("POST", "/api/whatsapp/send", ["patient_id": patient, "body": text], headers: [("Idempotency-Key", String(repeating: "k", count: 201))])
        #expect(bad.status == 400 && bad.errorCode == "invalid_idempotency_key")
    }

    @Test("a Twilio 500 after it delivered while its Messages list cannot be read: stored as unknown, and a retry without a key settles it instead of sending again")
    func ambiguousFailureRetriedWithoutAKey() throws {
        let c = try StaffClient(subaccount: true)
        let account = try #require(try c.clinic.conn.query("SELECT twilio_subaccount_sid FROM whatsapp_senders WHERE workspace_id = \(c.clinic.workspaceID)").first?.string("twilio_subaccount_sid"))
        let phone = StackClinic.patient()
        try c.clinic.say(phone, "hello")
        let patient = try c.patientID(phone)
        try c.clinic.fault(["api": "twilio_messages", "kind": "http", "status": 500, "after": true, "count": 1, "to": phone, "account_sid": account])
        try c.clinic.fault(["api": "twilio_list", "kind": "http", "status": 500, "count": 1, "account_sid": account])
        let text = "See you tomorrow (\(UUID().uuidString.prefix(6)))."
        let first = try c.call("POST", "/api/whatsapp/send", ["patient_id": patient, "body": text])
        #expect(first.status == 503, "\(first.text)")
        #expect(first.errorCode == "twilio_unavailable")
        // The inbox does not claim it failed: Twilio has not said.
        #expect(try messageRow(c, text).map { $0.string("status") } == ["sending"])
        let retry = try c.call("POST", "/api/whatsapp/send", ["patient_id": patient, "body": text])
        #expect(retry.status == 201, "\(retry.text)")
        let got = try deliveries(c, phone, text)
        #expect(got.count == 1, "delivered \(got.count) times")
        let rows = try messageRow(c, text)
        #expect(rows.count == 1)
        #expect(rows.first?.int64("id").map(Int.init) == retry.json["message_id"] as? Int)
        #expect(rows.first?.string("twilio_sid") == got.first?["sid"] as? String)
        #expect(rows.first?.string("status") != "failed")
        // A 500 that really did not send is failed (safe to retry) and the retry sends it once.
        let lost = "Not sent (\(UUID().uuidString.prefix(6)))."
        try c.clinic.fault(["api": "twilio_messages", "kind": "http", "status": 500, "count": 1, "to": phone, "account_sid": account])
        #expect(try c.call("POST", "/api/whatsapp/send", ["patient_id": patient, "body": lost]).status == 503)
        #expect(try messageRow(c, lost).map { $0.string("status") } == ["failed"])
        #expect(try c.call("POST", "/api/whatsapp/send", ["patient_id": patient, "body": lost]).status == 201)
        #expect(try deliveries(c, phone, lost).count == 1)
    }

    @Test("the same bundle/send twice with one Idempotency-Key: one batch, each patient receives it once after medsync-jobs bundles")
    func bundleSendTwiceWithOneKey() throws {
        let c = try StaffClient()
        let phones = [StackClinic.patient(), StackClinic.patient()]
        for p in phones { try c.clinic.say(p, "hola") }
        let text = "Campaña de vacunación \(UUID().uuidString.prefix(6)), {name}"
        let body: [String: Any] = ["body": text, "consent_confirmed": true,
                                   "recipients": phones.enumerated().map { ["phone": $1, "name": "P\($0)", "language": "es"] }]
        let key = [("Idempotency-Key", "bundle-\(UUID().uuidString)")]
        let first = try c.call("POST", "/api/whatsapp/bundle/send", body, headers: key)
        #expect(first.status == 202, "\(first.text)")
        let again = try c.call("POST", "/api/whatsapp/bundle/send", body, headers: key)
        #expect(again.status == 202, "\(again.text)")
        #expect(again.json["batch_id"] as? Int == first.json["batch_id"] as? Int)
        #expect(try c.clinic.count("SELECT count(*) AS n FROM bundle_batches WHERE workspace_id = $1", [PGValue(c.clinic.workspaceID)]) == 1)
        let changed = try c.call("POST", "/api/whatsapp/bundle/send", body.merging(["body": text + "!"]) { $1 }, headers: key)
        #expect(changed.status == 422 && changed.errorCode == "idempotency_key_reused")

        let jobs = try runJobs(["bundles", "--workspace", String(c.clinic.workspaceID)], stack: c.clinic.env)
        #expect(jobs.status == 0, "\(jobs.stderr)")
        for (i, p) in phones.enumerated() {
            let expected = text.replacingOccurrences(of: "{name}", with: "P\(i)")
            #expect(try deliveries(c, p, expected).count == 1, "\(p)")
        }
    }

    @Test("a bot offer naming a doctor who was then removed: \"2\" answers 200 with TwiML in the patient's language, and a fresh offer")
    func staleOfferOfARemovedDoctor() throws {
        let clinic = try StackClinic()
        let patient = StackClinic.patient()
        let hello = try clinic.say(patient, "Hola, quiero una cita por favor")
        #expect(hello.status == 200)
        // Another doctor sees patients from now on; the offered one leaves the clinic.
        let other = try clinic.conn.query("INSERT INTO users (email, name) VALUES (\("doc2-\(UUID().uuidString.prefix(8))@e2e.test"), 'Dra. Nueva') RETURNING id").first!.int64("id")!
        try clinic.conn.execute("INSERT INTO memberships (user_id, workspace_id, role) VALUES (\(other), \(clinic.workspaceID), 'doctor')")
        try clinic.conn.execute("""
            INSERT INTO doctor_availability (workspace_id, doctor_id, weekday, start_time, end_time, slot_minutes)
            SELECT \(clinic.workspaceID), \(other), d, '00:00'::time, '23:30'::time, 30 FROM generate_series(0, 6) d
            """)
        try clinic.conn.execute("DELETE FROM memberships WHERE workspace_id = \(clinic.workspaceID) AND user_id = \(clinic.doctorID)")

        let two = try clinic.say(patient, "2")
        #expect(two.status == 200)
        #expect(two.body.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>"))
        let reply = try #require(two.replies.first)
        #expect(reply.contains("ya no está disponible"), "\(reply)")
        #expect(reply.contains("1. "))
        #expect(try clinic.count("SELECT count(*) AS n FROM appointments WHERE workspace_id = $1", [PGValue(clinic.workspaceID)]) == 0)
        // The fresh offer books with the doctor who is there.
        let one = try clinic.say(patient, "1")
        #expect(one.status == 200)
        #expect(try clinic.conn.query("SELECT doctor_id FROM appointments WHERE workspace_id = \(clinic.workspaceID)").first?.int64("doctor_id") == other)
    }

    @Test("a bot offer naming a doctor who is now staff: \"1\" books nothing with a non-doctor and answers in English")
    func staleOfferOfADemotedDoctor() throws {
        let clinic = try StackClinic()
        let patient = StackClinic.patient()
        #expect(try clinic.say(patient, "Hello, I would like an appointment").status == 200)
        try clinic.conn.execute("UPDATE memberships SET role = 'staff' WHERE workspace_id = \(clinic.workspaceID) AND user_id = \(clinic.doctorID)")
        let one = try clinic.say(patient, "1")
        #expect(one.status == 200)
        #expect(one.replies.first?.contains("is no longer available") == true, "\(one.replies)")
        #expect(try clinic.count("SELECT count(*) AS n FROM appointments WHERE workspace_id = $1", [PGValue(clinic.workspaceID)]) == 0)
        // The only doctor left no longer sees patients: nothing of theirs is offered again.
        #expect(one.replies.first?.contains("1. ") == false, "\(one.replies)")
        #expect(try clinic.conn.query("SELECT pending_intent::text AS p FROM whatsapp_conversations WHERE workspace_id = \(clinic.workspaceID)").first?.string("p") == nil)
    }

    @Test("out-of-range cursors and dates are 400 validation_failed, never 500")
    func outOfRangeInputIs400() throws {
        let c = try StaffClient()
        let p = try c.silentPatient()
        for path in ["/api/whatsapp/conversations?cursor=9223372036854775807_1",
                     "/api/whatsapp/conversations?cursor=-9223372036854775808_1",
                     "/api/whatsapp/conversations?since=0001-01-01T00:00:00Z",
                     "/api/appointments?from=0001-01-01T00:00:00Z&to=9999-12-31T23:59:59Z",
                     "/api/doctors/\(c.clinic.doctorID)/free-slots?from=0001-01-01T00:00:00Z"] {
            let r = try c.call("GET", path)
            #expect(r.status == 400, "\(path): \(r.status) \(r.text)")
            #expect(r.errorCode == "validation_failed", "\(path)")
        }
        let book = try c.call("POST", "/api/appointments", ["patient_id": p.id, "doctor_id": c.clinic.doctorID, "starts_at": "0001-01-01T09:00:00Z"])
        #expect(book.status == 400, "\(book.text)")
        #expect(book.errorCode == "validation_failed")
        #expect(book.text.contains("starts_at"))
        // In range still works.
        #expect(try c.call("GET", "/api/appointments?from=2020-01-01T00:00:00Z&to=2030-01-01T00:00:00Z").status == 200)
    }

    @Test("a reminder and a staff-visible appointment of a doctor with no name never show the doctor's email")
    func reminderOfANamelessDoctorHasNoEmail() throws {
        let w = try JobsWorld()
        let ws = try w.workspace()
        let sender = try w.sender(ws)
        let email = "nameless-\(UUID().uuidString.prefix(8))@secrev.test"
        let doctor = try w.conn.query("INSERT INTO users (email, name) VALUES (\(email), NULL) RETURNING id").one().decode(Int64.self, "id")
        try w.conn.execute("INSERT INTO memberships (user_id, workspace_id, role) VALUES (\(doctor), \(ws), 'doctor')")
        let now = Date()
        var phones: [(String, String)] = []
        for language in ["es", "en"] {
            let phone = JobsWorld.randomPhone()
            let patient = try w.patient(ws, phone: phone, name: "Ana", language: language)
            try w.window(ws, patient: patient, phone: phone, sender: sender, at: now.addingTimeInterval(-600))
            _ = try w.appointment(ws, patient: patient, doctor: language == "es" ? doctor : nil, startsAt: now.addingTimeInterval(language == "es" ? 7200 : 7300))
            phones.append((phone, language))
        }
        try w.conn.execute("UPDATE users SET name = '' WHERE id = \(doctor)")
        let summary = try ReminderJob.run(w.conn, http: HTTPClient(), config: w.config(), clock: FixedClock(now))
        #expect(summary.sent == 2, "\(summary)")
        for (phone, language) in phones {
            let bodies = try w.sent(from: sender).filter { $0["to"] as? String == "whatsapp:\(phone)" }.compactMap { $0["body"] as? String }
            #expect(bodies.count == 1)
            #expect(bodies.allSatisfy { !$0.contains("@") }, "\(bodies)")
            #expect(bodies.allSatisfy { $0.contains(language == "es" ? "su médico" : "your doctor") }, "\(bodies)")
        }
        let views = try AppointmentBook.list(w.conn, workspaceID: ws, .init(from: now))
        #expect(views.allSatisfy { $0.doctorName == nil })
    }
}

/// `medsync-jobs` as systemd runs it, with the stack's configuration only.
private func runJobs(_ arguments: [String], stack: StackEnvironment) throws -> (status: Int32, stderr: String) {
    let binary = (ProcessInfo.processInfo.environment["BIN_DIR"] ?? "\(projectRoot)/.build/debug") + "/medsync-jobs"
    var env: [String: String] = [:]
    for key in Config.Key.allCases.map(\.rawValue) { env[key] = stack.values[key] ?? "" }
    let job = try Subprocess([binary] + arguments, environment: env, cwd: NSTemporaryDirectory())
    let status = job.wait()
    return (status, job.stderr)
}
