import Domain
import Foundation
import TestSupport
import Testing
import MedsyncCrypto
import HTTPClient
import Postgres

/// A clinic of its own in the running stack's database (so tests stay apart): workspace in UTC,
/// one doctor free every day 00:00–23:30 in 30-minute slots, one sender number the sandbox routes to
/// our webhook through nginx.
struct StackClinic {
    let env: StackEnvironment
    let conn: PGConnection
    let workspaceID: Int64
    let doctorID: Int64
    let phone: String
    let name: String
    var appURL: String { get throws { try env.appURL } }
    var sandboxURL: String { get throws { try env.sandboxURL } }

    init(stack: StackEnvironment? = nil, subaccount: Bool = false, availability: (String, String) = ("00:00", "23:30")) throws {
        env = try stack ?? StackEnvironment.shared()
        conn = try PGConnection(try env.databaseURL)
        let tag = Crypto.hex(Crypto.randomBytes(4))
        name = "Clinic \(tag)"
        phone = "+1555" + String(format: "%07d", Int.random(in: 0..<10_000_000))
        workspaceID = try conn.query("INSERT INTO workspaces (name, timezone, clinic_name) VALUES (\(name), 'UTC', \(name)) RETURNING id").first!.int64("id")!
        doctorID = try conn.query("INSERT INTO users (email, name) VALUES (\("doc-\(tag)@e2e.test"), 'Dr. Test') RETURNING id").first!.int64("id")!
        try conn.execute("INSERT INTO memberships (user_id, workspace_id, role) VALUES (\(doctorID), \(workspaceID), 'doctor')")
        try conn.execute("""
            INSERT INTO doctor_availability (workspace_id, doctor_id, weekday, start_time, end_time, slot_minutes)
            SELECT \(workspaceID), \(doctorID), d, \(availability.0)::time, \(availability.1)::time, 30 FROM generate_series(0, 6) d
            """)
        var accountSID: String? = nil
        var tokenEnc: String? = nil
        if subaccount {
            let r = try http(.form(url: try env.sandboxURL + "/2010-04-01/Accounts.json", pairs: [("FriendlyName", name)],
                                   basicAuth: (try env["TWILIO_ACCOUNT_SID"], try env["TWILIO_AUTH_TOKEN"])))
            let o = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]
            guard let sid = o?["sid"] as? String, let token = o?["auth_token"] as? String else {
                throw TestSetupError("sandbox did not create a subaccount: \(r.status) \(r.text)")
            }
            accountSID = sid
            tokenEnc = try Fernet(key: try env["MEDSYNC_FERNET_KEY"]).encrypt(Array(token.utf8))
        }
        try conn.execute("""
            INSERT INTO whatsapp_senders (workspace_id, phone_number, display_name, twilio_subaccount_sid, twilio_subaccount_token_enc)
            VALUES (\(workspaceID), \(phone), \(name), \(accountSID), \(tokenEnc))
            """)
        var number: [String: Any] = ["phone_number": phone, "sms_url": try env.appURL + "/api/webhooks/whatsapp"]
        if let accountSID { number["account_sid"] = accountSID }
        let r = try sandbox("POST", "/sandbox/numbers", number)
        guard r.status == 200 else { throw TestSetupError("sandbox refused the number: \(r.status) \(r.text)") }
    }

    func sandbox(_ method: String, _ path: String, _ body: [String: Any]? = nil) throws -> HTTPResponse {
        if let body {
            return try http(.json(url: try env.sandboxURL + path, body: [UInt8](try JSONSerialization.data(withJSONObject: body)), method: method))
        }
        return try http(HTTPRequest(method: method, url: try env.sandboxURL + path))
    }

    struct Delivery {
        var messageSid: String
        var status: Int?
        var body: String
        var replies: [String]
        var all: [[String: Any]]
    }

    /// The patient writes (the sandbox signs and posts the webhook through nginx); `extra` adds control fields.
    @discardableResult
    func say(_ patient: String, _ text: String, _ extra: [String: Any] = [:]) throws -> Delivery {
        try StackClinic.say(sandboxURL: try env.sandboxURL, sender: phone, patient, text, extra)
    }

    /// `say` without the clinic value (for other threads).
    static func say(sandboxURL: String, sender: String, _ patient: String, _ text: String, _ extra: [String: Any] = [:]) throws -> Delivery {
        var body: [String: Any] = ["from": patient, "to": sender, "body": text, "profile_name": "Pat \(patient.suffix(4))"]
        body.merge(extra) { $1 }
        let r = try http(.json(url: sandboxURL + "/sandbox/inbound", body: [UInt8](try JSONSerialization.data(withJSONObject: body))))
        guard r.status == 200, let o = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any],
              let deliveries = o["deliveries"] as? [[String: Any]], let first = deliveries.first else {
            throw TestSetupError("sandbox inbound failed: \(r.status) \(r.text)")
        }
        return Delivery(messageSid: o["message_sid"] as? String ?? "", status: first["status"] as? Int,
                        body: first["body"] as? String ?? "", replies: first["replies"] as? [String] ?? [], all: deliveries)
    }

    func count(_ sql: String, _ params: [PGValue] = []) throws -> Int {
        try conn.query(sql, params).first!.int("n")!
    }

    /// Gemini requests the sandbox received for this clinic (its name is in the system instruction).
    func geminiCalls() throws -> [[String: Any]] {
        let r = try sandbox("GET", "/sandbox/gemini/requests")
        let o = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]
        return (o?["requests"] as? [[String: Any]] ?? []).filter { ($0["system_instruction"] as? String)?.contains(name) == true }
    }

    func fault(_ fault: [String: Any]) throws {
        let r = try sandbox("POST", "/sandbox/faults", fault)
        guard r.status == 200 || r.status == 201 else { throw TestSetupError("sandbox refused the fault: \(r.status) \(r.text)") }
    }

    static func patient() -> String { "+52155" + String(format: "%08d", Int.random(in: 0..<100_000_000)) }
}

