import Foundation
import Postgres

/// The answer's statements for one recorded message. Opened by `PGConversationStore.receive`, either
/// inside its transaction (a new message of a known patient: the answer's last statement carries the
/// COMMIT) or with no transaction open.
final class PGConversationTurn: ConversationTurn {
    let conn: PGConnection
    var r: RecordedMessage
    let sid: String
    /// The message's marks on the conversation (unread count, last inbound and message times) are
    /// still to be written: by the answer's UPDATE of the conversation, or by `settle`.
    var marksPending: Bool

    init(_ conn: PGConnection, _ r: RecordedMessage, sid: String, marksPending: Bool) {
        self.conn = conn
        self.r = r
        self.sid = sid
        self.marksPending = marksPending
    }

    /// What the answer's UPDATE of the conversation sets first while the marks are pending.
    var seen: SQLFragment { marksPending ? PGConversationStore.marks + ", " : "" }

    /// Runs the answer's statement; in the store's transaction (marks pending, not inside a
    /// savepoint) it is the last one and carries the COMMIT (one round trip).
    @discardableResult
    private func last(_ query: PGQuery) throws -> PGResult {
        marksPending && conn.transactionDepth == 1 ? try conn.commit(with: query) : try conn.query(query)
    }

    /// The reply's unique key lost to another delivery of this MessageSid (outside the store's
    /// transaction; in it, the error rolls the transaction back and the store decides again).
    private func answered(_ e: PGError) -> Bool {
        e.isUniqueViolation && e.constraint == "whatsapp_messages_one_reply_key" && conn.transactionDepth == 0
    }

    /// The answer given the first time this MessageSid came in — to this workspace only (a MessageSid
    /// recorded by another clinic answers nothing of that clinic's conversation).
    func storedReply() throws -> StoredReply {
        let rows = try conn.query("""
            SELECT m.id, r.body AS reply FROM whatsapp_messages m
              LEFT JOIN whatsapp_messages r ON r.in_reply_to_id = m.id AND r.workspace_id = m.workspace_id
             WHERE m.twilio_sid = \(sid) AND m.workspace_id = \(r.sender.workspaceID)
            """)
        let stored = StoredReply(messageID: try rows.first?.decode(Int64?.self, "id"), reply: try rows.first?.decode(String?.self, "reply"))
        if let id = stored.messageID { r.messageID = id }
        return stored
    }

    /// The marks a message answered without a reply leaves on its conversation, and the COMMIT of the
    /// store's transaction: never a transaction open across the model call.
    func settle() throws {
        guard marksPending else { return }
        try conn.execute("UPDATE whatsapp_conversations SET \(unescaped: PGConversationStore.seenColumns) WHERE id = \(r.conversationID)")
        marksPending = false
        if conn.transactionDepth > 0 { try conn.commit() }
    }

    /// Writes a decision in one statement: the reply linked to the message (its unique key decides),
    /// the conversation's offer and state, the patient's language and consent.
    func write(_ d: ReplyWrite) throws {
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
        do {
            try last("""
                WITH reply AS (
                    INSERT INTO whatsapp_messages (workspace_id, conversation_id, direction, body, status, in_reply_to_id)
                    SELECT \(r.sender.workspaceID), \(r.conversationID), 'outbound', \(d.reply), 'sent', \(r.messageID) WHERE \(d.reply)::text IS NOT NULL
                    RETURNING id
                )\(patient)
                UPDATE whatsapp_conversations
                   SET \(unescaped: seen)pending_intent = \(d.offerJSON)::jsonb, last_message_at = now(),
                       state = CASE WHEN \(d.handoff)::bool THEN 'handoff' ELSE state END
                 WHERE id = \(r.conversationID)
                """)
        } catch let e as PGError where answered(e) {
            throw MessageAlreadyAnswered()
        }
        marksPending = false
    }

