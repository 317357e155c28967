import Foundation
import MedsyncLog
import Postgres

/// The webhooks' statements.
///
/// A message is recorded, then answered (no transaction open across the model call):
/// 1. **Record** (one statement, atomic on its own): the sender by `To`, the patient and conversation
///    upserted, the message inserted — the unique `twilio_sid` decides whether it is new; only a new
///    message counts as unread. It returns the conversation's state and pending offer.
/// 2. The use case decides; for the model it reads the free slots and history and calls Gemini with no
///    transaction open and no row locked (`ConversationTurn.settle()` first).
/// 3. **Write** the decision in one statement (or a short transaction when an appointment is cancelled):
///    the appointment, the offer, the patient's language/consent and the reply linked to the message.
///    The unique key on the reply's `in_reply_to_id` decides: one reply per inbound message, and a
///    decider that loses (a retried webhook racing the first attempt) rolls back all of its writes and
///    answers the stored reply (`MessageAlreadyAnswered`). A retry whose first attempt recorded but
///    never wrote a reply (a crash between the phases) decides again, so it still gets exactly one reply.
///
/// The common case, a new message from a patient with a conversation, is one transaction: its BEGIN
/// goes with the recording statement, which leaves the conversation to the answer's statement (one
/// UPDATE of it per message instead of two: every index of the conversation takes a new entry at each
/// UPDATE, because the inbox's order and polling keys change), and the answer's statement carries the
/// COMMIT (`PGConversationTurn.last`). A decision that calls the model commits first (`settle`).
public struct PGConversationStore: ConversationStore {
    let conn: PGConnection
    public init(_ conn: PGConnection) { self.conn = conn }

    // MARK: routing

    /// Routes the session to the number's workspace (row-level security, sql/0021); one kept
    /// from an earlier request may be stale (the number moved): no active sender there is looked up
    /// once more after routing again.
    public func sender(phone: String) throws -> SenderRoute? {
        conn.workspace = .sender(phone: phone)
        func find() throws -> SenderRoute? {
            try conn.query("SELECT \(unescaped: SenderRoute.columns) \(unescaped: SenderRoute.fromWhere)\(phone)\(unescaped: SenderRoute.order)").first.flatMap { try SenderRoute(row: $0) }
        }
        let found = try find()
        if found?.isActive != true, conn.routeAgain() { return try find() }
        return found
    }

    public func routeAgain() -> Bool { conn.routeAgain() }

    // MARK: phase 1: record, and the unit of work

    public func receive<T>(_ m: IncomingMessage, log: Logger, answer: (Recording) throws -> T) throws -> T {
        // Row-level security: every statement below sees only the workspace of the sender `To`
        // names (sql/0021); the setting goes with the first statement, in its round trip.
        conn.workspace = .sender(phone: m.to)
        // The known-patient statement in a transaction whose BEGIN goes with it. Not the common case
        // (the patient or the conversation is to be made, a retry, an unknown sender): it wrote
        // nothing, and the steps below go on from what it found with no transaction open.
        try conn.begin()
        do {
            let found = try known(m, seen: false)
            guard case .recorded(let r)? = found, r.isNew else {
                conn.rollback()
                return try answer(recording(found ?? make(m)))
            }
            let value = try answer(.recorded(r.message, PGConversationTurn(conn, r.message, sid: m.sid, marksPending: true)))
            if conn.transactionDepth > 0 { try conn.commit() }
            return value
        } catch let e as PGError where conn.transactionDepth > 0 {
            // A database error in the transaction (a slot taken meanwhile, a retry racing) rolled it
            // back: the message is recorded and answered again, in steps.
            conn.rollback()
            log.info("inbound message \(m.sid): decided again in steps (\(e.constraint ?? e.sqlState ?? "database error"))")
            return try answer(recording(record(m)))
        } catch {
            conn.rollback()
            throw error
        }
    }

    private func recording(_ found: Found) -> Recording {
        switch found {
        case .unknownSender: return .unknownSender
        case .disabledSender: return .disabledSender
        case .elsewhere: return .elsewhere
        case .recorded(let r): return .recorded(r.message, PGConversationTurn(conn, r.message, sid: r.sid, marksPending: false))
        }
    }

    enum Found {
        case unknownSender, disabledSender, elsewhere
        case recorded(Recorded)
    }

    /// A recorded message with its MessageSid (for the stored reply).
    struct Recorded {
        var message: RecordedMessage
        var sid: String
        var isNew: Bool { message.isNew }
    }