@Suite("Inbound end to end: the sandbox patient writes through nginx")
struct InboundFlowTests {
    @Test("hello → patient, conversation, both messages, slots offered; \"2\" → pending_review at that slot without Gemini", .needsStack)
    func helloThenTwo() throws {
        let clinic = try StackClinic()
        let patient = StackClinic.patient()
        let hello = try clinic.say(patient, "Hello, I would like to book an appointment")
        #expect(hello.status == 200)
        let reply = try #require(hello.replies.first)
        #expect(reply.contains("1. "))
        #expect(reply.contains("2. "))
        #expect(hello.body.hasPrefix("<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>"))
        let row = try #require(try clinic.conn.query("""
            SELECT p.consent_whatsapp, p.name, c.pending_intent::text AS pending,
                   (SELECT count(*) FROM whatsapp_messages m WHERE m.conversation_id = c.id) AS n
              FROM patients p JOIN whatsapp_conversations c ON c.patient_id = p.id
             WHERE p.workspace_id = \(clinic.workspaceID) AND p.phone = \(patient)
            """).first)
        #expect(row.bool("consent_whatsapp") == true)
        #expect(row.string("name") == "Pat \(patient.suffix(4))")
        #expect(row.int("n") == 2)
        let offer = try #require(PendingOffer.parse(row.string("pending")))
        let second = try #require(offer.slots.first { $0.n == 2 })
        let geminiBefore = try clinic.geminiCalls().count
        #expect(geminiBefore == 1)

        let two = try clinic.say(patient, "2")
        #expect(two.replies == ["Great, I've requested \(second.label) for you. The clinic will confirm it shortly."])
        #expect(try clinic.geminiCalls().count == geminiBefore)
        let appt = try #require(try clinic.conn.query("""
            SELECT a.status, a.starts_at, a.doctor_id, m.twilio_sid FROM appointments a
              JOIN whatsapp_messages m ON m.id = a.source_message_id WHERE a.workspace_id = \(clinic.workspaceID)
            """).first)
        #expect(appt.string("status") == "pending_review")
        #expect(appt.date("starts_at") == second.slot.startsAt)
        #expect(appt.int64("doctor_id") == clinic.doctorID)
        #expect(appt.string("twilio_sid") == two.messageSid)
    }

    @Test("a Spanish conversation is answered in Spanish and the language is remembered", .needsStack)
    func spanish() throws {
        let clinic = try StackClinic()
        let patient = StackClinic.patient()
        let r = try clinic.say(patient, "Hola, quiero una cita por favor")
        let reply = try #require(r.replies.first)
        #expect(reply.contains("Horarios disponibles") || reply.contains("horario"))
        #expect(try clinic.conn.query("SELECT preferred_language FROM patients WHERE workspace_id = \(clinic.workspaceID)")
            .first?.string("preferred_language") == "es")
        let booked = try clinic.say(patient, "1")
        #expect(booked.replies.first?.hasPrefix("Perfecto, solicité tu cita para ") == true)
    }

    @Test("Gemini 503 → the fallback still offers numbered slots", .needsStack)
    func gemini503() throws {
        let clinic = try StackClinic()
        let marker = "kiwi\(Int.random(in: 1000...9999))"
        try clinic.fault(["api": "gemini", "kind": "http", "status": 503, "contains": marker])
        let r = try clinic.say(StackClinic.patient(), "hello \(marker), an appointment please")
        #expect(r.status == 200)
        #expect(r.replies.first?.contains("Available times:\n1. ") == true)
        #expect(try clinic.geminiCalls().first?["fault"] as? String == "http_503")
    }

    @Test("invalid JSON from Gemini → fallback", .needsStack)
    func geminiInvalidJSON() throws {
        let clinic = try StackClinic()
        let marker = "lime\(Int.random(in: 1000...9999))"
        try clinic.fault(["api": "gemini", "kind": "invalid_json", "contains": marker])
        let r = try clinic.say(StackClinic.patient(), "hola \(marker), quiero una cita")
        #expect(r.replies.first?.hasPrefix("¡Hola! Soy el asistente de \(clinic.name).") == true)
        #expect(r.replies.first?.contains("Horarios disponibles:\n1. ") == true)
        #expect(try clinic.geminiCalls().first?["fault"] as? String == "invalid_json")
    }

    /// The deadline, not the model, ends the wait: the model hangs 6 s past GEMINI_TIMEOUT_MS and the
    /// answer comes well before that, inside Twilio's 15 s (a margin of 4 s for a loaded test machine).
    @Test("Gemini hangs → the fallback answers at GEMINI_TIMEOUT_MS, before the model and before Twilio gives up", .needsStack)
    func geminiHang() throws {
        let clinic = try StackClinic()
        let deadlineMS = Int(clinic.env.values["GEMINI_TIMEOUT_MS"] ?? "") ?? 8000
        let marker = "plum\(Int.random(in: 1000...9999))"
        try clinic.fault(["api": "gemini", "kind": "hang", "seconds": Double(deadlineMS) / 1000 + 6, "contains": marker])
        let started = Date()
        let r = try clinic.say(StackClinic.patient(), "hello \(marker), can I book?")
        let elapsed = Date().timeIntervalSince(started)
        #expect(r.replies.first?.contains("Available times:\n1. ") == true)
        #expect(elapsed < min(Double(deadlineMS) / 1000 + 4, 15), "answered after \(elapsed) s")
    }

    @Test("20 concurrent deliveries of one MessageSid → one message row, at most one appointment, the same reply", .needsStack)
    func concurrentRetries() throws {
        let clinic = try StackClinic()
        let patient = StackClinic.patient()
        try clinic.say(patient, "hello")
        let r = try clinic.say(patient, "1", ["repeat": 20])
        #expect(r.all.count == 20)
        let bodies = Set(r.all.compactMap { $0["body"] as? String })
        #expect(bodies.count == 1)
        #expect(r.all.allSatisfy { $0["status"] as? Int == 200 })
        #expect(bodies.first?.contains("Great, I&apos;ve requested") == true)
        #expect(try clinic.count("SELECT count(*) AS n FROM whatsapp_messages WHERE twilio_sid = $1", [PGValue(r.messageSid)]) == 1)
        #expect(try clinic.count("SELECT count(*) AS n FROM appointments WHERE workspace_id = $1", [PGValue(clinic.workspaceID)]) == 1)
        // A later retry (Twilio's, byte for byte) changes nothing either.
        let again = try clinic.sandbox("POST", "/sandbox/inbound/retry", ["message_sid": r.messageSid])
        #expect(again.status == 200)
        #expect(try clinic.count("SELECT count(*) AS n FROM whatsapp_messages WHERE workspace_id = $1", [PGValue(clinic.workspaceID)]) == 4)
    }

    @Test("two patients racing for the last free slot → one appointment, the other is offered alternatives", .needsStack)
    func race() throws {
        // One slot a day, so each offer's "1" is the same slot for both.
        let clinic = try StackClinic(availability: ("23:00", "23:30"))
        let a = StackClinic.patient(), b = StackClinic.patient()
        try clinic.say(a, "hello")
        try clinic.say(b, "hello")
        let sandboxURL = try clinic.sandboxURL, sender = clinic.phone
        let results: [String] = concurrently(2) { i in
            (try? StackClinic.say(sandboxURL: sandboxURL, sender: sender, i == 0 ? a : b, "1").replies.first) ?? "error"
        }
        #expect(try clinic.count("SELECT count(*) AS n FROM appointments WHERE workspace_id = $1", [PGValue(clinic.workspaceID)]) == 1)
        #expect(results.filter { $0.hasPrefix("Great, I've requested") }.count == 1)
        #expect(results.filter { $0.hasPrefix("Sorry, ") && $0.contains("was just taken. Available times:\n1. ") }.count == 1)
    }

    @Test("STOP → consent off and a confirmation; handoff → the bot is silent on the next message", .needsStack)
    func stopAndHandoff() throws {
        let clinic = try StackClinic()
        let patient = StackClinic.patient()
        try clinic.say(patient, "hello")
        let stop = try clinic.say(patient, "STOP")
        #expect(stop.replies == ["You are unsubscribed and will not receive more messages from \(clinic.name). Reply START to subscribe again."])
        #expect(try clinic.conn.query("SELECT consent_whatsapp FROM patients WHERE workspace_id = \(clinic.workspaceID) AND phone = \(patient)").first?.bool("consent_whatsapp") == false)

        let other = StackClinic.patient()
        let handoff = try clinic.say(other, "I want to talk to a human")
        #expect(handoff.replies == ["I'll connect you with a member of our team. They will reply here shortly."])
        let next = try clinic.say(other, "hello? 1")
        #expect(next.status == 200)
        #expect(next.replies.isEmpty)
        #expect(next.body == "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>")
        #expect(try clinic.count("""
            SELECT count(*) AS n FROM whatsapp_messages m JOIN whatsapp_conversations c ON c.id = m.conversation_id
             WHERE c.workspace_id = $1 AND c.state = 'handoff' AND m.direction = 'inbound'
            """, [PGValue(clinic.workspaceID)]) == 2)
    }

    @Test("media is recorded with the message", .needsStack)
    func media() throws {
        let clinic = try StackClinic()
        try clinic.say(StackClinic.patient(), "my lab results", ["media": [["url": "https://media.example/ME1.pdf", "content_type": "application/pdf"]]])
        let m = try #require(try clinic.conn.query("""
            SELECT media->0->>'url' AS url, media->0->>'content_type' AS ct FROM whatsapp_messages
             WHERE workspace_id = \(clinic.workspaceID) AND direction = 'inbound'
            """).first)
        #expect(m.string("url") == "https://media.example/ME1.pdf")
        #expect(m.string("ct") == "application/pdf")
    }

    /// Issue 11: the bot outside the transaction. The sandbox's model answers after 3 s; 16 new
    /// conversations ask it at once while other patients answer "1" to their offers. A poller watches
    /// pg_stat_activity all along: no backend of the app (PGAPPNAME medsync-fcgi) may sit idle in a
    /// transaction for a second or more (a model call inside a transaction would hold one for ~3 s;
    /// the threshold only ignores the microseconds between a short transaction's statements).
    /// Afterwards every inbound message has exactly one reply.
    @Test("the model answering after 3 s: no connection idles in a transaction meanwhile; one reply per message", .needsStack)
    func slowModelHoldsNoTransaction() throws {
        let clinic = try StackClinic()
        let token = try clinic.env["TWILIO_AUTH_TOKEN"]
        let marker = "slowmodel\(Int.random(in: 1000...9999))"
        // Patients with an offer, who will answer "1" while the model is slow.
        let answering = (0..<8).map { _ in StackClinic.patient() }
        for p in answering { try clinic.say(p, "hello") }
        try clinic.fault(["api": "gemini", "kind": "slow", "seconds": 3, "count": 16, "contains": marker])

        let url = try clinic.env.databaseURL
        let done = LockedFlag()
        let poller = PollResult()
        let thread = Thread {
            do {
                let conn = try PGConnection(url)
                while !done.isSet {
                    let rows = try conn.query("""
                        SELECT count(*) AS n FROM pg_stat_activity
                         WHERE datname = current_database() AND application_name = 'medsync-fcgi'
                           AND state LIKE 'idle in transaction%' AND state_change < now() - interval '1 second'
                        """)
                    poller.record(idle: try rows.first?.decode(Int.self, "n") ?? 0)
                    Thread.sleep(forTimeInterval: 0.1)
                }
            } catch {
                poller.fail("\(error)")
            }
            poller.finish()
        }
        thread.start()
        let env = clinic.env, phone = clinic.phone
        let statuses: [Int] = concurrently(24) { i in
            let (patient, body) = i < 16 ? (StackClinic.patient(), "hello \(marker), can I book an appointment?") : (answering[i - 16], "1")
            let params = [("MessageSid", "SM" + Crypto.hex(Crypto.randomBytes(16))), ("AccountSid", (try? env["TWILIO_ACCOUNT_SID"]) ?? ""),
                          ("From", "whatsapp:\(patient)"), ("To", "whatsapp:\(phone)"), ("Body", body), ("NumMedia", "0")]
            return (try? postWebhook(env, params: params, token: token).status) ?? 0
        }
        done.set()
        let polled = poller.wait()
        #expect(statuses.allSatisfy { $0 == 200 }, "\(statuses)")
        #expect(polled.error == nil)
        #expect(polled.samples > 0)
        #expect(polled.maxIdle == 0, "a backend of the app was idle in a transaction during the model call")
        // The model was asked by all 16 (slowly) and answered: the test measured what it meant to.
        let slow = try clinic.geminiCalls().filter { ($0["last_user_text"] as? String)?.contains(marker) == true }
        #expect(slow.count == 16)
        #expect(slow.allSatisfy { $0["answer"] is String })
        // Every inbound message: exactly one reply; 8 appointments from the answers.
        #expect(try clinic.count("""
            SELECT count(*) AS n FROM whatsapp_messages m
             WHERE m.workspace_id = $1 AND m.direction = 'inbound'
               AND (SELECT count(*) FROM whatsapp_messages r WHERE r.in_reply_to_id = m.id) <> 1
            """, [PGValue(clinic.workspaceID)]) == 0)
        #expect(try clinic.count("SELECT count(*) AS n FROM whatsapp_messages WHERE workspace_id = $1 AND direction = 'inbound'",
                                 [PGValue(clinic.workspaceID)]) == 8 + 24)
        // The 8 offers hold the same first slot: one "1" books it, the others hear it was taken.
        let booked = try clinic.count("SELECT count(*) AS n FROM appointments WHERE workspace_id = $1", [PGValue(clinic.workspaceID)])
        #expect(booked == 1)
        #expect(try clinic.count("""
            SELECT count(*) AS n FROM whatsapp_messages WHERE workspace_id = $1 AND direction = 'outbound' AND body LIKE 'Sorry, % was just taken.%'
            """, [PGValue(clinic.workspaceID)]) == 7)
    }
}

/// A flag one thread sets and another reads.
final class LockedFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}

/// What the pg_stat_activity poller saw.
final class PollResult: @unchecked Sendable {
    private let lock = NSLock()
    private let finished = DispatchSemaphore(value: 0)
    private(set) var samples = 0
    private(set) var maxIdle = 0
    private(set) var error: String?
    func record(idle: Int) { lock.lock(); samples += 1; maxIdle = max(maxIdle, idle); lock.unlock() }
    func fail(_ e: String) { lock.lock(); error = e; lock.unlock() }
    func finish() { finished.signal() }
    func wait() -> (samples: Int, maxIdle: Int, error: String?) {
        finished.wait()
        lock.lock(); defer { lock.unlock() }
        return (samples, maxIdle, error)
    }
}
