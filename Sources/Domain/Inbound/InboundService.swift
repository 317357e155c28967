import Foundation
import Postgres
import Gemini

/// One offered slot, as stored in the conversation's `pending_intent`.
public struct OfferedSlot: Codable, Sendable, Equatable {
    public var n: Int
    public var doctorID: Int64
    public var startsAt: Int64   // Unix seconds
    public var endsAt: Int64
    public var label: String

    enum CodingKeys: String, CodingKey {
        case n, label
        case doctorID = "doctor_id", startsAt = "starts_at", endsAt = "ends_at"
    }

    public var slot: Slot {
        Slot(doctorUserID: doctorID, startsAt: Date(timeIntervalSince1970: TimeInterval(startsAt)),
             endsAt: Date(timeIntervalSince1970: TimeInterval(endsAt)))
    }
}

/// The numbered slots the bot offered last (`whatsapp_conversations.pending_intent`).
public struct PendingOffer: Codable, Sendable, Equatable {
    public var kind: String = "slots"
    public var language: String
    public var slots: [OfferedSlot]
    /// The appointment a booking from this offer replaces (the patient asked to reschedule).
    public var rescheduleOf: Int64?

    enum CodingKeys: String, CodingKey {
        case kind, language, slots
        case rescheduleOf = "reschedule_of"
    }

    public init(language: String, slots: [OfferedSlot], rescheduleOf: Int64? = nil) {
        self.language = language
        self.slots = slots
        self.rescheduleOf = rescheduleOf
    }

    public static func make(_ slots: [Slot], timeZone: String, language: Language, now: Date) -> PendingOffer {
        make(slots, timeZone: timeZone, language: language.rawValue, now: now)
    }

    public static func make(_ slots: [Slot], timeZone: String, language: String, now: Date) -> PendingOffer {
        PendingOffer(language: language, slots: slots.enumerated().map { i, s in
            OfferedSlot(n: i + 1, doctorID: s.doctorUserID, startsAt: Int64(s.startsAt.timeIntervalSince1970),
                        endsAt: Int64(s.endsAt.timeIntervalSince1970),
                        label: LocalTime.describe(s.startsAt, timeZone: timeZone, language: language, now: now))
        })
    }

    public var json: String {
        String(decoding: (try? JSONEncoder().encode(self)) ?? Data("null".utf8), as: UTF8.self)
    }

    public static func parse(_ text: String?) -> PendingOffer? {
        guard let text, let o = try? JSONDecoder().decode(PendingOffer.self, from: Data(text.utf8)), o.kind == "slots" else { return nil }
        return o
    }

    /// The slot a shortcut names: its number, or a time one slot has (an afternoon slot for "9:00"
    /// only when no morning one matches and no AM/PM was said).
    public func select(_ shortcut: InboundText.Shortcut, timeZone: String) -> OfferedSlot? {
        switch shortcut {
        case .number(let n):
            return slots.first { $0.n == n }
        case .time(let minutes, let meridiem):
            func at(_ m: Int) -> OfferedSlot? {
                slots.first { s in
                    let p = LocalTime.parts(Date(timeIntervalSince1970: TimeInterval(s.startsAt)), timeZone: timeZone)
                    return p.hour * 60 + p.minute == m
                }
            }
            if let s = at(minutes) { return s }
            if !meridiem, minutes < 12 * 60 { return at(minutes + 12 * 60) }
            return nil
        }
    }
}

/// The active sender a webhook's `To` names, with its workspace's details.
public struct SenderRoute: Sendable {
    public var senderID: Int64
    public var workspaceID: Int64
    public var phone: String
    public var isActive: Bool
    public var subaccountSID: String?
    public var subaccountTokenEnc: String?
    public var timezone: String
    public var clinicName: String
    public var clinicInfo: String

