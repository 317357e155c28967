import Foundation
import Postgres
import Gemini
import MedsyncLog

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

    /// The offer in `pending_intent`'s text; nil for none, for JSON of another shape or kind.
    /// `PendingOfferJSON` reads the shape the app writes (JSONDecoder was 7 % of a webhook's CPU);
    /// JSONDecoder decides whatever it does not know.
    public static func parse(_ text: String?) -> PendingOffer? {
        guard let text, let o = PendingOfferJSON.decode(text) ?? (try? JSONDecoder().decode(PendingOffer.self, from: Data(text.utf8))),
              o.kind == "slots" else { return nil }
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

    /// The sender row for a number (`s`, joined with its workspace `w`): the active one, else the most
    /// recent inactive one (so a disabled number can still be told apart from an unknown one).
    static let columns: SQLFragment = """
        s.id AS sender_id, s.workspace_id, s.phone_number, s.is_active, s.twilio_subaccount_sid, s.twilio_subaccount_token_enc,
               w.timezone, COALESCE(NULLIF(w.clinic_name, ''), w.name) AS clinic_name,
               concat_ws(E'\\n', NULLIF(w.clinic_info, ''), 'Address: ' || NULLIF(w.address, ''), 'Phone: ' || NULLIF(w.phone, '')) AS clinic_info
        """
    static let fromWhere: SQLFragment = "FROM whatsapp_senders s JOIN workspaces w ON w.id = s.workspace_id WHERE s.phone_number = "
    static let order: SQLFragment = " ORDER BY s.is_active DESC, s.id DESC LIMIT 1"

    /// Routes the session to the number's workspace (row-level security, sql/0021); one kept
    /// from an earlier request may be stale (the number moved): no active sender there is looked up
    /// once more after routing again.
    public static func lookup(_ conn: PGConnection, phone: String) throws -> SenderRoute? {
        conn.workspace = .sender(phone: phone)
        func find() throws -> SenderRoute? {
            try conn.query("SELECT \(unescaped: columns) \(unescaped: fromWhere)\(phone)\(unescaped: order)").first.flatMap { try SenderRoute(row: $0) }
        }
        let found = try find()
        if found?.isActive != true, conn.routeAgain() { return try find() }
        return found
    }

    /// The subaccount whose token may sign this number's webhooks.
    public var subaccount: SubaccountCredential? {
        subaccountTokenEnc.map { SubaccountCredential(sid: subaccountSID, tokenEnc: $0) }
    }
}

