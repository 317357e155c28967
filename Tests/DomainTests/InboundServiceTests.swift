import Domain
import MedsyncLog
import Foundation
import TestSupport
import Testing
import Postgres
import HTTPClient
import Gemini

@Suite("Inbound: recording and answering patient messages (fresh database)")
struct InboundServiceTests {
    @Test("a new patient says hello: patient, conversation, both messages stored; the reply offers numbered slots", .needsStack)
    func newPatientHello() throws {
        let clinic = try InboundClinic()
        let out = try clinic.send("+5215512345678", "Hello, I would like an appointment")
        #expect(out.kind == .replied)
        let reply = try #require(out.reply)
        #expect(reply.contains("1. today at 9:00 AM"))
        #expect(reply.contains("2. today at 9:30 AM"))
        #expect(reply.contains("Reply with the number"))
        #expect(out.botFailure == "missing_key")  // no model configured: the deterministic rules answered
        let patient = try #require(try clinic.conn.query(
            "SELECT name, consent_whatsapp, preferred_language FROM patients WHERE phone = '+5215512345678'").first)
        #expect(patient.string("name") == "Ana López")
        #expect(patient.bool("consent_whatsapp") == true)
        #expect(patient.string("preferred_language") == "en")
        let conv = try #require(try clinic.conn.query(
            "SELECT last_inbound_at, pending_intent::text AS p, state FROM whatsapp_conversations").first)
        #expect(conv.date("last_inbound_at") != nil)
        #expect(conv.string("state") == "bot")
        #expect(PendingOffer.parse(conv.string("p"))?.slots.count == 5)
        let messages = try clinic.conn.query("SELECT direction, body, in_reply_to_id, twilio_sid FROM whatsapp_messages ORDER BY id")
        #expect(messages.map { $0.string("direction") } == ["inbound", "outbound"])
        #expect(messages[1].string("body") == reply)
        #expect(messages[1].int64("in_reply_to_id") == out.messageID)
    }

    @Test("when the bot falls back, the log line names the workspace", .needsStack)
    func fallbackIsLoggedWithItsIDs() throws {
        let clinic = try InboundClinic()
        let log = CapturedLog()
        // Nothing listens on port 9: the model call fails at once and the rules answer.
        let gemini = GeminiClient(http: try HTTPClient(), apiKey: "k", baseURL: "http://127.0.0.1:9", model: "m", timeoutMS: 2000)
        let service = InboundService(conn: clinic.conn, gemini: gemini, log: log.logger(), now: { InboundClinic.now })
        let out = try service.handle(InboundWebhook(form: InboundClinic.params(from: "+5215512345678", body: "hello", sid: "SMlog0001")))
        #expect(out.kind == .replied)
        #expect(out.botFailure != nil)
        let line = try #require(log.lines.first { $0.contains("bot fallback") }, "\(log.lines)")
        #expect(line.hasPrefix("medsync: warning: bot fallback for conversation "), "\(line)")
        #expect(line.hasSuffix(" workspace_id=\(clinic.sender.workspaceID)"), "\(line)")
    }

    @Test("replying \"2\" books the second offered slot as pending_review, linked to the message", .needsStack)
    func shortcutBooks() throws {
        let clinic = try InboundClinic()
        try clinic.send("+5215512345678", "hi")
        let out = try clinic.send("+5215512345678", "2")
        #expect(out.usedGemini == false)
        #expect(out.reply == "Great, I've requested today at 9:30 AM for you. The clinic will confirm it shortly.")
        let appt = try #require(try clinic.conn.query(
            "SELECT status, starts_at, doctor_id, source_message_id FROM appointments").first)
        #expect(appt.string("status") == "pending_review")
        #expect(appt.date("starts_at") == InboundClinic.now.addingTimeInterval(90 * 60))  // 09:30 local = 15:30Z
        #expect(appt.int64("doctor_id") == clinic.doctorID)
        #expect(appt.int64("source_message_id") == out.messageID)
        let pending = try clinic.conn.query("SELECT pending_intent FROM whatsapp_conversations").first!.string("pending_intent")
        #expect(pending == nil)
    }

    @Test("times pick a slot too: 9:00, 09:00, 9h, 10:30", .needsStack, arguments: [("9:00", "9:00 AM"), ("09:00", "9:00 AM"), ("9h", "9:00 AM"), ("10:30", "10:30 AM")])
    func timeShortcuts(text: String, label: String) throws {
        let clinic = try InboundClinic()
        try clinic.send("+5215512345678", "hello")
        // The offer holds 9:00 … 11:00; 10:30 is the fourth slot.
        let out = try clinic.send("+5215512345678", text)
        #expect(out.reply?.contains("today at \(label)") == true)
        #expect(try clinic.count("SELECT count(*) AS n FROM appointments") == 1)
    }

    @Test("a number that is not offered gets the options again, nothing booked", .needsStack)
    func notAnOption() throws {
        let clinic = try InboundClinic()
        try clinic.send("+5215512345678", "hello")
        let out = try clinic.send("+5215512345678", "9")
        #expect(out.reply?.hasPrefix("That is not one of the options. Available times:\n1. today at 9:00 AM") == true)
        #expect(try clinic.count("SELECT count(*) AS n FROM appointments") == 0)
    }

    @Test("a patient staff recorded without a name takes the WhatsApp profile name, even with a conversation; a named one keeps theirs", .needsStack)
    func profileNameFillsOnlyAMissingName() throws {
        let clinic = try InboundClinic()
        // Staff made both patients and wrote to them first: each has a conversation already.
        for (phone, name) in [("+5215511111111", nil), ("+5215522222222", "Ana María Ruiz")] as [(String, String?)] {
            try clinic.conn.execute("""
                WITH p AS (INSERT INTO patients (workspace_id, phone, name, consent_whatsapp) VALUES (\(clinic.workspaceID), \(phone), \(name), true) RETURNING id)
                INSERT INTO whatsapp_conversations (workspace_id, patient_id, sender_id) SELECT \(clinic.workspaceID), p.id, \(clinic.sender.senderID) FROM p
                """)
        }
        for phone in ["+5215511111111", "+5215522222222"] {
            #expect(try clinic.send(phone, "hello").kind == .replied)
            #expect(try clinic.send(phone, "hello again").kind == .replied)
        }
        let names = try clinic.conn.query("SELECT phone, name FROM patients ORDER BY phone").map { "\($0.string("phone") ?? "") \($0.string("name") ?? "-")" }
        #expect(names == ["+5215511111111 Ana López", "+5215522222222 Ana María Ruiz"])
        // No second conversation or patient; each message counted once as unread.
        #expect(try clinic.count("SELECT count(*) AS n FROM whatsapp_conversations") == 2)
        #expect(try clinic.count("SELECT count(*) AS n FROM patients") == 2)
        #expect(try clinic.count("SELECT sum(unread_count)::int AS n FROM whatsapp_conversations") == 4)
        #expect(try clinic.count("SELECT count(*) AS n FROM whatsapp_messages WHERE direction = 'inbound'") == 4)
    }

    @Test("a retried MessageSid stores nothing new, books nothing new and answers the same reply", .needsStack)
    func retrySameReply() throws {
        let clinic = try InboundClinic()
        try clinic.send("+5215512345678", "hello")
        let first = try clinic.send("+5215512345678", "1", sid: "SMretry0000000000000000000000001")
        let again = try clinic.send("+5215512345678", "1", sid: "SMretry0000000000000000000000001")
        #expect(again.kind == .duplicate)
        #expect(again.reply == first.reply)
        #expect(again.twiml == first.twiml)
        #expect(try clinic.count("SELECT count(*) AS n FROM whatsapp_messages") == 4)
        #expect(try clinic.count("SELECT count(*) AS n FROM appointments") == 1)
        #expect(try clinic.count("SELECT unread_count AS n FROM whatsapp_conversations") == 2)
    }

    @Test("20 concurrent deliveries of one MessageSid: one message row, one appointment, 20 identical answers", .needsStack)
    func concurrentRetries() throws {
        let clinic = try InboundClinic()
        try clinic.send("+5215512345678", "hello")
        let url = clinic.url
        let results: [String] = concurrently(20) { _ in
            do {
                let conn = try PGConnection(url)
                let service = InboundService(conn: conn, gemini: nil, log: .discarding, now: { InboundClinic.now })
                let p = InboundClinic.params(from: "+5215512345678", body: "1", sid: "SMconcurrent00000000000000000001")
                return try service.handle(InboundWebhook(form: p)).twiml
            } catch {
                return "error: \(error)"
            }
        }
        #expect(Set(results).count == 1)
        #expect(results[0].contains("Great, I&apos;ve requested today at 9:00 AM"))
        #expect(try clinic.count("SELECT count(*) AS n FROM whatsapp_messages WHERE twilio_sid = 'SMconcurrent00000000000000000001'") == 1)
        #expect(try clinic.count("SELECT count(*) AS n FROM appointments") == 1)
        #expect(try clinic.count("SELECT count(*) AS n FROM whatsapp_messages WHERE direction = 'outbound'") == 2)
    }

    /// A bot decision commits the message before deciding (the model may take seconds), so the
    /// deliveries racing it decide too: the reply's unique key keeps one, the others answer it.
    @Test("20 concurrent deliveries of one MessageSid the bot answers: one message row, one reply, 20 identical answers", .needsStack)
    func concurrentRetriesOfABotMessage() throws {
        let clinic = try InboundClinic()
        try clinic.send("+5215512345678", "hello")
        let url = clinic.url
        // Which delivery writes the reply is a race: five messages give each path its turn to lose it.
        for round in 1...5 {
            let sid = "SMconcurrentbot0000000000000000\(round)"
            let results: [String] = concurrently(20) { _ in
                do {
                    let conn = try PGConnection(url)
                    let service = InboundService(conn: conn, gemini: nil, log: .discarding, now: { InboundClinic.now })
                    let p = InboundClinic.params(from: "+5215512345678", body: "hello again", sid: sid)
                    return try service.handle(InboundWebhook(form: p)).twiml
                } catch {
                    return "error: \(error)"
                }
            }
            #expect(Set(results).count == 1, "\(Set(results))")
            #expect(results[0].contains("<Message>"), "\(results[0])")
            #expect(try clinic.count("SELECT count(*) AS n FROM whatsapp_messages WHERE twilio_sid = $1", [PGValue(sid)]) == 1)
            #expect(try clinic.count("SELECT count(*) AS n FROM whatsapp_messages WHERE direction = 'outbound'") == 1 + round)
            #expect(try clinic.count("SELECT unread_count AS n FROM whatsapp_conversations") == 1 + round)
        }
    }

    @Test("two patients racing for the last free slot: one appointment, the other is offered alternatives", .needsStack)
    func raceForLastSlot() throws {
        // Only 11:30–12:00 is free today for the two of them (plus tomorrow's slots).
        let clinic = try InboundClinic(availability: [("11:30", "12:00")])
        try clinic.send("+5215500000001", "hello")
        try clinic.send("+5215500000002", "hello")
        let url = clinic.url
        let replies: [String] = concurrently(2) { i in
            do {
                let conn = try PGConnection(url)
                let service = InboundService(conn: conn, gemini: nil, log: .discarding, now: { InboundClinic.now })
                return try service.handle(InboundWebhook(form: InboundClinic.params(from: "+521550000000\(i + 1)", body: "1"))).reply ?? ""
            } catch {
                return "error: \(error)"
            }
        }
        #expect(try clinic.count("SELECT count(*) AS n FROM appointments") == 1)
        #expect(replies.filter { $0.hasPrefix("Great, I've requested today at 11:30 AM") }.count == 1)
        let loser = try #require(replies.first { !$0.hasPrefix("Great") })
        #expect(loser.hasPrefix("Sorry, today at 11:30 AM was just taken. Available times:\n1. tomorrow at 11:30 AM"))
        // The loser's transaction was rolled back and its message decided again: each "1" is stored
        // once, answered once and counted once as unread.
        #expect(try clinic.count("SELECT count(*) AS n FROM whatsapp_messages WHERE direction = 'inbound'") == 4)
        #expect(try clinic.count("SELECT count(*) AS n FROM whatsapp_messages WHERE in_reply_to_id IS NOT NULL") == 4)
        #expect(try clinic.count("SELECT sum(unread_count)::int AS n FROM whatsapp_conversations") == 4)
    }

    @Test("STOP turns consent off with a confirmation in the patient's language; ALTA turns it back on", .needsStack)
    func optOutAndIn() throws {
        let clinic = try InboundClinic()
        try clinic.send("+5215512345678", "Hola, quiero una cita")
        let stop = try clinic.send("+5215512345678", "STOP")
        #expect(stop.reply == "Te diste de baja: no recibirás más mensajes de Clínica Sol. Responde ALTA para volver a suscribirte.")
        #expect(try clinic.conn.query("SELECT consent_whatsapp FROM patients").first!.bool("consent_whatsapp") == false)
        let baja = try clinic.send("+5215599999999", "Cancelar suscripción")
        #expect(baja.reply?.hasPrefix("Te diste de baja") == true)
        let alta = try clinic.send("+5215512345678", "alta")
        #expect(alta.reply?.hasPrefix("Volviste a suscribirte") == true)
        #expect(try clinic.conn.query("SELECT consent_whatsapp FROM patients WHERE phone = '+5215512345678'").first!
            .bool("consent_whatsapp") == true)
        let english = try clinic.send("+14155550123", "UNSUBSCRIBE")
        #expect(english.reply == "You are unsubscribed and will not receive more messages from Clínica Sol. Reply START to subscribe again.")
    }

    @Test("asking for a person hands the conversation to staff; the bot is silent afterwards", .needsStack)
    func handoff() throws {
        let clinic = try InboundClinic()
        let first = try clinic.send("+5215512345678", "quiero hablar con alguien por favor")
        #expect(first.reply == "Te comunico con una persona de nuestro equipo. Te responderá aquí en breve.")
        #expect(try clinic.conn.query("SELECT state FROM whatsapp_conversations").first!.string("state") == "handoff")
        let next = try clinic.send("+5215512345678", "hola? 1")
        #expect(next.kind == .silent)
        #expect(next.twiml == TwiML.empty)
        // Unanswered, but counted as unread for the staff it was handed to.
        #expect(try clinic.count("SELECT unread_count AS n FROM whatsapp_conversations") == 2)
        #expect(try clinic.count("""
            SELECT count(*)::int AS n FROM whatsapp_conversations c JOIN whatsapp_messages m ON m.id = $1
             WHERE c.last_inbound_at = m.created_at
            """, [PGValue(next.messageID)]) == 1)
        #expect(try clinic.count("SELECT count(*) AS n FROM whatsapp_messages WHERE direction = 'inbound'") == 2)
        // Staff hand it back: the bot answers again.
        try clinic.conn.execute("UPDATE whatsapp_conversations SET state = 'bot'")
        #expect(try clinic.send("+5215512345678", "hola").kind == .replied)
    }

    @Test("Spanish gets Spanish slots and the language is remembered", .needsStack)
    func spanish() throws {
        let clinic = try InboundClinic()
        let out = try clinic.send("+5215512345678", "Hola, buenos días")
        #expect(out.reply?.contains("1. hoy a las 9:00") == true)
        #expect(out.reply?.contains("Responde con el número") == true)
        #expect(try clinic.conn.query("SELECT preferred_language FROM patients").first!.string("preferred_language") == "es")
        let booked = try clinic.send("+5215512345678", "2")
        #expect(booked.reply == "Perfecto, solicité tu cita para hoy a las 9:30. La clínica la confirmará en breve.")
    }

    @Test("cancel cancels the patient's own upcoming appointment, not another patient's", .needsStack)
    func cancel() throws {
        let clinic = try InboundClinic()
        try clinic.send("+5215500000001", "hello")
        try clinic.send("+5215500000001", "1")
        try clinic.send("+5215500000002", "hello")
        try clinic.send("+5215500000002", "2")
        let out = try clinic.send("+5215500000001", "I need to cancel my appointment")
        #expect(out.reply == "Done, your appointment today at 9:00 AM is cancelled. Write to us if you want a new one.")
        let rows = try clinic.conn.query("""
            SELECT p.phone, a.status FROM appointments a JOIN patients p ON p.id = a.patient_id ORDER BY p.phone
            """)
        #expect(rows.map { $0.string("status") } == ["cancelled", "pending_review"])
        #expect(try clinic.send("+5215500000001", "cancel").reply == "You have no upcoming appointment to cancel.")
    }

    @Test("reschedule: the next appointment is replaced by the slot picked next, in one transaction", .needsStack)
    func reschedule() throws {
        let clinic = try InboundClinic()
        try clinic.send("+5215512345678", "hello")
        try clinic.send("+5215512345678", "1")
        let move = try clinic.send("+5215512345678", "I need to reschedule my appointment")
        #expect(move.reply?.hasPrefix("Sure, let's move your appointment today at 9:00 AM.") == true)
        #expect(move.reply?.contains("1. today at 9:30 AM") == true)
        let booked = try clinic.send("+5215512345678", "2")
        #expect(booked.reply == "Great, I've requested today at 10:00 AM for you. The clinic will confirm it shortly.")
        let rows = try clinic.conn.query("SELECT status, starts_at FROM appointments ORDER BY starts_at")
        #expect(rows.map { $0.string("status") } == ["cancelled", "pending_review"])
        #expect(rows[1].date("starts_at") == InboundClinic.now.addingTimeInterval(2 * 3600))
    }

    @Test("media is recorded with the message", .needsStack)
    func media() throws {
        let clinic = try InboundClinic()
        let p = InboundClinic.params(from: "+5215512345678", body: "", media: [("https://api.twilio.com/m/ME1", "image/jpeg")])
        _ = try clinic.service().handle(InboundWebhook(form: p))
        let m = try #require(try clinic.conn.query(
            "SELECT media->0->>'url' AS url, media->0->>'content_type' AS ct FROM whatsapp_messages WHERE direction = 'inbound'").first)
        #expect(m.string("url") == "https://api.twilio.com/m/ME1")
        #expect(m.string("ct") == "image/jpeg")
    }

    @Test("malformed webhooks: a clear 400 or a polite reply, nothing stored", .needsStack)
    func malformed() throws {
        let clinic = try InboundClinic()
        let service = clinic.service()
        func code(_ params: [(String, String)]) -> String? {
            do { _ = try service.handle(InboundWebhook(form: params)); return nil } catch let e as AppError {
                return e.code.rawValue   // each answered 400 (ErrorCatalogueTests)
            } catch { return "\(error)" }
        }
        #expect(code([("MessageSid", "SM1"), ("Body", "hi")]) == "missing_from")
        #expect(code([("MessageSid", "SM1"), ("From", "whatsapp:5512345678"), ("Body", "hi")]) == "invalid_from")
        #expect(code([("MessageSid", "SM1"), ("From", "whatsapp:+52abc"), ("Body", "hi")]) == "invalid_from")
        #expect(code([("From", "whatsapp:+5215512345678"), ("Body", "hi")]) == "missing_message_sid")
        let long = try service.handle(InboundWebhook(form: InboundClinic.params(from: "+5215512345678", body: String(repeating: "a", count: 100_000))))
        #expect(long.kind == .rejected)
        #expect(long.reply?.contains("too long") == true)
        #expect(try clinic.count("SELECT count(*) AS n FROM patients") == 0)
        #expect(try clinic.count("SELECT count(*) AS n FROM whatsapp_messages") == 0)
    }

    @Test("an unknown or disabled number is ignored with an empty response", .needsStack)
    func unknownSender() throws {
        let clinic = try InboundClinic()
        let service = clinic.service()
        let unknown = try service.handle(InboundWebhook(form: InboundClinic.params(from: "+5215512345678", body: "hi", to: "+15559999999")))
        #expect(unknown.kind == .unknownSender)
        #expect(unknown.twiml == "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>")
        try clinic.conn.execute("UPDATE whatsapp_senders SET is_active = false")
        let disabled = try SenderRoute.lookup(clinic.conn, phone: "+15550001000")
        #expect(disabled?.isActive == false)
        #expect(try service.handle(InboundWebhook(form: InboundClinic.params(from: "+5215512345678", body: "hi"))).kind == .unknownSender)
        #expect(try clinic.count("SELECT count(*) AS n FROM whatsapp_messages") == 0)
    }
}