    /// The sender row for a number: the active one, else the most recent inactive one (so a
    /// disabled number can still be told apart from an unknown one).
    public static func lookup(_ conn: PGConnection, phone: String) throws -> SenderRoute? {
        let rows = try conn.query("""
            SELECT s.id, s.workspace_id, s.phone_number, s.is_active, s.twilio_subaccount_sid, s.twilio_subaccount_token_enc,
                   w.timezone, COALESCE(NULLIF(w.clinic_name, ''), w.name) AS clinic_name,
                   concat_ws(E'\\n', NULLIF(w.clinic_info, ''), 'Address: ' || NULLIF(w.address, ''), 'Phone: ' || NULLIF(w.phone, '')) AS clinic_info
              FROM whatsapp_senders s JOIN workspaces w ON w.id = s.workspace_id
             WHERE s.phone_number = \(phone)
             ORDER BY s.is_active DESC, s.id DESC LIMIT 1
            """)
        guard let r = rows.first, let id = try r.decode(Int64?.self, "id"), let ws = try r.decode(Int64?.self, "workspace_id") else { return nil }
        return SenderRoute(senderID: id, workspaceID: ws, phone: try r.decode(String?.self, "phone_number") ?? phone,
                           isActive: try r.decode(Bool?.self, "is_active") ?? false, subaccountSID: try r.decode(String?.self, "twilio_subaccount_sid"),
                           subaccountTokenEnc: try r.decode(String?.self, "twilio_subaccount_token_enc"),
                           timezone: try r.decode(String?.self, "timezone") ?? "UTC", clinicName: try r.decode(String?.self, "clinic_name") ?? "the clinic",
                           clinicInfo: try r.decode(String?.self, "clinic_info") ?? "")
    }
}

/// What the webhook answers.
public struct InboundOutcome: Sendable, Equatable {
    public enum Kind: String, Sendable { case replied, silent, duplicate, unknownSender = "unknown_sender", rejected }
    public var kind: Kind
    /// The text of the `<Message>`, nil for an empty `<Response/>`.
    public var reply: String?
    public var messageID: Int64?
    public var appointmentID: Int64?
    /// True when Gemini answered (false for shortcuts, keywords and the fallback).
    public var usedGemini: Bool = false
    /// Why Gemini was not used or failed (missing_key, timeout, http, invalid_response), for logs and tests.
    public var botFailure: String?

    public var twiml: String { reply.map(TwiML.message) ?? TwiML.empty }
}

/// `POST /api/webhooks/whatsapp` after the signature was verified: record the message, answer it.
///
/// Everything one message changes happens in one transaction: upsert patient + conversation,
/// insert the message (the unique `twilio_sid` decides whether it is new), consent, handoff,
/// booking, the reply (linked to the message). A retried MessageSid rolls its transaction back and
/// answers the reply stored the first time.
public struct InboundService {
    public let conn: PGConnection
    /// nil: no bot model (fallback rules only).
    public let gemini: GeminiClient?
    public var log: (String) -> Void
    public var now: () -> Date
    /// How many local days of free slots the bot sees, and how many it offers.
    public var days = 7
    public var offerCount = 5
    public static let maxBodyCharacters = 4096

    public init(conn: PGConnection, gemini: GeminiClient?, log: @escaping (String) -> Void = InboundService.stderrLog,
                now: @escaping () -> Date = Date.init) {
        self.conn = conn
        self.gemini = gemini
        self.log = log
        self.now = now
    }

    public static func stderrLog(_ line: String) {
        FileHandle.standardError.write(Data((line + "\n").utf8))
    }

    /// Records and answers a decoded webhook; never leaves anything half-written.
    public func handle(_ webhook: InboundWebhook, sender: SenderRoute?) throws -> InboundOutcome {
        let sid = webhook.messageSID
        guard let sender, sender.isActive else {
            log("warning: inbound webhook for \(webhook.to ?? "no To") (\(sender == nil ? "unknown" : "disabled") sender), MessageSid \(sid): ignored")
            return InboundOutcome(kind: .unknownSender)
        }
        if case .tooLong = webhook.body {
            return InboundOutcome(kind: .rejected, reply: InboundReplies.tooLong)
        }
        if webhook.isEmpty {
            return InboundOutcome(kind: .rejected, reply: InboundReplies.emptyMessage)
        }
        do {
            return try conn.transaction { try process(webhook, sender: sender) }
        } catch is Duplicate {
            return try storedReply(sid: sid, workspaceID: sender.workspaceID)
        } catch let e as PGError where e.isUniqueViolation && (e.constraint ?? "").contains("twilio_sid") {
            return try storedReply(sid: sid, workspaceID: sender.workspaceID)
        }
    }

    struct Duplicate: Error {}

    /// The answer given the first time this MessageSid came in — to this sender's workspace only: a
    /// MessageSid recorded by another clinic answers nothing of that clinic's conversation.
    func storedReply(sid: String, workspaceID: Int64) throws -> InboundOutcome {
        let rows = try conn.query("""
            SELECT m.id, r.body AS reply FROM whatsapp_messages m
              LEFT JOIN whatsapp_messages r ON r.in_reply_to_id = m.id AND r.workspace_id = m.workspace_id
             WHERE m.twilio_sid = \(sid) AND m.workspace_id = \(workspaceID)
            """)
        return InboundOutcome(kind: .duplicate, reply: try rows.first?.decode(String?.self, "reply"), messageID: try rows.first?.decode(Int64?.self, "id"))
    }

