import Foundation
import Postgres

public struct PGInboxStore: InboxStore {
    let conn: PGConnection
    public init(_ conn: PGConnection) { self.conn = conn }

    static let select: SQLFragment = """
        SELECT c.id, c.sender_id, c.state, c.unread_count, c.last_message_at, c.last_inbound_at,
               (extract(epoch FROM COALESCE(c.last_message_at, c.created_at)) * 1000000)::bigint AS sort_us,
               p.id AS p_id, p.name AS p_name, p.phone AS p_phone, p.preferred_language AS p_lang, p.consent_whatsapp AS p_consent,
               m.id AS m_id, m.direction AS m_direction, m.body AS m_body, m.status AS m_status, m.twilio_sid AS m_twilio_sid,
               m.error_code AS m_error_code, m.error_message AS m_error_message, m.template_key AS m_template_key,
               m.media::text AS m_media, m.created_at AS m_created_at, m.updated_at AS m_updated_at
          FROM whatsapp_conversations c
          JOIN patients p ON p.workspace_id = c.workspace_id AND p.id = c.patient_id
          LEFT JOIN LATERAL (SELECT * FROM whatsapp_messages WHERE conversation_id = c.id ORDER BY id DESC LIMIT 1) m ON true
        """

    static let messageColumns: SQLFragment = "id, direction, body, status, twilio_sid, error_code, error_message, template_key, media::text AS media, created_at, updated_at"

    public func now() throws -> Date {
        try conn.query("SELECT now() AS t").one().decode(Date.self, "t")
    }

    public func conversations(workspaceID: Int64, after cursor: InboxCursor?, search: String?, changedAfter: Date?, limit: Int) throws -> [InboxConversation] {
        let pattern = search.map { likeContaining($0) }
        let afterMicros = cursor?.sortMicros
        let afterID = cursor?.id
        return try conn.query("""
            \(unescaped: Self.select)
             WHERE c.workspace_id = \(workspaceID) AND c.deleted_at IS NULL
               AND (\(afterMicros)::bigint IS NULL OR (COALESCE(c.last_message_at, c.created_at), c.id)
                                           < ('epoch'::timestamptz + \(afterMicros)::bigint * interval '1 microsecond', \(afterID)::bigint))
               AND (\(pattern)::text IS NULL OR p.name ILIKE \(pattern)::text OR p.phone ILIKE \(pattern)::text
                    OR EXISTS (SELECT 1 FROM whatsapp_messages s WHERE s.conversation_id = c.id AND s.body ILIKE \(pattern)::text))
               AND (\(changedAfter)::timestamptz IS NULL OR c.updated_at > \(changedAfter)::timestamptz)
             ORDER BY COALESCE(c.last_message_at, c.created_at) DESC, c.id DESC
             LIMIT \(limit)
            """).map(InboxConversation.init(row:))
    }

    public func conversation(workspaceID: Int64, id: Int64) throws -> InboxConversation? {
        try conn.query("\(unescaped: Self.select) WHERE c.workspace_id = \(workspaceID) AND c.id = \(id) AND c.deleted_at IS NULL").first
            .map(InboxConversation.init(row:))
    }

    public func messages(workspaceID: Int64, conversationID: Int64, before: Int64?, limit: Int) throws -> [InboxMessage] {
        try conn.query("""
            SELECT \(unescaped: Self.messageColumns) FROM whatsapp_messages
             WHERE workspace_id = \(workspaceID) AND conversation_id = \(conversationID) AND (\(before)::bigint IS NULL OR id < \(before)::bigint)
             ORDER BY id DESC LIMIT \(limit)
            """).map { try InboxMessage(row: $0) }
    }

    public func messages(workspaceID: Int64, conversationID: Int64, changedAfter: Date, limit: Int) throws -> [InboxMessage] {
        try conn.query("""
            SELECT \(unescaped: Self.messageColumns) FROM whatsapp_messages
             WHERE workspace_id = \(workspaceID) AND conversation_id = \(conversationID) AND updated_at > \(changedAfter)
             ORDER BY id LIMIT \(limit)
            """).map { try InboxMessage(row: $0) }
    }

    public func markRead(workspaceID: Int64, conversationID: Int64) throws {
        try conn.execute("UPDATE whatsapp_conversations SET unread_count = 0 WHERE workspace_id = \(workspaceID) AND id = \(conversationID) AND unread_count <> 0")
    }

    public func delete(workspaceID: Int64, id: Int64, audit: AuditEntry) throws -> Bool {
        try conn.transaction {
            let n = try conn.execute("UPDATE whatsapp_conversations SET deleted_at = now() WHERE workspace_id = \(workspaceID) AND id = \(id) AND deleted_at IS NULL")
            guard n == 1 else { return false }
            try conn.recordAudit(audit)
            return true
        }
    }

    public func setState(workspaceID: Int64, id: Int64, state: String, audit: AuditEntry) throws -> Bool {
        try conn.transaction {
            let n = try conn.execute("""
                UPDATE whatsapp_conversations SET state = \(state), pending_intent = CASE WHEN \(state) = 'handoff' THEN NULL ELSE pending_intent END
                 WHERE workspace_id = \(workspaceID) AND id = \(id) AND deleted_at IS NULL
                """)
            guard n == 1 else { return false }
            try conn.recordAudit(audit)
            return true
        }
    }
}