    /// One statement: the sender by `To`; the patient found or created (consent on for a new one); the
    /// conversation found or created; the message inserted unless its MessageSid exists; the
    /// conversation's unread count and times moved only for a new message. Atomic on its own, so no
    /// BEGIN/COMMIT. Most messages come from a patient who already has a conversation (and a name):
    /// a statement that only finds them runs first, and the one that can create them only when it
    /// found nothing (PostgreSQL opens every table and index a statement could write, rows or not).
    /// Two first messages of one patient racing to create the patient or the conversation: the
    /// loser inserts nothing and runs the statement again (it then finds both).
    func record(_ m: IncomingMessage) throws -> Found {
        if let known = try known(m, seen: true) { return known }
        return try make(m)
    }

    /// The statement that can create the patient and the conversation (see `record`).
    func make(_ m: IncomingMessage) throws -> Found {
        let parts = RecordParts(m, seen: true)
        let detected = m.newPatientLanguage()
        for _ in 0..<3 {
            let made = try recorded(conn.query("""
                \(parts.head), known AS (
                    -- read, not upserted: an upsert would write a new version of the patient's row on every message
                    SELECT pt.id, pt.name, pt.consent_whatsapp, pt.preferred_language \(parts.patientByPhone)
                ), added AS (
                    -- `::text`: a value bound straight into a domain column is checked at every bind, row or not (0016)
                    INSERT INTO patients (workspace_id, phone, name, consent_whatsapp, consent_updated_at, consent_source, preferred_language)
                    SELECT s.workspace_id, \(m.from)::text, NULLIF(\(m.profileName), ''), true, now(), 'whatsapp', \(detected)::text FROM s
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
                """), sid: m.sid)
            if let made { return made }  // nil: lost the creation race
        }
        throw AppError.internal
    }

    /// The statement that only finds the patient (with a name, or no profile name to give) and the
    /// conversation, and records the message; nil when either is to be made. `seen: false` leaves the
    /// conversation's marks to the answer (`PGConversationTurn.marksPending`).
    func known(_ m: IncomingMessage, seen: Bool) throws -> Found? {
        let parts = RecordParts(m, seen: seen)
        return try recorded(conn.query("""
            \(parts.head), p AS (
                SELECT pt.id, pt.consent_whatsapp, pt.preferred_language \(parts.patientByPhone)
                   AND (pt.name IS NOT NULL OR NULLIF(\(m.profileName), '') IS NULL)
            ), c AS (
                \(unescaped: RecordParts.conversation)
            )\(parts.tail)
            """), sid: m.sid)
    }

    /// A new message's marks on its conversation (the answer's UPDATE sets `last_message_at` itself).
    static let marks: SQLFragment = "last_inbound_at = now(), unread_count = unread_count + 1, deleted_at = NULL"
    static let seenColumns: SQLFragment = marks + ", last_message_at = now()"

    /// The parts both recording statements share.
    struct RecordParts {
        let head: PGQuery
        let patientByPhone: PGQuery
        let tail: PGQuery

