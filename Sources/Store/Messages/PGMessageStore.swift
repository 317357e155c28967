import Foundation
import Postgres

/// Every statement is one on its own (autocommit): a send reads, calls Twilio with no transaction
/// open, then records. The Idempotency-Key statements run in the caller's transaction when one is
/// open (`PGBundleStore.enqueue` takes a bundle's key in the transaction that queues it: a
/// concurrent request with the same key waits on the unique key, then replays).
public struct PGMessageStore: MessageStore {
    let conn: PGConnection
    public init(_ conn: PGConnection) { self.conn = conn }

    public func patient(workspaceID: Int64, id: Int64) throws -> OutboundPatient? {
        try conn.query("SELECT phone, consent_whatsapp FROM patients WHERE workspace_id = \(workspaceID) AND id = \(id)").first.map {
            OutboundPatient(phone: try $0.decode(String.self, "phone"), consentWhatsapp: try $0.decode(Bool?.self, "consent_whatsapp"))
        }
    }

    public func primarySender(workspaceID: Int64) throws -> SenderAccount? {
        try conn.query("SELECT \(unescaped: SenderAccount.columns) FROM whatsapp_senders WHERE workspace_id = \(workspaceID) AND is_active AND is_primary")
            .first.map(SenderAccount.init(row:))
    }

    public func sender(workspaceID: Int64, id: Int64) throws -> SenderAccount? {
        try conn.query("SELECT \(unescaped: SenderAccount.columns) FROM whatsapp_senders WHERE workspace_id = \(workspaceID) AND id = \(id)")
            .first.map(SenderAccount.init(row:))
    }

    public func contentSid(workspaceID: Int64, key: String, language: String) throws -> String? {
        let r = try conn.query(
            "SELECT content_sids -> \(key) ->> \(language) AS sid FROM workspaces WHERE id = \(workspaceID)")
        guard let sid = try r.first?.decode(String?.self, "sid"), !sid.isEmpty else { return nil }
        return sid
    }

    public func conversation(workspaceID: Int64, patientID: Int64, senderID: Int64) throws -> OutboundConversation? {
        try conn.query("""
            SELECT id, last_inbound_at FROM whatsapp_conversations WHERE workspace_id = \(workspaceID) AND patient_id = \(patientID) AND sender_id = \(senderID)
            """).first.map { OutboundConversation(id: try $0.decode(Int64.self, "id"), lastInboundAt: try $0.decode(Date?.self, "last_inbound_at")) }
    }

    public func templateContext(workspaceID: Int64, patientID: Int64, now: Date) throws -> TemplateContext? {
        try conn.query("""
            SELECT COALESCE(p.preferred_language, w.default_language) AS language,
                   COALESCE(NULLIF(w.clinic_name, ''), w.name) AS clinic_name,
                   (SELECT NULLIF(u.name, '') FROM appointments a JOIN users u ON u.id = a.doctor_id
                     WHERE a.workspace_id = w.id AND a.patient_id = p.id AND a.status <> 'cancelled'
                     ORDER BY a.starts_at < \(now)::timestamptz, abs(extract(epoch FROM a.starts_at - \(now)::timestamptz)) LIMIT 1) AS doctor_name
              FROM workspaces w JOIN patients p ON p.workspace_id = w.id AND p.id = \(patientID)
             WHERE w.id = \(workspaceID)
            """).first.map {
            TemplateContext(language: try $0.decode(String?.self, "language"), clinicName: try $0.decode(String?.self, "clinic_name"),
                            doctorName: try $0.decode(String?.self, "doctor_name"))
        }
    }

    public func record(_ m: OutboundMessage) throws -> RecordedOutbound {
        let conversationID = try conn.query("""
            INSERT INTO whatsapp_conversations (workspace_id, patient_id, sender_id, last_message_at) VALUES (\(m.workspaceID), \(m.patientID), \(m.senderID), now())
            ON CONFLICT (patient_id, sender_id) DO UPDATE SET deleted_at = NULL, last_message_at = now()
            RETURNING id
            """).one().decode(Int64.self, "id")
        let row = try conn.query("""
            INSERT INTO whatsapp_messages (workspace_id, conversation_id, direction, body, twilio_sid, status, error_code,
                                           error_message, template_key, content_sid, sent_by_user_id)
            VALUES (\(m.workspaceID), \(conversationID), 'outbound', \(m.body), \(m.sid), \(m.status), \(m.errorCode), \(m.errorMessage), \(m.templateKey), \(m.contentSid), \(m.sentByUserID)) RETURNING id
            """).one()
        return RecordedOutbound(messageID: try row.decode(Int64.self, "id"), conversationID: conversationID, status: m.status)
    }

