import Domain
import MedsyncLog
import Foundation
import TestSupport
import Testing
import HTTPClient
import Gemini

/// The inbound use case on the in-memory conversation store. What only PostgreSQL shows (concurrent
/// deliveries of one MessageSid, two patients racing for one slot, the hot path's statements) is in
/// StoreTests (`ConversationStoreTests`, `HotPathPlanTests`).
@Suite("Inbound: recording and answering patient messages")
struct InboundServiceTests {
    @Test("a new patient says hello: patient, conversation, both messages stored; the reply offers numbered slots")
    func newPatientHello() throws {
        let clinic = MemoryClinic()
        let out = try clinic.send("+5215512345678", "Hello, I would like an appointment")
        #expect(out.kind == .replied)
        let reply = try #require(out.reply)
        #expect(reply.contains("1. today at 9:00 AM"))
        #expect(reply.contains("2. today at 9:30 AM"))
        #expect(reply.contains("Reply with the number"))
        #expect(out.botFailure == "missing_key")  // no model configured: the deterministic rules answered
        let patient = try #require(clinic.patient("+5215512345678"))
        #expect(patient.name == "Ana López")
        #expect(patient.consentWhatsapp == true)
        #expect(patient.preferredLanguage == .en)
        let conv = try #require(clinic.conversations.first)
        #expect(conv.lastInboundAt != nil)
        #expect(conv.state == .bot)
        #expect(PendingOffer.parse(conv.pendingIntent)?.slots.count == 5)
        let messages = clinic.messages
        #expect(messages.map(\.direction) == ["inbound", "outbound"])
        #expect(messages[1].body == reply)
        #expect(messages[1].inReplyTo == out.messageID)
    }

    @Test("when the bot falls back, the log line names the workspace")
    func fallbackIsLoggedWithItsIDs() throws {
        let clinic = MemoryClinic()
        let log = CapturedLog()
        // Nothing listens on port 9: the model call fails at once and the rules answer.
        let gemini = GeminiClient(http: try HTTPClient(), apiKey: "k", baseURL: "http://127.0.0.1:9", model: "m", timeoutMS: 2000)
        let service = clinic.service(gemini: gemini, log: log.logger())
        let out = try service.handle(InboundWebhook(form: InboundClinic.params(from: "+5215512345678", body: "hello", sid: "SMlog0001")))
        #expect(out.kind == .replied)
        #expect(out.botFailure != nil)
        let line = try #require(log.lines.first { $0.contains("bot fallback") }, "\(log.lines)")
        #expect(line.hasPrefix("medsync: warning: bot fallback for conversation "), "\(line)")
        #expect(line.hasSuffix(" workspace_id=\(clinic.sender.workspaceID)"), "\(line)")
    }

    @Test("replying \"2\" books the second offered slot as pending_review, linked to the message")
    func shortcutBooks() throws {
        let clinic = MemoryClinic()
        try clinic.send("+5215512345678", "hi")
        let out = try clinic.send("+5215512345678", "2")
        #expect(out.usedGemini == false)
        #expect(out.reply == "Great, I've requested today at 9:30 AM for you. The clinic will confirm it shortly.")
        let appt = try #require(clinic.appointments.first)
        #expect(appt.status == "pending_review")
        #expect(appt.startsAt == MemoryClinic.now.addingTimeInterval(90 * 60))  // 09:30 local = 15:30Z
        #expect(appt.doctorID == clinic.doctorID)
        #expect(appt.sourceMessageID == out.messageID)
        #expect(clinic.conversations.first?.pendingIntent == nil)
    }

    @Test("times pick a slot too: 9:00, 09:00, 9h, 10:30", arguments: [("9:00", "9:00 AM"), ("09:00", "9:00 AM"), ("9h", "9:00 AM"), ("10:30", "10:30 AM")])
    func timeShortcuts(text: String, label: String) throws {
        let clinic = MemoryClinic()
        try clinic.send("+5215512345678", "hello")
        // The offer holds 9:00 … 11:00; 10:30 is the fourth slot.
        let out = try clinic.send("+5215512345678", text)
        #expect(out.reply?.contains("today at \(label)") == true)
        #expect(clinic.appointments.count == 1)
    }

    @Test("a number that is not offered gets the options again, nothing booked")
    func notAnOption() throws {
        let clinic = MemoryClinic()
        try clinic.send("+5215512345678", "hello")
        let out = try clinic.send("+5215512345678", "9")
        #expect(out.reply?.hasPrefix("That is not one of the options. Available times:\n1. today at 9:00 AM") == true)
        #expect(clinic.appointments.isEmpty)
    }