        init(_ m: IncomingMessage, seen: Bool) {
            // The sender by `To`, or — looked up already this request (the signature check) — as it was found.
            let sender: PGQuery = m.sender.map { s in """
                SELECT \(s.senderID)::bigint AS sender_id, \(s.workspaceID)::bigint AS workspace_id, \(s.phone)::text AS phone_number,
                       \(s.isActive)::bool AS is_active, \(s.subaccountSID)::text AS twilio_subaccount_sid,
                       \(s.subaccountTokenEnc)::text AS twilio_subaccount_token_enc, \(s.timezone)::text AS timezone,
                       \(s.clinicName)::text AS clinic_name, \(s.clinicInfo)::text AS clinic_info
                """ } ?? "SELECT \(unescaped: SenderRoute.columns) \(unescaped: SenderRoute.fromWhere)\(m.to)\(unescaped: SenderRoute.order)"
            head = """
                WITH s AS (
                    \(sender)
                ), elsewhere AS (
                    -- this MessageSid recorded by another clinic: nothing is created here
                    -- (another clinic's rows are not visible here: a function answers yes or no, sql/0021)
                    SELECT 1 FROM s WHERE medsync_message_elsewhere(\(m.sid), s.workspace_id)
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
                    UPDATE whatsapp_conversations SET \(unescaped: PGConversationStore.seenColumns) WHERE id = (SELECT conversation_id FROM m)
                )
                """ : ""
            tail = """
                , m AS (
                    INSERT INTO whatsapp_messages (workspace_id, conversation_id, direction, body, media, twilio_sid, status)
                    SELECT s.workspace_id, c.id, 'inbound', \(m.text), \(PGJSON(m.mediaJSON))::jsonb, \(m.sid), 'received' FROM s, c
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
    private func recorded(_ rows: PGResult, sid: String) throws -> Found? {
        guard let r = rows.first, let sender = try SenderRoute(row: r) else { return .unknownSender }
        guard sender.isActive else { return .disabledSender }
        if try r.decode(Bool.self, "elsewhere") { return .elsewhere }
        guard let conversationID = try r.decode(Int64?.self, "conversation_id") else { return nil }
        let messageID = try r.decode(Int64?.self, "message_id")
        return .recorded(Recorded(message: RecordedMessage(
            sender: sender, patientID: try r.decode(Int64.self, "patient_id"), conversationID: conversationID,
            messageID: messageID ?? 0, isNew: messageID != nil, patientLanguage: try r.decode(Language?.self, "preferred_language"),
            state: try r.decode(ConversationState.self, "state"), pendingIntent: try r.decode(String?.self, "pending_intent")), sid: sid))
    }

    // MARK: status callbacks

    public func subaccountToken(accountSID: String?, from: String?) throws -> SubaccountCredential? {
        let rows = try conn.query("""
            SELECT twilio_subaccount_sid, twilio_subaccount_token_enc FROM medsync_subaccount_token(\(accountSID ?? ""), \(from ?? ""))
            """)
        guard let row = rows.first, let sid = try row.decode(String?.self, "twilio_subaccount_sid"),
              let enc = try row.decode(String?.self, "twilio_subaccount_token_enc") else { return nil }
        return SubaccountCredential(sid: sid, tokenEnc: enc)
    }

    /// The schema's trigger keeps the order (queued < sending < sent < delivered < read; failed and
    /// undelivered final), so late and duplicated callbacks never move a status back, even when they race.
    public func updateStatus(sid: String, status: String, errorCode code: Int?, errorMessage: String?, account: String,
                             masterAccountSID: String) throws -> (found: Bool, status: String?) {
        let final = status == "failed" || status == "undelivered"
        // Row-level security: the session's workspace is the message's (sql/0021); the account check
        // below still decides whether it moves.
        conn.workspace = .message(sid: sid)
        let rows = try conn.query("""
            UPDATE whatsapp_messages m
               SET status = \(status),
                   error_code = CASE WHEN \(final)::bool THEN COALESCE(\(code)::int, m.error_code) ELSE m.error_code END,
                   error_message = CASE WHEN \(final)::bool AND \(code)::int IS NOT NULL THEN \(errorMessage) ELSE m.error_message END
              FROM whatsapp_conversations c JOIN whatsapp_senders s ON s.id = c.sender_id
             WHERE m.twilio_sid = \(sid) AND c.id = m.conversation_id
               AND COALESCE(s.twilio_subaccount_sid, \(masterAccountSID)) = \(account)
            RETURNING m.status
            """)
        guard let row = rows.first else { return (false, nil) }
        return (true, try row.decode(String?.self, "status"))
    }
}

extension PostgresStores {
    public var conversations: PGConversationStore { PGConversationStore(conn) }
}

extension SenderRoute {
    /// The sender row for a number (`s`, joined with its workspace `w`): the active one, else the most
    /// recent inactive one (so a disabled number can still be told apart from an unknown one).
    static let columns: SQLFragment = """
        s.id AS sender_id, s.workspace_id, s.phone_number, s.is_active, s.twilio_subaccount_sid, s.twilio_subaccount_token_enc,
               w.timezone, COALESCE(NULLIF(w.clinic_name, ''), w.name) AS clinic_name,
               concat_ws(E'\\n', NULLIF(w.clinic_info, ''), 'Address: ' || NULLIF(w.address, ''), 'Phone: ' || NULLIF(w.phone, '')) AS clinic_info
        """
    static let fromWhere: SQLFragment = "FROM whatsapp_senders s JOIN workspaces w ON w.id = s.workspace_id WHERE s.phone_number = "
    static let order: SQLFragment = " ORDER BY s.is_active DESC, s.id DESC LIMIT 1"

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