    struct State {
        var patientID: Int64
        var conversationID: Int64
        var messageID: Int64
        var consent: Bool
        var language: Language
        var conversationState: ConversationState
        var pending: PendingOffer?
    }

    /// The reply and the side effects decided for it.
    struct Decision {
        var reply: String?
        var language: Language
        var pending: PendingOffer?
        var consent: Bool? = nil
        var handoff = false
        var appointmentID: Int64? = nil
        var usedGemini = false
        var botFailure: String? = nil
    }

    func process(_ m: InboundWebhook, sender: SenderRoute) throws -> InboundOutcome {
        let detected = InboundText.detectLanguage(m.text)
        let rows = try conn.query("""
            WITH p AS (
                INSERT INTO patients (workspace_id, phone, name, consent_whatsapp, consent_updated_at, preferred_language)
                VALUES (\(sender.workspaceID), \(m.from), NULLIF(\(m.profileName), ''), true, now(), \(detected ?? .en))
                ON CONFLICT (workspace_id, phone) DO UPDATE SET name = COALESCE(patients.name, EXCLUDED.name)
                RETURNING id, consent_whatsapp, preferred_language
            ), c AS (
                INSERT INTO whatsapp_conversations (workspace_id, patient_id, sender_id, last_inbound_at, last_message_at, unread_count)
                SELECT \(sender.workspaceID), p.id, \(sender.senderID), now(), now(), 1 FROM p
                ON CONFLICT (patient_id, sender_id) DO UPDATE
                   SET last_inbound_at = now(), last_message_at = now(),
                       unread_count = whatsapp_conversations.unread_count + 1, deleted_at = NULL
                RETURNING id, state, pending_intent
            ), m AS (
                INSERT INTO whatsapp_messages (workspace_id, conversation_id, direction, body, media, twilio_sid, status)
                SELECT \(sender.workspaceID), c.id, 'inbound', \(m.text), \(PGJSON(m.mediaJSON))::jsonb, \(m.messageSID), 'received' FROM c
                ON CONFLICT (twilio_sid) DO NOTHING
                RETURNING id
            )
            SELECT p.id AS patient_id, p.consent_whatsapp, p.preferred_language, c.id AS conversation_id, c.state,
                   c.pending_intent::text AS pending_intent, (SELECT id FROM m) AS message_id
              FROM p, c
            """)
        guard let r = rows.first, let patientID = try r.decode(Int64?.self, "patient_id"), let conversationID = try r.decode(Int64?.self, "conversation_id") else {
            throw AppError.internal
        }
        guard let messageID = try r.decode(Int64?.self, "message_id") else { throw Duplicate() }
        let state = State(patientID: patientID, conversationID: conversationID, messageID: messageID,
                          consent: try r.decode(Bool?.self, "consent_whatsapp") ?? true, language: try r.decode(Language?.self, "preferred_language") ?? .en,
                          conversationState: try r.decode(ConversationState.self, "state"), pending: PendingOffer.parse(try r.decode(String?.self, "pending_intent")))
        let decision = try decide(m, state: state, sender: sender, detected: detected)
        if decision.reply == nil && decision.consent == nil && !decision.handoff {
            return InboundOutcome(kind: .silent, messageID: messageID, usedGemini: decision.usedGemini, botFailure: decision.botFailure)
        }
        try conn.query("""
            WITH r AS (
                INSERT INTO whatsapp_messages (workspace_id, conversation_id, direction, body, status, in_reply_to_id)
                SELECT \(sender.workspaceID), \(conversationID), 'outbound', \(decision.reply), 'sent', \(messageID) WHERE \(decision.reply)::text IS NOT NULL
                RETURNING id
            ), c AS (
                UPDATE whatsapp_conversations
                   SET pending_intent = \(decision.pending?.json)::jsonb, last_message_at = now(),
                       state = CASE WHEN \(decision.handoff)::bool THEN 'handoff' ELSE state END
                 WHERE id = \(conversationID)
            )
            UPDATE patients
               SET preferred_language = \(decision.language),
                   consent_whatsapp = COALESCE(\(decision.consent)::bool, consent_whatsapp),
                   consent_updated_at = CASE WHEN \(decision.consent)::bool IS NULL THEN consent_updated_at ELSE now() END,
                   consent_source = CASE WHEN \(decision.consent)::bool IS NULL THEN consent_source ELSE 'whatsapp' END
             WHERE id = \(patientID) AND (preferred_language IS DISTINCT FROM \(decision.language) OR \(decision.consent)::bool IS NOT NULL)
            """)
        return InboundOutcome(kind: decision.reply == nil ? .silent : .replied, reply: decision.reply, messageID: messageID,
                              appointmentID: decision.appointmentID, usedGemini: decision.usedGemini, botFailure: decision.botFailure)
    }