    /// Books a slot as `pending_review` in one statement with everything the booking changes: the
    /// appointment, the appointment a reschedule replaces cancelled, the offer cleared, the patient's
    /// language, the reply. The exclusion constraint `appointments_no_double_booking` on the doctor's
    /// live time ranges decides, races included (PostgreSQL waits for the other writer): a slot taken
    /// meanwhile fails the whole statement, so nothing is written, and is answered `.taken`. (A plain
    /// INSERT searches the constraint's index once; ON CONFLICT DO NOTHING searched it twice.)
    /// The offer may name a doctor who was removed or is no longer a doctor since: the appointment is
    /// inserted only for a doctor member (the membership row the foreign key reads anyway), and every
    /// other write of the statement hangs on it — no row, nothing written, answered `.doctorGone`.
    func book(_ b: SlotBooking) throws -> BookingResult {
        let ws = r.sender.workspaceID
        // Only the writes this booking needs are in the statement (each shape is prepared once):
        // PostgreSQL opens every table and index a statement could write, rows or not.
        let replaced: PGQuery = b.replaces.map { id in """
            , replaced AS (
                UPDATE appointments SET status = 'cancelled', cancelled_at = now()
                 WHERE id = \(id) AND workspace_id = \(ws) AND patient_id = \(r.patientID) AND status <> 'cancelled' AND EXISTS (SELECT FROM a)
            )
            """ } ?? ""
        let patient: PGQuery = r.patientLanguage == b.language ? "" : """
            , p AS (
                UPDATE patients SET preferred_language = \(b.language)::text
                 WHERE id = \(r.patientID) AND preferred_language IS DISTINCT FROM \(b.language) AND EXISTS (SELECT FROM a)
            )
            """
        let rows: PGResult
        do {
            rows = try last("""
            WITH a AS (
                INSERT INTO appointments (workspace_id, patient_id, doctor_id, starts_at, ends_at, status, source_message_id, reason)
                SELECT \(ws), \(r.patientID), m.user_id, \(b.startsAt), \(b.endsAt), 'pending_review', \(r.messageID), 'Booked over WhatsApp'
                  FROM memberships m WHERE m.user_id = \(b.doctorID) AND m.workspace_id = \(ws) AND m.role IN ('doctor', 'admin_doctor')
                RETURNING id
            )\(replaced), reply AS (
                INSERT INTO whatsapp_messages (workspace_id, conversation_id, direction, body, status, in_reply_to_id)
                SELECT \(ws), \(r.conversationID), 'outbound', \(b.reply), 'sent', \(r.messageID) FROM a
            ), c AS (
                UPDATE whatsapp_conversations SET \(unescaped: seen)pending_intent = NULL, last_message_at = now()
                 WHERE id = \(r.conversationID) AND EXISTS (SELECT FROM a)
            )\(patient)
            SELECT id AS appointment_id FROM a
            """)
        } catch let e as PGError where e.constraint == "appointments_no_double_booking" && conn.transactionDepth == 0 {
            // (In the store's transaction the error aborted it: the store rolls back and decides again.)
            return .taken
        } catch let e as PGError where e.constraint == "appointments_doctor_id_workspace_id_fkey" && conn.transactionDepth == 0 {
            // The doctor's membership was removed while this statement ran.
            return .doctorGone
        } catch let e as PGError where answered(e) {
            throw MessageAlreadyAnswered()
        }
        // Nothing was written: the offer named someone who is not (or no longer) a doctor here.
        guard let row = rows.first else { return .doctorGone }
        marksPending = false
        return .booked(appointmentID: try row.decode(Int64.self, "appointment_id"))
    }

    /// Cancels the patient's next non-cancelled appointment and says so, in one short transaction (the
    /// reply's unique key rolls the cancellation back for a decider that lost the race).
    func cancelNext(after now: Date, answer: (Date?) -> ReplyWrite) throws {
        do {
            try conn.transaction {
                let rows = try conn.query("""
                    UPDATE appointments SET status = 'cancelled', cancelled_at = now()
                     WHERE id = (SELECT id FROM appointments
                                  WHERE workspace_id = \(r.sender.workspaceID) AND patient_id = \(r.patientID) AND status <> 'cancelled' AND starts_at > \(now)
                                  ORDER BY starts_at LIMIT 1 FOR UPDATE)
                    RETURNING starts_at
                    """)
                try write(answer(try rows.first?.decode(Date?.self, "starts_at")))
            }
        } catch let e as PGError where answered(e) {
            throw MessageAlreadyAnswered()
        }
    }

    /// The patient's next appointment (to be replaced by a reschedule).
    func nextAppointment(after now: Date) throws -> UpcomingAppointment? {
        let next = try conn.query("""
            SELECT id, starts_at FROM appointments
             WHERE workspace_id = \(r.sender.workspaceID) AND patient_id = \(r.patientID) AND status <> 'cancelled' AND starts_at > \(now)
             ORDER BY starts_at LIMIT 1
            """).first
        guard let id = try next?.decode(Int64?.self, "id"), let at = try next?.decode(Date?.self, "starts_at") else { return nil }
        return UpcomingAppointment(id: id, startsAt: at)
    }

    /// The conversation's last messages as the model reads them (no transaction open: a statement of its own).
    func history() throws -> [HistoryLine] {
        let rows = try conn.query("""
            SELECT direction, body FROM whatsapp_messages
             WHERE conversation_id = \(r.conversationID) AND body <> ''
             ORDER BY id DESC LIMIT 8
            """)
        return try rows.reversed().map {
            HistoryLine(isInbound: try $0.decode(String?.self, "direction") == "inbound", body: try $0.decode(String?.self, "body") ?? "")
        }
    }
}