extension SenderRoute {
    /// The sender of a row holding `columns`; nil when its id is NULL (no such sender).
    init?(row r: PGRow) throws {
        guard let id = try r.decode(Int64?.self, "sender_id"), let ws = try r.decode(Int64?.self, "workspace_id") else { return nil }
        self.init(senderID: id, workspaceID: ws, phone: try r.decode(String.self, "phone_number"),
                  isActive: try r.decode(Bool.self, "is_active"), subaccountSID: try r.decode(String?.self, "twilio_subaccount_sid"),
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

/// `POST /api/webhooks/whatsapp` after the signature was verified: record the message, decide, answer.
///
/// Two phases, no transaction open across the model call:
/// 1. **Record** (one statement, atomic on its own): the sender by `To`, the patient and conversation
///    upserted, the message inserted — the unique `twilio_sid` decides whether it is new; only a new
///    message counts as unread. It returns the conversation's state and pending offer.
/// 2. **Decide** with `InboundDecision.first` (pure); for `.bot`, read the free slots and history and
///    call Gemini with no transaction open and no row locked.
/// 3. **Write** the decision in one statement (or a short transaction when an appointment is cancelled):
///    the appointment, the offer, the patient's language/consent and the reply linked to the message.
///    The unique key on the reply's `in_reply_to_id` decides: one reply per inbound message, and a
///    decider that loses (a retried webhook racing the first attempt) rolls back all of its writes and
///    answers the stored reply. A retry whose first attempt recorded but never wrote a reply (a crash
///    between the phases) decides again, so it still gets exactly one reply.
public struct InboundService {
    public let conn: PGConnection
    /// nil: no bot model (fallback rules only).
    public let gemini: GeminiClient?
    /// The route's logger (request_id, message_sid, workspace_id in its metadata).
    public var log: Logger
    public var now: () -> Date
    /// How many local days of free slots the bot sees, and how many it offers.
    public var days = OfferPolicy.days
    public var offerCount = OfferPolicy.offerCount

    public init(conn: PGConnection, gemini: GeminiClient?, log: Logger = Logger(label: "medsync.inbound"),
                now: @escaping () -> Date = Date.init) {
        self.conn = conn
        self.gemini = gemini
        self.log = log
        self.now = now
    }

    /// Records and answers a decoded webhook; never leaves anything half-written. The sender's
    /// workspace this session kept from an earlier webhook may be stale (its number moved to another
    /// clinic since, sql/0018): a sender not found active there is routed again, once.
    public func handle(_ webhook: InboundWebhook) throws -> InboundOutcome {
        let outcome = try answer(webhook)
        if outcome.kind == .unknownSender, conn.routeAgain() { return try answer(webhook) }
        return outcome
    }

    func answer(_ webhook: InboundWebhook) throws -> InboundOutcome {
        let sid = webhook.messageSID
        func ignored(_ why: String) -> InboundOutcome {
            log.warning("inbound webhook for \(webhook.to ?? "no To") (\(why) sender), MessageSid \(sid): ignored")
            return InboundOutcome(kind: .unknownSender)
        }
        guard let to = webhook.to else { return ignored("unknown") }
        // Row-level security: every statement below sees only the workspace of the sender `To`
        // names (sql/0021); the setting goes with the first statement, in its round trip.
        conn.workspace = .sender(phone: to)
        if case .tooLong = webhook.body {
            guard let sender = try SenderRoute.lookup(conn, phone: to) else { return ignored("unknown") }
            guard sender.isActive else { return ignored("disabled") }
            return InboundOutcome(kind: .rejected, reply: InboundReplies.tooLong)
        }
        if webhook.isEmpty {
            guard let sender = try SenderRoute.lookup(conn, phone: to) else { return ignored("unknown") }
            guard sender.isActive else { return ignored("disabled") }
            return InboundOutcome(kind: .rejected, reply: InboundReplies.emptyMessage)
        }
        let result: RecordResult
        switch try atOnce(webhook, to: to) {
        case .answered(let outcome): return outcome
        case .found(let found?): result = found
        case .found(nil): result = try make(webhook, to: to)
        case .undone: result = try record(webhook, to: to)
        }
        var recorded: Recorded
        switch result {
        case .unknownSender: return ignored("unknown")
        case .disabledSender: return ignored("disabled")
        case .elsewhere: return InboundOutcome(kind: .duplicate)
        case .recorded(let r): recorded = r
        }
        if !recorded.isNew {
            // A retry: the first attempt's reply, if it wrote one (to this workspace only: a MessageSid
            // recorded by another clinic answers nothing of that clinic's conversation).
            let stored = try storedReply(sid: sid, workspaceID: recorded.sender.workspaceID)
            guard let messageID = stored.messageID, stored.reply == nil else { return stored }
            // Recorded but never answered (the first attempt crashed between the phases, or is still
            // deciding): decide now; the reply's unique key keeps it to one answer either way.
            recorded.messageID = messageID
        }
        // From here on the workspace is known: every line about this message names it.
        var service = self
        service.log[metadataKey: "workspace_id"] = "\(recorded.sender.workspaceID)"
        do {
            return try service.answer(webhook, recorded)
        } catch let e as PGError where e.isUniqueViolation && e.constraint == "whatsapp_messages_one_reply_key" {
            return try storedReply(sid: sid, workspaceID: recorded.sender.workspaceID)
        }
    }

    /// The common case, a new message from a patient with a conversation, in one transaction: its
    /// BEGIN goes with the recording statement, which leaves the conversation to the answer's
    /// statement (one UPDATE of it per message instead of two: every index of the conversation takes
    /// a new entry at each UPDATE, because the inbox's order and polling keys change). A decision
    /// that calls the model commits first (`bot`). Not that case: what the known-patient statement
    /// found (it wrote nothing), for the steps below to go on from. A database error in the
    /// transaction (a slot taken meanwhile, a retry racing) rolls it back: `.undone`, decided again.
    func atOnce(_ m: InboundWebhook, to: String) throws -> AtOnce {
        try conn.begin()
        var workspaceID: Int64?
        do {
            let found = try known(m, to: to, seen: false)
            guard case .recorded(var r)? = found, r.isNew else {
                conn.rollback()
                return .found(found)
            }
            r.unseen = true
            workspaceID = r.sender.workspaceID
            var service = self
            service.log[metadataKey: "workspace_id"] = "\(r.sender.workspaceID)"
            let outcome = try service.answer(m, r)
            if conn.transactionDepth > 0 { try conn.commit() }
            return .answered(outcome)
        } catch let e as PGError where conn.transactionDepth > 0 {
            conn.rollback()
            log.info("inbound message \(m.messageSID): decided again in steps (\(e.constraint ?? e.sqlState ?? "database error"))")
            return .undone
        } catch let e as PGError where e.isUniqueViolation && e.constraint == "whatsapp_messages_one_reply_key" {
            // After the model call (committed first): a retry of this MessageSid answered meanwhile.
            guard let workspaceID else { throw e }
            return .answered(try storedReply(sid: m.messageSID, workspaceID: workspaceID))
        } catch {
            conn.rollback()
            throw error
        }
    }

    enum AtOnce {
        case answered(InboundOutcome)
        /// The known-patient statement's finding, nothing answered (nil: the patient or the
        /// conversation is to be made).
        case found(RecordResult?)
        /// Rolled back after a database error.
        case undone
    }

    // MARK: phase 1: record

    struct Recorded {
        var sender: SenderRoute
        var patientID: Int64
        var conversationID: Int64
        var messageID: Int64
        /// false: this MessageSid was recorded before (a retry).
        var isNew: Bool
        /// The patient's stored language (nil: none yet); the conversation's carries the default.
        var patientLanguage: Language?
        var conversation: ConversationSnapshot
        /// The message's marks on the conversation (unread count, last inbound and message times)
        /// are still to be written: by the answer's UPDATE of the conversation (`atOnce`).
        var unseen = false
        /// What the answer's UPDATE of the conversation sets first for an `unseen` message.
        var seen: SQLFragment { unseen ? InboundService.marks + ", " : "" }
    }

    enum RecordResult {
        case unknownSender, disabledSender
        /// The MessageSid belongs to another clinic's message: nothing was recorded.
        case elsewhere(SenderRoute)
        case recorded(Recorded)
    }

    /// One statement: the sender by `To`; the patient found or created (consent on for a new one); the
    /// conversation found or created; the message inserted unless its MessageSid exists; the
    /// conversation's unread count and times moved only for a new message. Atomic on its own, so no
    /// BEGIN/COMMIT. Most messages come from a patient who already has a conversation (and a name):
    /// a statement that only finds them runs first, and the one that can create them only when it
    /// found nothing (PostgreSQL opens every table and index a statement could write, rows or not).
    /// Two first messages of one patient racing to create the patient or the conversation: the
    /// loser inserts nothing and runs the statement again (it then finds both).
    func record(_ m: InboundWebhook, to: String) throws -> RecordResult {
        if let known = try known(m, to: to, seen: true) { return known }
        return try make(m, to: to)
    }

    /// The statement that can create the patient and the conversation (see `record`).
    func make(_ m: InboundWebhook, to: String) throws -> RecordResult {
        let parts = RecordParts(m, to: to, seen: true)
        let detected = InboundText.detectLanguage(m.text)
        for _ in 0..<3 {
            let made = try recorded(conn.query("""
                \(parts.head), known AS (
                    -- read, not upserted: an upsert would write a new version of the patient's row on every message
                    SELECT pt.id, pt.name, pt.consent_whatsapp, pt.preferred_language \(parts.patientByPhone)
                ), added AS (
                    -- `::text`: a value bound straight into a domain column is checked at every bind, row or not (0016)
                    INSERT INTO patients (workspace_id, phone, name, consent_whatsapp, consent_updated_at, consent_source, preferred_language)
                    SELECT s.workspace_id, \(m.from)::text, NULLIF(\(m.profileName), ''), true, now(), 'whatsapp', \(detected ?? .en)::text FROM s
                     WHERE s.is_active AND NOT EXISTS (SELECT 1 FROM elsewhere) AND NOT EXISTS (SELECT 1 FROM known)
                    ON CONFLICT (workspace_id, phone) DO NOTHING
                    RETURNING id, consent_whatsapp, preferred_language
                ), named AS (
                    -- a patient recorded without a name (staff, a bundle) takes the WhatsApp profile name
                    UPDATE patients SET name = NULLIF(\(m.profileName), '')
                     WHERE id = (SELECT id FROM known WHERE name IS NULL) AND NULLIF(\(m.profileName), '') IS NOT NULL
                ), p AS (
                    SELECT id, consent_whatsapp, preferred_language FROM known UNION ALL SELECT * FROM added
                ), old AS (
                    \(unescaped: RecordParts.conversation)
                ), new AS (
                    INSERT INTO whatsapp_conversations (workspace_id, patient_id, sender_id, last_inbound_at, last_message_at, unread_count)
                    SELECT s.workspace_id, p.id, s.sender_id, now(), now(), 1 FROM s, p
                     WHERE NOT EXISTS (SELECT 1 FROM old) AND NOT EXISTS (SELECT 1 FROM elsewhere)
                    ON CONFLICT (patient_id, sender_id) DO NOTHING
                    RETURNING id, state, pending_intent
                ), c AS (
                    SELECT * FROM old UNION ALL SELECT * FROM new
                )\(parts.tail)
                """))
            if let made { return made }  // nil: lost the creation race
        }
        throw AppError.internal
    }

    /// The statement that only finds the patient (with a name, or no profile name to give) and the
    /// conversation, and records the message; nil when either is to be made. `seen: false` leaves the
    /// conversation's marks to the answer (`Recorded.unseen`).
    func known(_ m: InboundWebhook, to: String, seen: Bool) throws -> RecordResult? {
        let parts = RecordParts(m, to: to, seen: seen)
        return try recorded(conn.query("""
            \(parts.head), p AS (
                SELECT pt.id, pt.consent_whatsapp, pt.preferred_language \(parts.patientByPhone)
                   AND (pt.name IS NOT NULL OR NULLIF(\(m.profileName), '') IS NULL)
            ), c AS (
                \(unescaped: RecordParts.conversation)
            )\(parts.tail)
            """))
    }

    /// A new message's marks on its conversation (the answer's UPDATE sets `last_message_at` itself).
    static let marks: SQLFragment = "last_inbound_at = now(), unread_count = unread_count + 1, deleted_at = NULL"
    static let seenColumns: SQLFragment = marks + ", last_message_at = now()"

    /// The parts both recording statements share.
    struct RecordParts {
        let head: PGQuery
        let patientByPhone: PGQuery
        let tail: PGQuery

        init(_ m: InboundWebhook, to: String, seen: Bool) {
            head = """
                WITH s AS (
                    SELECT \(unescaped: SenderRoute.columns) \(unescaped: SenderRoute.fromWhere)\(to)\(unescaped: SenderRoute.order)
                ), elsewhere AS (
                    -- this MessageSid recorded by another clinic: nothing is created here
                    -- (another clinic's rows are not visible here: a function answers yes or no, sql/0021)
                    SELECT 1 FROM s WHERE medsync_message_elsewhere(\(m.messageSID), s.workspace_id)
                )
                """
            // The patient by phone in the sender's workspace (nothing for another clinic's MessageSid), and
            // the conversation of patient `p` with sender `s`: what both statements look up.
            patientByPhone = """
                FROM patients pt, s
                 WHERE pt.workspace_id = s.workspace_id AND pt.phone = \(m.from) AND s.is_active AND NOT EXISTS (SELECT 1 FROM elsewhere)
                """
            // `p` (the patient) and `c` (the conversation) are found or made before this; a conversation
            // made by this statement is not seen by `seen` (one snapshot), and starts with its counts set.
            let seen: PGQuery = seen ? """
                , seen AS (
                    UPDATE whatsapp_conversations SET \(unescaped: InboundService.seenColumns) WHERE id = (SELECT conversation_id FROM m)
                )
                """ : ""
            tail = """
                , m AS (
                    INSERT INTO whatsapp_messages (workspace_id, conversation_id, direction, body, media, twilio_sid, status)
                    SELECT s.workspace_id, c.id, 'inbound', \(m.text), \(PGJSON(m.mediaJSON))::jsonb, \(m.messageSID), 'received' FROM s, c
                    ON CONFLICT (twilio_sid) DO NOTHING
                    RETURNING id, conversation_id
                )\(seen)
                SELECT s.*, p.id AS patient_id, p.consent_whatsapp, p.preferred_language,
                       c.id AS conversation_id, c.state, c.pending_intent::text AS pending_intent, (SELECT id FROM m) AS message_id,
                       EXISTS (SELECT 1 FROM elsewhere) AS elsewhere
                  FROM s LEFT JOIN p ON true LEFT JOIN c ON true
                """
        }

        static let conversation: SQLFragment = """
            SELECT c.id, c.state, c.pending_intent FROM whatsapp_conversations c, p, s
             WHERE c.patient_id = p.id AND c.sender_id = s.sender_id
            """
    }

    /// What a recording statement's row says; nil when it found no conversation (the known-patient
    /// statement: the patient or conversation is to be made; the full one: it lost a creation race).
    private func recorded(_ rows: PGResult) throws -> RecordResult? {
        guard let r = rows.first, let sender = try SenderRoute(row: r) else { return .unknownSender }
        guard sender.isActive else { return .disabledSender }
        if try r.decode(Bool.self, "elsewhere") { return .elsewhere(sender) }
        guard let conversationID = try r.decode(Int64?.self, "conversation_id") else { return nil }
        let messageID = try r.decode(Int64?.self, "message_id")
        let language = try r.decode(Language?.self, "preferred_language")
        return .recorded(Recorded(
            sender: sender, patientID: try r.decode(Int64.self, "patient_id"), conversationID: conversationID,
            messageID: messageID ?? 0, isNew: messageID != nil, patientLanguage: language,
            conversation: ConversationSnapshot(state: try r.decode(ConversationState.self, "state"), language: language ?? .en,
                                               pending: PendingOffer.parse(try r.decode(String?.self, "pending_intent")),
                                               timeZone: sender.timezone)))
    }

    /// The answer given the first time this MessageSid came in — to this workspace only.
    func storedReply(sid: String, workspaceID: Int64) throws -> InboundOutcome {
        let rows = try conn.query("""
            SELECT m.id, r.body AS reply FROM whatsapp_messages m
              LEFT JOIN whatsapp_messages r ON r.in_reply_to_id = m.id AND r.workspace_id = m.workspace_id
             WHERE m.twilio_sid = \(sid) AND m.workspace_id = \(workspaceID)
            """)
        return InboundOutcome(kind: .duplicate, reply: try rows.first?.decode(String?.self, "reply"), messageID: try rows.first?.decode(Int64?.self, "id"))
    }

    // MARK: phase 2: decide (no transaction open)

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

    func answer(_ m: InboundWebhook, _ r: Recorded) throws -> InboundOutcome {
        let now = self.now()
        let c = r.conversation
        let d: Decision
        switch InboundDecision.first(text: m.text, conversation: c, now: now) {
        case .silent:
            if r.unseen { try markSeen(r) }
            return InboundOutcome(kind: .silent, messageID: r.messageID)
        case .consent(let optIn, let language):
            let reply = optIn ? InboundReplies.optedIn(clinic: r.sender.clinicName, language: language)
                : InboundReplies.optedOut(clinic: r.sender.clinicName, language: language)
            d = try write(Decision(reply: reply, language: language, pending: nil, consent: optIn), r)
        case .handoff(let language):
            d = try write(Decision(reply: InboundReplies.handoff(language: language), language: language, pending: nil, handoff: true), r)
        case .book(let slot, let language, let rescheduleOf):
            d = try book(slot, language: language, rescheduleOf: rescheduleOf, r, now: now)
        case .slotGone(let slot, let language, let rescheduleOf):
            d = try taken(slot, language: language, rescheduleOf: rescheduleOf, r, now: now)
        case .notAnOption(let language):
            let fresh = try freshOffer(r.sender, language: language, now: now)
            d = try write(Decision(reply: InboundReplies.offer(InboundReplies.notAnOption(language: language), fresh, language: language),
                                   language: language, pending: fresh), r)
        case .bot(let language):
            d = try bot(m, r, language: language, now: now)
        }
        return InboundOutcome(kind: d.reply == nil ? .silent : .replied, reply: d.reply, messageID: r.messageID,
                              appointmentID: d.appointmentID, usedGemini: d.usedGemini, botFailure: d.botFailure)
    }

    /// The model (or the rules): free slots and history are read, then Gemini is called with no
    /// transaction open; its answer becomes a `BotAction` (pure) that is written.
    func bot(_ m: InboundWebhook, _ r: Recorded, language: Language, now: Date) throws -> Decision {
        var r = r
        if r.unseen {
            // Never a transaction open across the model call: the message and its marks commit first.
            try markSeen(r)
            try conn.commit()
            r.unseen = false
        }
        let free = try PostgresStores(conn).appointments.freeSlots(workspaceID: r.sender.workspaceID, from: now, days: days, limit: OfferPolicy.candidates)
        var usedGemini = false
        var failure: String? = nil
        let action: BotAction
        if let gemini {
            let offered = FreeSlots.offer(free, count: OfferPolicy.modelOfferCount)
            let offer = offered.isEmpty ? nil : PendingOffer.make(offered, timeZone: r.sender.timezone, language: language, now: now)
            switch askGemini(gemini, conversationID: r.conversationID, sender: r.sender, offer: offer, now: now) {
            case .success(let answer):
                action = InboundDecision.act(on: answer, offer: offer, pending: r.conversation.pending, timeZone: r.sender.timezone, now: now)
                usedGemini = true
            case .failure(let error):
                log.warning("bot fallback for conversation \(r.conversationID): \(error)")
                failure = error.code
                action = rules(m, r, free: free, language: language, now: now)
            }
        } else {
            failure = GeminiError.missingKey.code
            action = rules(m, r, free: free, language: language, now: now)
        }
        var d = try perform(action, r, now: now)
        d.usedGemini = usedGemini
        d.botFailure = failure
        return d
    }

    func rules(_ m: InboundWebhook, _ r: Recorded, free: [Slot], language: Language, now: Date) -> BotAction {
        let offered = FreeSlots.offer(free, count: offerCount)
        let offer = offered.isEmpty ? nil : PendingOffer.make(offered, timeZone: r.sender.timezone, language: language, now: now)
        return InboundDecision.rules(text: m.text, offer: offer, pending: r.conversation.pending, clinic: r.sender.clinicName, language: language)
    }

    func perform(_ action: BotAction, _ r: Recorded, now: Date) throws -> Decision {
        switch action {
        case .book(let slot, let language, let rescheduleOf):
            if slot.slot.startsAt > now { return try book(slot, language: language, rescheduleOf: rescheduleOf, r, now: now) }
            return try taken(slot, language: language, rescheduleOf: rescheduleOf, r, now: now)
        case .cancelNext(let language):
            return try cancelNext(r, language: language, now: now)
        case .rescheduleNext(let offer, let language):
            return try write(try reschedule(r, offer: offer, language: language, now: now), r)
        case .handoff(let language):
            return try write(Decision(reply: InboundReplies.handoff(language: language), language: language, pending: nil, handoff: true), r)
        case .reply(let text, let offer, let language):
            return try write(Decision(reply: text, language: language, pending: offer), r)
        }
    }

    /// `excluding`: a doctor whose slots are not to be offered (one who no longer sees patients here).
    func freshOffer(_ sender: SenderRoute, language: Language, now: Date, excluding: Int64? = nil) throws -> PendingOffer? {
        let free = try PostgresStores(conn).appointments.freeSlots(workspaceID: sender.workspaceID, from: now, days: days, limit: OfferPolicy.candidates)
            .filter { $0.doctorUserID != excluding }
        let offered = FreeSlots.offer(free, count: offerCount)
        return offered.isEmpty ? nil : PendingOffer.make(offered, timeZone: sender.timezone, language: language, now: now)
    }

    // MARK: phase 3: write

    /// Books a slot as `pending_review` in one statement with everything the booking changes: the
    /// appointment, the appointment a reschedule replaces cancelled, the offer cleared, the patient's
    /// language, the reply. The exclusion constraint `appointments_no_double_booking` on the doctor's
    /// live time ranges decides, races included (PostgreSQL waits for the other writer): a slot taken
    /// meanwhile fails the whole statement, so nothing is written, and is answered by `taken`. (A plain
    /// INSERT searches the constraint's index once; ON CONFLICT DO NOTHING searched it twice.)
    /// The offer may name a doctor who was removed or is no longer a doctor since: the appointment is
    /// inserted only for a doctor member (the membership row the foreign key reads anyway), and every
    /// other write of the statement hangs on it — no row, nothing written, answered by `taken`.
    func book(_ chosen: OfferedSlot, language: Language, rescheduleOf: Int64?, _ r: Recorded, now: Date) throws -> Decision {
        // The same limits as every other path that places an appointment (a stale offer out of them is gone).
        guard AppointmentSpan.problem(startsAt: chosen.slot.startsAt, endsAt: chosen.slot.endsAt, now: now) == nil else {
            return try taken(chosen, language: language, rescheduleOf: rescheduleOf, r, now: now)
        }
        let label = LocalTime.describe(chosen.slot.startsAt, timeZone: r.sender.timezone, language: language.rawValue, now: now)
        let reply = InboundReplies.booked(label, language: language)
        let ws = r.sender.workspaceID
        // Only the writes this booking needs are in the statement (each shape is prepared once):
        // PostgreSQL opens every table and index a statement could write, rows or not.
        let replaced: PGQuery = rescheduleOf.map { id in """
            , replaced AS (
                UPDATE appointments SET status = 'cancelled', cancelled_at = now()
                 WHERE id = \(id) AND workspace_id = \(ws) AND patient_id = \(r.patientID) AND status <> 'cancelled' AND EXISTS (SELECT FROM a)
            )
            """ } ?? ""
        let patient: PGQuery = r.patientLanguage == language ? "" : """
            , p AS (
                UPDATE patients SET preferred_language = \(language)::text
                 WHERE id = \(r.patientID) AND preferred_language IS DISTINCT FROM \(language) AND EXISTS (SELECT FROM a)
            )
            """
        let rows: PGResult
        do {
            rows = try last("""
            WITH a AS (
                INSERT INTO appointments (workspace_id, patient_id, doctor_id, starts_at, ends_at, status, source_message_id, reason)
                SELECT \(ws), \(r.patientID), m.user_id, \(chosen.slot.startsAt), \(chosen.slot.endsAt), 'pending_review', \(r.messageID), 'Booked over WhatsApp'
                  FROM memberships m WHERE m.user_id = \(chosen.doctorID) AND m.workspace_id = \(ws) AND m.role IN ('doctor', 'admin_doctor')
                RETURNING id
            )\(replaced), reply AS (
                INSERT INTO whatsapp_messages (workspace_id, conversation_id, direction, body, status, in_reply_to_id)
                SELECT \(ws), \(r.conversationID), 'outbound', \(reply), 'sent', \(r.messageID) FROM a
            ), c AS (
                UPDATE whatsapp_conversations SET \(unescaped: r.seen)pending_intent = NULL, last_message_at = now()
                 WHERE id = \(r.conversationID) AND EXISTS (SELECT FROM a)
            )\(patient)
            SELECT id AS appointment_id FROM a
            """, r)
        } catch let e as PGError where e.constraint == "appointments_no_double_booking" && conn.transactionDepth == 0 {
            // (In `atOnce`'s transaction the error aborted it: that path rolls back and decides again.)
            log.info("slot \(label) for doctor \(chosen.doctorID) was taken meanwhile")
            return try taken(chosen, language: language, rescheduleOf: rescheduleOf, r, now: now)
        } catch let e as PGError where e.constraint == "appointments_doctor_id_workspace_id_fkey" && conn.transactionDepth == 0 {
            // The doctor's membership was removed while this statement ran.
            return try taken(chosen, language: language, rescheduleOf: rescheduleOf, r, now: now, gone: true)
        }
        guard let row = rows.first else {
            // Nothing was written: the offer named someone who is not (or no longer) a doctor here.
            log.info("offered doctor \(chosen.doctorID) is no longer a doctor of this workspace")
            return try taken(chosen, language: language, rescheduleOf: rescheduleOf, r, now: now, gone: true)
        }
        return Decision(reply: reply, language: language, pending: nil, appointmentID: try row.decode(Int64.self, "appointment_id"))
    }

    /// The chosen slot is gone (taken meanwhile, its time has come, or — `gone` — its doctor no
    /// longer sees patients here): say so and offer others.
    func taken(_ chosen: OfferedSlot, language: Language, rescheduleOf: Int64?, _ r: Recorded, now: Date, gone: Bool = false) throws -> Decision {
        let label = LocalTime.describe(chosen.slot.startsAt, timeZone: r.sender.timezone, language: language.rawValue, now: now)
        var fresh = try freshOffer(r.sender, language: language, now: now, excluding: gone ? chosen.doctorID : nil)
        fresh?.rescheduleOf = rescheduleOf
        let sorry = gone ? InboundReplies.unavailable(label, language: language) : InboundReplies.taken(label, language: language)
        return try write(Decision(reply: InboundReplies.offer(sorry, fresh, language: language), language: language, pending: fresh), r)
    }

    /// Cancels the patient's next non-cancelled appointment and says so, in one short transaction (the
    /// reply's unique key rolls the cancellation back for a decider that lost the race).
    func cancelNext(_ r: Recorded, language: Language, now: Date) throws -> Decision {
        try conn.transaction {
            let rows = try conn.query("""
                UPDATE appointments SET status = 'cancelled', cancelled_at = now()
                 WHERE id = (SELECT id FROM appointments
                              WHERE workspace_id = \(r.sender.workspaceID) AND patient_id = \(r.patientID) AND status <> 'cancelled' AND starts_at > \(now)
                              ORDER BY starts_at LIMIT 1 FOR UPDATE)
                RETURNING starts_at
                """)
            guard let at = try rows.first?.decode(Date?.self, "starts_at") else {
                return try write(Decision(reply: InboundReplies.nothingToCancel(language: language), language: language, pending: nil), r)
            }
            let label = LocalTime.describe(at, timeZone: r.sender.timezone, language: language.rawValue, now: now)
            return try write(Decision(reply: InboundReplies.cancelled(label, language: language), language: language, pending: nil), r)
        }
    }

    /// The patient's next appointment (to be replaced), and the offer that will replace it.
    func reschedule(_ r: Recorded, offer: PendingOffer?, language: Language, now: Date) throws -> Decision {
        let next = try conn.query("""
            SELECT id, starts_at FROM appointments
             WHERE workspace_id = \(r.sender.workspaceID) AND patient_id = \(r.patientID) AND status <> 'cancelled' AND starts_at > \(now)
             ORDER BY starts_at LIMIT 1
            """).first
        guard let id = try next?.decode(Int64?.self, "id"), let at = try next?.decode(Date?.self, "starts_at") else {
            return Decision(reply: InboundReplies.offer(InboundReplies.nothingToMove(language: language), offer, language: language),
                            language: language, pending: offer)
        }
        var replacing = offer
        replacing?.rescheduleOf = id
        let label = LocalTime.describe(at, timeZone: r.sender.timezone, language: language.rawValue, now: now)
        return Decision(reply: InboundReplies.offer(InboundReplies.moving(label, language: language), replacing, language: language),
                        language: language, pending: replacing)
    }

    /// The marks a message answered without a reply leaves on its conversation (`Recorded.unseen`).
    func markSeen(_ r: Recorded) throws {
        try conn.execute("UPDATE whatsapp_conversations SET \(unescaped: InboundService.seenColumns) WHERE id = \(r.conversationID)")
    }

    /// Writes a decision in one statement: the reply linked to the message (its unique key decides),
    /// the conversation's offer and state, the patient's language and consent.
    @discardableResult
    func write(_ d: Decision, _ r: Recorded) throws -> Decision {
        // The patient's row is in the statement only when something of it changes (see `book`).
        let patient: PGQuery = r.patientLanguage == d.language && d.consent == nil ? "" : """
            , p AS (
                UPDATE patients
                   SET preferred_language = \(d.language)::text,
                       consent_whatsapp = COALESCE(\(d.consent)::bool, consent_whatsapp),
                       consent_updated_at = CASE WHEN \(d.consent)::bool IS NULL THEN consent_updated_at ELSE now() END,
                       consent_source = CASE WHEN \(d.consent)::bool IS NULL THEN consent_source ELSE 'whatsapp' END
                 WHERE id = \(r.patientID) AND (preferred_language IS DISTINCT FROM \(d.language) OR \(d.consent)::bool IS NOT NULL)
            )
            """
        try last("""
            WITH reply AS (
                INSERT INTO whatsapp_messages (workspace_id, conversation_id, direction, body, status, in_reply_to_id)
                SELECT \(r.sender.workspaceID), \(r.conversationID), 'outbound', \(d.reply), 'sent', \(r.messageID) WHERE \(d.reply)::text IS NOT NULL
                RETURNING id
            )\(patient)
            UPDATE whatsapp_conversations
               SET \(unescaped: r.seen)pending_intent = \(d.pending?.json)::jsonb, last_message_at = now(),
                   state = CASE WHEN \(d.handoff)::bool THEN 'handoff' ELSE state END
             WHERE id = \(r.conversationID)
            """, r)
        return d
    }

    /// Runs the answer's statement; in `atOnce`'s transaction (an `unseen` message, not inside a
    /// savepoint) it is the last one and carries the COMMIT (one round trip).
    @discardableResult
    private func last(_ query: PGQuery, _ r: Recorded) throws -> PGResult {
        r.unseen && conn.transactionDepth == 1 ? try conn.commit(with: query) : try conn.query(query)
    }
}