    // MARK: deciding the answer

    func decide(_ m: InboundWebhook, state: State, sender: SenderRoute, detected: Language?) throws -> Decision {
        var language = detected ?? state.language
        // 1. Consent keywords work in every state.
        if let keyword = InboundText.consentKeyword(m.text) {
            switch keyword {
            case .optOut(let l):
                // STOP/START are universal: answer in the language the patient has been using.
                language = l ?? state.language
                return Decision(reply: InboundReplies.optedOut(clinic: sender.clinicName, language: language),
                                language: language, pending: nil, consent: false)
            case .optIn(let l):
                language = l ?? state.language
                return Decision(reply: InboundReplies.optedIn(clinic: sender.clinicName, language: language),
                                language: language, pending: nil, consent: true)
            }
        }
        // 2. A conversation handed to staff: the bot is quiet until staff hand it back.
        if state.conversationState == .handoff {
            return Decision(reply: nil, language: state.language, pending: state.pending)
        }
        // 3. Asking for a person.
        if InboundText.asksForHuman(m.text) {
            return Decision(reply: InboundReplies.handoff(language: language), language: language, pending: nil, handoff: true)
        }
        let now = self.now()
        // 4. Slot shortcuts after numbered offers: no model call.
        if let offer = state.pending, let shortcut = InboundText.shortcut(m.text) {
            language = detected ?? Language(rawValue: offer.language) ?? state.language
            if let chosen = offer.select(shortcut, timeZone: sender.timezone) {
                return try book(chosen, state: state, sender: sender, language: language, now: now, rescheduleOf: offer.rescheduleOf)
            }
            let fresh = try freshOffer(sender: sender, language: language, now: now)
            return Decision(reply: InboundReplies.offer(InboundReplies.notAnOption(language: language), fresh, language: language),
                            language: language, pending: fresh)
        }
        // 5. The bot.
        let free = try FreeSlots.compute(conn, workspaceID: sender.workspaceID, from: now, days: days, limit: 200)
        if let gemini {
            switch askGemini(gemini, state: state, sender: sender, free: free, language: language, now: now) {
            case .success(let (answer, offer)):
                var d = try apply(answer, offer: offer, state: state, sender: sender, now: now)
                d.usedGemini = true
                return d
            case .failure(let error):
                log("warning: bot fallback for conversation \(state.conversationID): \(error)")
                var d = try fallback(m, state: state, sender: sender, free: free, language: language, now: now)
                d.botFailure = error.code
                return d
            }
        }
        var d = try fallback(m, state: state, sender: sender, free: free, language: language, now: now)
        d.botFailure = GeminiError.missingKey.code
        return d
    }

    func freshOffer(sender: SenderRoute, language: Language, now: Date) throws -> PendingOffer? {
        let free = try FreeSlots.compute(conn, workspaceID: sender.workspaceID, from: now, days: days, limit: 200)
        let offered = FreeSlots.offer(free, count: offerCount)
        return offered.isEmpty ? nil : PendingOffer.make(offered, timeZone: sender.timezone, language: language.rawValue, now: now)
    }