    @Test("a patient staff recorded without a name takes the WhatsApp profile name, even with a conversation; a named one keeps theirs")
    func profileNameFillsOnlyAMissingName() throws {
        let clinic = MemoryClinic()
        // Staff made both patients and wrote to them first: each has a conversation already.
        for (phone, name) in [("+5215511111111", nil), ("+5215522222222", "Ana María Ruiz")] as [(String, String?)] {
            clinic.store.addPatient(workspaceID: clinic.workspaceID, phone: phone, name: name, conversationWith: clinic.sender.senderID)
        }
        for phone in ["+5215511111111", "+5215522222222"] {
            #expect(try clinic.send(phone, "hello").kind == .replied)
            #expect(try clinic.send(phone, "hello again").kind == .replied)
        }
        let names = clinic.patients.sorted { $0.phone < $1.phone }.map { "\($0.phone) \($0.name ?? "-")" }
        #expect(names == ["+5215511111111 Ana López", "+5215522222222 Ana María Ruiz"])
        // No second conversation or patient; each message counted once as unread.
        #expect(clinic.conversations.count == 2)
        #expect(clinic.patients.count == 2)
        #expect(clinic.conversations.map(\.unreadCount).reduce(0, +) == 4)
        #expect(clinic.messages.filter { $0.direction == "inbound" }.count == 4)
    }

    @Test("a retried MessageSid stores nothing new, books nothing new and answers the same reply")
    func retrySameReply() throws {
        let clinic = MemoryClinic()
        try clinic.send("+5215512345678", "hello")
        let first = try clinic.send("+5215512345678", "1", sid: "SMretry0000000000000000000000001")
        let again = try clinic.send("+5215512345678", "1", sid: "SMretry0000000000000000000000001")
        #expect(again.kind == .duplicate)
        #expect(again.reply == first.reply)
        #expect(again.twiml == first.twiml)
        #expect(clinic.messages.count == 4)
        #expect(clinic.appointments.count == 1)
        #expect(clinic.conversations.first?.unreadCount == 2)
    }

    @Test("a retry whose first attempt was recorded but never answered is answered now, once")
    func retryOfAnUnansweredMessage() throws {
        let clinic = MemoryClinic()
        try clinic.send("+5215512345678", "hello")
        let sid = "SMunanswered00000000000000000001"
        let first = try clinic.send("+5215512345678", "STOP", sid: sid)
        // The first attempt's reply lost (as a crash between the phases leaves it).
        clinic.store.messages.removeAll { $0.inReplyTo == first.messageID }
        let again = try clinic.send("+5215512345678", "STOP", sid: sid)
        #expect(again.kind == .replied)
        #expect(again.messageID == first.messageID)
        #expect(again.reply == first.reply)
        #expect(clinic.messages.filter { $0.inReplyTo == first.messageID }.count == 1)
        #expect(clinic.conversations.first?.unreadCount == 2)
    }

    @Test("STOP turns consent off with a confirmation in the patient's language; ALTA turns it back on")
    func optOutAndIn() throws {
        let clinic = MemoryClinic()
        try clinic.send("+5215512345678", "Hola, quiero una cita")
        let stop = try clinic.send("+5215512345678", "STOP")
        #expect(stop.reply == "Te diste de baja: no recibirás más mensajes de Clínica Sol. Responde ALTA para volver a suscribirte.")
        #expect(clinic.patient("+5215512345678")?.consentWhatsapp == false)
        let baja = try clinic.send("+5215599999999", "Cancelar suscripción")
        #expect(baja.reply?.hasPrefix("Te diste de baja") == true)
        let alta = try clinic.send("+5215512345678", "alta")
        #expect(alta.reply?.hasPrefix("Volviste a suscribirte") == true)
        #expect(clinic.patient("+5215512345678")?.consentWhatsapp == true)
        let english = try clinic.send("+14155550123", "UNSUBSCRIBE")
        #expect(english.reply == "You are unsubscribed and will not receive more messages from Clínica Sol. Reply START to subscribe again.")
    }

    @Test("asking for a person hands the conversation to staff; the bot is silent afterwards")
    func handoff() throws {
        let clinic = MemoryClinic()
        let first = try clinic.send("+5215512345678", "quiero hablar con alguien por favor")
        #expect(first.reply == "Te comunico con una persona de nuestro equipo. Te responderá aquí en breve.")
        #expect(clinic.conversations.first?.state == .handoff)
        let next = try clinic.send("+5215512345678", "hola? 1")
        #expect(next.kind == .silent)
        #expect(next.twiml == TwiML.empty)
        // Unanswered, but counted as unread for the staff it was handed to.
        #expect(clinic.conversations.first?.unreadCount == 2)
        let message = try #require(clinic.messages.first { $0.id == next.messageID })
        #expect(clinic.conversations.first?.lastInboundAt == message.createdAt)
        #expect(clinic.messages.filter { $0.direction == "inbound" }.count == 2)
        // Staff hand it back: the bot answers again.
        clinic.store.conversations[0].state = .bot
        #expect(try clinic.send("+5215512345678", "hola").kind == .replied)
    }