    public func recordSettled(_ m: OutboundMessage) throws -> RecordedOutbound {
        if let sid = m.sid, let row = try conn.query("""
            SELECT id, conversation_id, status FROM whatsapp_messages WHERE workspace_id = \(m.workspaceID) AND twilio_sid = \(sid)
            """).first {
            return RecordedOutbound(messageID: try row.decode(Int64.self, "id"), conversationID: try row.decode(Int64.self, "conversation_id"),
                                    status: try row.decode(String.self, "status"))
        }
        return try record(m)
    }

    public func unsettledSends(workspaceID: Int64, conversationID: Int64, body: String, templateKey: String?) throws -> [UnsettledSend] {
        try conn.query("""
            SELECT id, created_at FROM whatsapp_messages
             WHERE workspace_id = \(workspaceID) AND conversation_id = \(conversationID) AND created_at > now() - interval '1 day'
               AND direction = 'outbound' AND status = 'sending' AND twilio_sid IS NULL
               AND body = \(body) AND template_key IS NOT DISTINCT FROM \(templateKey)
             ORDER BY id
            """).map { UnsettledSend(messageID: try $0.decode(Int64.self, "id"), createdAt: try $0.decode(Date.self, "created_at")) }
    }

    public func settleSent(messageID: Int64, sid: String, status: String, errorCode: Int?, errorMessage: String?) throws -> String? {
        try conn.query("""
            UPDATE whatsapp_messages SET twilio_sid = \(sid), status = \(status), error_code = \(errorCode), error_message = \(errorMessage)
             WHERE id = \(messageID) AND twilio_sid IS NULL RETURNING status
            """).first?.decode(String?.self, "status")
    }

    public func settleNotSent(messageID: Int64) throws {
        try conn.execute("""
            UPDATE whatsapp_messages SET status = 'failed', error_message = 'Twilio has no record of this message: it was not sent.'
             WHERE id = \(messageID) AND twilio_sid IS NULL AND status = 'sending'
            """)
    }

    public func takeIdempotencyKey(workspaceID: Int64, key: String, operation: String, hash: String) throws -> Int64? {
        try conn.query("""
            INSERT INTO idempotent_requests (workspace_id, idempotency_key, operation, request_hash)
            VALUES (\(workspaceID), \(key), \(operation), \(hash))
            ON CONFLICT (workspace_id, idempotency_key) DO NOTHING RETURNING id
            """).first?.decode(Int64?.self, "id")
    }

    public func idempotentRequest(workspaceID: Int64, key: String) throws -> IdempotentRequest? {
        try conn.query("""
            SELECT id, operation, request_hash, status, response::text AS response FROM idempotent_requests
             WHERE workspace_id = \(workspaceID) AND idempotency_key = \(key)
            """).first.map(IdempotentRequest.init(row:))
    }

    public func takeOverIdempotencyKey(id: Int64, idleSeconds: Int) throws -> Date? {
        try conn.query("""
            UPDATE idempotent_requests SET updated_at = now()
             WHERE id = \(id) AND status = 'running' AND updated_at < now() - make_interval(secs => \(idleSeconds))
            RETURNING created_at
            """).first?.decode(Date?.self, "created_at")
    }

    public func completeIdempotentRequest(id: Int64, response: String) throws {
        try conn.execute("UPDATE idempotent_requests SET status = 'completed', response = \(response)::jsonb WHERE id = \(id)")
    }

    public func releaseIdempotencyKey(id: Int64) throws {
        try conn.execute("DELETE FROM idempotent_requests WHERE id = \(id) AND status = 'running'")
    }
}