    /// Books a slot as `pending_review`; a slot taken meanwhile (the schema's unique index) offers others.
    func book(_ chosen: OfferedSlot, state: State, sender: SenderRoute, language: Language, now: Date,
              rescheduleOf: Int64? = nil) throws -> Decision {
        let label = LocalTime.describe(chosen.slot.startsAt, timeZone: sender.timezone, language: language.rawValue, now: now)
        if chosen.slot.startsAt > now {
            // The unique index appointments_no_double_booking decides a race: ON CONFLICT waits for the
            // other transaction and, if it booked the slot, inserts nothing (no savepoint, no aborted transaction).
            let id = try conn.query("""
                INSERT INTO appointments (workspace_id, patient_id, doctor_id, starts_at, ends_at, status, source_message_id, reason)
                SELECT \(sender.workspaceID), \(state.patientID), \(chosen.doctorID), \(chosen.slot.startsAt), \(chosen.slot.endsAt), 'pending_review', \(state.messageID), 'Booked over WhatsApp'
                 WHERE NOT EXISTS (SELECT 1 FROM appointments
                                    WHERE doctor_id = \(chosen.doctorID) AND status <> 'cancelled' AND starts_at < \(chosen.slot.endsAt) AND ends_at > \(chosen.slot.startsAt))
                ON CONFLICT DO NOTHING
                RETURNING id
                """).first?.decode(Int64?.self, "id")
            if let id {
                // A reschedule: the appointment it replaces is cancelled in the same transaction.
                if let old = rescheduleOf {
                    try conn.execute("""
                        UPDATE appointments SET status = 'cancelled', cancelled_at = now()
                         WHERE id = \(old) AND workspace_id = \(sender.workspaceID) AND patient_id = \(state.patientID) AND status <> 'cancelled'
                        """)
                }
                return Decision(reply: InboundReplies.booked(label, language: language), language: language, pending: nil,
                                appointmentID: id)
            }
            log("info: slot \(label) for doctor \(chosen.doctorID) was taken meanwhile")
        }
        var fresh = try freshOffer(sender: sender, language: language, now: now)
        fresh?.rescheduleOf = rescheduleOf
        return Decision(reply: InboundReplies.offer(InboundReplies.taken(label, language: language), fresh, language: language),
                        language: language, pending: fresh)
    }

    /// Cancels the patient's next non-cancelled appointment.
    func cancel(state: State, sender: SenderRoute, language: Language, now: Date) throws -> Decision {
        let rows = try conn.query("""
            UPDATE appointments SET status = 'cancelled', cancelled_at = now()
             WHERE id = (SELECT id FROM appointments
                          WHERE workspace_id = \(sender.workspaceID) AND patient_id = \(state.patientID) AND status <> 'cancelled' AND starts_at > \(now)
                          ORDER BY starts_at LIMIT 1 FOR UPDATE)
            RETURNING starts_at
            """)
        guard let at = try rows.first?.decode(Date?.self, "starts_at") else {
            return Decision(reply: InboundReplies.nothingToCancel(language: language), language: language, pending: nil)
        }
        let label = LocalTime.describe(at, timeZone: sender.timezone, language: language.rawValue, now: now)
        return Decision(reply: InboundReplies.cancelled(label, language: language), language: language, pending: nil)
    }

    /// The patient's next appointment (to be replaced), and the offer that will replace it.
    func reschedule(state: State, sender: SenderRoute, offer: PendingOffer?, language: Language, now: Date) throws -> Decision {
        let next = try conn.query("""
            SELECT id, starts_at FROM appointments
             WHERE workspace_id = \(sender.workspaceID) AND patient_id = \(state.patientID) AND status <> 'cancelled' AND starts_at > \(now)
             ORDER BY starts_at LIMIT 1
            """).first
        guard let id = try next?.decode(Int64?.self, "id"), let at = try next?.decode(Date?.self, "starts_at") else {
            return Decision(reply: InboundReplies.offer(InboundReplies.nothingToMove(language: language), offer, language: language),
                            language: language, pending: offer)
        }
        var replacing = offer
        replacing?.rescheduleOf = id
        let label = LocalTime.describe(at, timeZone: sender.timezone, language: language.rawValue, now: now)
        return Decision(reply: InboundReplies.offer(InboundReplies.moving(label, language: language), replacing, language: language),
                        language: language, pending: replacing)
    }

    // MARK: fallback rules

    func fallback(_ m: InboundWebhook, state: State, sender: SenderRoute, free: [Slot], language: Language, now: Date) throws -> Decision {
        let offered = FreeSlots.offer(free, count: offerCount)
        let offer = offered.isEmpty ? nil : PendingOffer.make(offered, timeZone: sender.timezone, language: language.rawValue, now: now)
        switch InboundText.fallbackIntent(m.text) {
        case .cancel:
            return try cancel(state: state, sender: sender, language: language, now: now)
        case .farewell:
            return Decision(reply: InboundReplies.farewell(language: language), language: language, pending: state.pending)
        case .thanks:
            return Decision(reply: InboundReplies.thanks(language: language), language: language, pending: state.pending)
        case .question:
            return Decision(reply: InboundReplies.offer(InboundReplies.question(language: language), offer, language: language),
                            language: language, pending: offer)
        case .reschedule:
            return try reschedule(state: state, sender: sender, offer: offer, language: language, now: now)
        case .greeting, .book, .handoff:
            return Decision(reply: InboundReplies.offer(InboundReplies.greeting(clinic: sender.clinicName, language: language),
                                                        offer, language: language),
                            language: language, pending: offer)
        }
    }
}