    @Test("Spanish gets Spanish slots and the language is remembered")
    func spanish() throws {
        let clinic = MemoryClinic()
        let out = try clinic.send("+5215512345678", "Hola, buenos días")
        #expect(out.reply?.contains("1. hoy a las 9:00") == true)
        #expect(out.reply?.contains("Responde con el número") == true)
        #expect(clinic.patients.first?.preferredLanguage == .es)
        let booked = try clinic.send("+5215512345678", "2")
        #expect(booked.reply == "Perfecto, solicité tu cita para hoy a las 9:30. La clínica la confirmará en breve.")
    }

    @Test("cancel cancels the patient's own upcoming appointment, not another patient's")
    func cancel() throws {
        let clinic = MemoryClinic()
        try clinic.send("+5215500000001", "hello")
        try clinic.send("+5215500000001", "1")
        try clinic.send("+5215500000002", "hello")
        try clinic.send("+5215500000002", "2")
        let out = try clinic.send("+5215500000001", "I need to cancel my appointment")
        #expect(out.reply == "Done, your appointment today at 9:00 AM is cancelled. Write to us if you want a new one.")
        let phones = Dictionary(uniqueKeysWithValues: clinic.patients.map { ($0.id, $0.phone) })
        let rows = clinic.appointments.sorted { phones[$0.patientID] ?? "" < phones[$1.patientID] ?? "" }
        #expect(rows.map(\.status) == ["cancelled", "pending_review"])
        #expect(try clinic.send("+5215500000001", "cancel").reply == "You have no upcoming appointment to cancel.")
    }

    @Test("reschedule: the next appointment is replaced by the slot picked next")
    func reschedule() throws {
        let clinic = MemoryClinic()
        try clinic.send("+5215512345678", "hello")
        try clinic.send("+5215512345678", "1")
        let move = try clinic.send("+5215512345678", "I need to reschedule my appointment")
        #expect(move.reply?.hasPrefix("Sure, let's move your appointment today at 9:00 AM.") == true)
        #expect(move.reply?.contains("1. today at 9:30 AM") == true)
        let booked = try clinic.send("+5215512345678", "2")
        #expect(booked.reply == "Great, I've requested today at 10:00 AM for you. The clinic will confirm it shortly.")
        let rows = clinic.appointments.sorted { $0.startsAt < $1.startsAt }
        #expect(rows.map(\.status) == ["cancelled", "pending_review"])
        #expect(rows[1].startsAt == MemoryClinic.now.addingTimeInterval(2 * 3600))
    }

    @Test("media is recorded with the message")
    func media() throws {
        let clinic = MemoryClinic()
        let p = InboundClinic.params(from: "+5215512345678", body: "", media: [("https://api.twilio.com/m/ME1", "image/jpeg")])
        _ = try clinic.service().handle(InboundWebhook(form: p))
        let m = try #require(clinic.messages.first { $0.direction == "inbound" })
        let media = try #require(try JSONSerialization.jsonObject(with: Data(m.mediaJSON.utf8)) as? [[String: String]])
        #expect(media.first?["url"] == "https://api.twilio.com/m/ME1")
        #expect(media.first?["content_type"] == "image/jpeg")
    }

    @Test("malformed webhooks: a clear 400 or a polite reply, nothing stored")
    func malformed() throws {
        let clinic = MemoryClinic()
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
        #expect(clinic.patients.isEmpty)
        #expect(clinic.messages.isEmpty)
    }

    @Test("an unknown or disabled number is ignored with an empty response")
    func unknownSender() throws {
        let clinic = MemoryClinic()
        let service = clinic.service()
        let unknown = try service.handle(InboundWebhook(form: InboundClinic.params(from: "+5215512345678", body: "hi", to: "+15559999999")))
        #expect(unknown.kind == .unknownSender)
        #expect(unknown.twiml == "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>")
        clinic.store.senders[0].isActive = false
        let disabled = try clinic.store.sender(phone: "+15550001000")
        #expect(disabled?.isActive == false)
        #expect(try service.handle(InboundWebhook(form: InboundClinic.params(from: "+5215512345678", body: "hi"))).kind == .unknownSender)
        #expect(clinic.messages.isEmpty)
    }

    @Test("the sender the signature check found is not looked up again for a refused message")
    func senderLookedUpOnce() throws {
        let clinic = MemoryClinic()
        let empty = InboundWebhook(messageSID: "SMempty1", from: "+5215512345678", to: "+15550001000", body: .text(" "))
        // A sender handed in is the one used: here one that is not active, so the message is ignored.
        var inactive = clinic.sender
        inactive.isActive = false
        #expect(try clinic.service().handle(empty, sender: inactive).kind == .unknownSender)
        #expect(try clinic.service().handle(empty, sender: clinic.sender).kind == .rejected)
        #expect(try clinic.service().handle(empty).kind == .rejected)
    }
}
