import Foundation
import Postgres

/// The staff inbox: conversations (newest first, cursor pages, search), their messages (cursor,
/// `since` polling), delete, hand-off to a person and back to the bot.
public enum Conversations {
    public struct PatientView: Sendable, Encodable {
        public let id: Int64
        public let name: String?
        public let phone: String
        public let preferredLanguage: String
        public let consentWhatsapp: Bool
        enum CodingKeys: String, CodingKey {
            case id, name, phone
            case preferredLanguage = "preferred_language", consentWhatsapp = "consent_whatsapp"
        }
    }

    public struct MessageView: Sendable, Encodable {
        public let id: Int64
        public let direction: String
        public let body: String
        public let status: String
        public let twilioSID: String?
        public let errorCode: Int?
        public let errorMessage: String?
        public let templateKey: String?
        public let media: String
        public let createdAt: Date
        public let updatedAt: Date
        enum CodingKeys: String, CodingKey {
            case id, direction, body, status
            case twilioSID = "twilio_sid", errorCode = "error_code", errorMessage = "error_message", templateKey = "template_key"
            case media, createdAt = "created_at", updatedAt = "updated_at"
        }
        init(row: PGRow, prefix: String = "") throws {
            id = try row.decode(Int64.self, prefix + "id")
            direction = try row.decode(String?.self, prefix + "direction") ?? ""
            body = try row.decode(String?.self, prefix + "body") ?? ""
            status = try row.decode(String?.self, prefix + "status") ?? ""
            twilioSID = try row.decode(String?.self, prefix + "twilio_sid")
            errorCode = try row.decode(Int?.self, prefix + "error_code")
            errorMessage = try row.decode(String?.self, prefix + "error_message")
            templateKey = try row.decode(String?.self, prefix + "template_key")
            media = try row.decode(String?.self, prefix + "media") ?? "[]"
            createdAt = try row.decode(Date.self, prefix + "created_at")
            updatedAt = try row.decode(Date.self, prefix + "updated_at")
        }
    }

    public struct Window: Sendable, Encodable {
        public let open: Bool
        public let endsAt: Date?
        enum CodingKeys: String, CodingKey { case open, endsAt = "ends_at" }
    }

    public struct View: Sendable, Encodable {
        public let id: Int64
        public let patient: PatientView
        public let senderID: Int64
        public let state: String
        public let unreadCount: Int
        public let lastMessage: MessageView?
        public let lastMessageAt: Date?
        public let window: Window
        enum CodingKeys: String, CodingKey {
            case id, patient, state, window
            case senderID = "sender_id", unreadCount = "unread_count", lastMessage = "last_message", lastMessageAt = "last_message_at"
        }
    }

    public struct Page<T: Sendable & Encodable>: Sendable, Encodable {
        public let items: [T]
        public let nextCursor: String?
        /// The database's time when the page was read: the next poll's `since`.
        public let serverTime: Date?
        public init(items: [T], nextCursor: String?, serverTime: Date? = nil) {
            self.items = items
            self.nextCursor = nextCursor
            self.serverTime = serverTime
        }
        enum CodingKeys: String, CodingKey { case items, nextCursor = "next_cursor", serverTime = "server_time" }
    }

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

    static func view(_ row: PGRow, now: Date) throws -> View {
        let lastIn = try row.decode(Date?.self, "last_inbound_at")
        let ends = lastIn.map { $0.addingTimeInterval(Outbound.windowSeconds) }
        return View(
            id: try row.decode(Int64.self, "id"),
            patient: PatientView(id: try row.decode(Int64.self, "p_id"), name: try row.decode(String?.self, "p_name"), phone: try row.decode(String.self, "p_phone"),
                                 preferredLanguage: try row.decode(String?.self, "p_lang") ?? "en", consentWhatsapp: try row.decode(Bool?.self, "p_consent") ?? false),
            senderID: try row.decode(Int64.self, "sender_id"), state: try row.decode(String?.self, "state") ?? "bot", unreadCount: try row.decode(Int?.self, "unread_count") ?? 0,
            lastMessage: try row.decode(Int64?.self, "m_id") == nil ? nil : try MessageView(row: row, prefix: "m_"),
            lastMessageAt: try row.decode(Date?.self, "last_message_at"),
            window: Window(open: ends.map { $0 > now } ?? false, endsAt: ends))
    }

    /// Newest first. `cursor` is the `next_cursor` of the previous page; `q` searches the patient's
    /// name and phone and the messages' text; `since` (ISO 8601, e.g. the previous `server_time`)
    /// keeps only the conversations changed after it (new message, unread count, state), for polling.
    public static func list(_ conn: PGConnection, workspaceID: Int64, q: String?, cursor: String?, since: String? = nil, limit: Int,
                            now: Date = Date()) throws -> Page<View> {
        let limit = min(max(limit, 1), 100)
        let serverTime = try conn.query("SELECT now() AS t").one().decode(Date.self, "t")
        var changedAfter: Date? = nil
        if let since, !since.isEmpty {
            guard let date = PGValue.parseTimestamp(since) ?? ISO8601DateFormatter().date(from: since), TimeBounds.contains(date) else {
                throw AppError.validation("since", "an ISO 8601 time such as 2026-01-31T10:00:00Z, between 1900 and 2200.")
            }
            changedAfter = date
        }
        var afterMicros: Int64? = nil
        var afterID: Int64? = nil
        if let cursor, !cursor.isEmpty {
            let parts = cursor.split(separator: "_")
            guard parts.count == 2, let micros = Int64(parts[0]), let id = Int64(parts[1]), TimeBounds.containsMicros(micros) else {
                throw AppError.validation("cursor", "not a cursor this API returned.")
            }
            afterMicros = micros
            afterID = id
        }
        let pattern = q.flatMap { $0.trimmingCharacters(in: .whitespaces).nilIfEmpty }.map { "%" + likeEscape($0) + "%" }
        let rows = try conn.query("""
            \(unescaped: select)
             WHERE c.workspace_id = \(workspaceID) AND c.deleted_at IS NULL
               AND (\(afterMicros)::bigint IS NULL OR (COALESCE(c.last_message_at, c.created_at), c.id)
                                           < ('epoch'::timestamptz + \(afterMicros)::bigint * interval '1 microsecond', \(afterID)::bigint))
               AND (\(pattern)::text IS NULL OR p.name ILIKE \(pattern)::text OR p.phone ILIKE \(pattern)::text
                    OR EXISTS (SELECT 1 FROM whatsapp_messages s WHERE s.conversation_id = c.id AND s.body ILIKE \(pattern)::text))
               AND (\(changedAfter)::timestamptz IS NULL OR c.updated_at > \(changedAfter)::timestamptz)
             ORDER BY COALESCE(c.last_message_at, c.created_at) DESC, c.id DESC
             LIMIT \(limit + 1)
            """)
        var items = try rows.map { try view($0, now: now) }
        var next: String? = nil
        if items.count > limit {
            items.removeLast()
            let last = rows[limit - 1]
            next = "\(try last.decode(Int64.self, "sort_us"))_\(try last.decode(Int64.self, "id"))"
        }
        return Page(items: items, nextCursor: next, serverTime: serverTime)
    }

    public static func get(_ conn: PGConnection, workspaceID: Int64, id: Int64, now: Date = Date()) throws -> View {
        guard let row = try conn.query("\(unescaped: select) WHERE c.workspace_id = \(workspaceID) AND c.id = \(id) AND c.deleted_at IS NULL").first else {
            throw AppError(.notFound, "There is no conversation \(id) in this workspace.")
        }
        return try view(row, now: now)
    }

    public struct MessagesPage: Sendable, Encodable {
        public let items: [MessageView]
        public let nextCursor: String?
        public let serverTime: Date
        enum CodingKeys: String, CodingKey { case items, nextCursor = "next_cursor", serverTime = "server_time" }
    }

    /// Messages oldest → newest. Without `cursor`: the latest `limit`; `cursor` (the previous
    /// page's `next_cursor`) pages back in time; `since` (ISO 8601, e.g. the previous `server_time`)
    /// returns what was created or changed (status) after it, for polling. Reading marks it read.
    public static func messages(_ conn: PGConnection, workspaceID: Int64, conversationID: Int64, cursor: String?,
                                since: String?, limit: Int) throws -> MessagesPage {
        _ = try get(conn, workspaceID: workspaceID, id: conversationID)
        let limit = min(max(limit, 1), 200)
        let serverTime = try conn.query("SELECT now() AS t").one().decode(Date.self, "t")
        let cols: SQLFragment = "id, direction, body, status, twilio_sid, error_code, error_message, template_key, media::text AS media, created_at, updated_at"
        if let since, !since.isEmpty {
            guard let date = PGValue.parseTimestamp(since) ?? ISO8601DateFormatter().date(from: since), TimeBounds.contains(date) else {
                throw AppError.validation("since", "an ISO 8601 time such as 2026-01-31T10:00:00Z, between 1900 and 2200.")
            }
            let rows = try conn.query("""
                SELECT \(unescaped: cols) FROM whatsapp_messages
                 WHERE workspace_id = \(workspaceID) AND conversation_id = \(conversationID) AND updated_at > \(date)
                 ORDER BY id LIMIT \(limit)
                """)
            return MessagesPage(items: try rows.map { try MessageView(row: $0) }, nextCursor: nil, serverTime: serverTime)
        }
        var before: Int64? = nil
        if let cursor, !cursor.isEmpty {
            guard let id = Int64(cursor) else { throw AppError.validation("cursor", "not a cursor this API returned.") }
            before = id
        }
        let rows = try conn.query("""
            SELECT \(unescaped: cols) FROM whatsapp_messages
             WHERE workspace_id = \(workspaceID) AND conversation_id = \(conversationID) AND (\(before)::bigint IS NULL OR id < \(before)::bigint)
             ORDER BY id DESC LIMIT \(limit + 1)
            """)
        var items = try rows.map { try MessageView(row: $0) }
        var next: String? = nil
        if items.count > limit {
            items.removeLast()
            next = items.last.map { String($0.id) }
        }
        if before == nil {
            try conn.execute("UPDATE whatsapp_conversations SET unread_count = 0 WHERE workspace_id = \(workspaceID) AND id = \(conversationID) AND unread_count <> 0")
        }
        return MessagesPage(items: items.reversed(), nextCursor: next, serverTime: serverTime)
    }

    /// Hides the conversation from the inbox (messages are kept; a new message brings it back).
    /// The change and its audit entry commit together.
    public static func delete(_ conn: PGConnection, actor: StaffActor, id: Int64) throws {
        try conn.transaction {
            let n = try conn.execute("UPDATE whatsapp_conversations SET deleted_at = now() WHERE workspace_id = \(actor.workspaceID) AND id = \(id) AND deleted_at IS NULL")
            guard n == 1 else { throw AppError(.notFound, "There is no conversation \(id) in this workspace.") }
            try Audit.record(conn, actor, action: "conversation.delete", targetType: "conversation", targetID: String(id))
        }
    }

    /// `handoff`: the bot stays quiet, staff answer; `bot`: the bot answers again. The change and its
    /// audit entry commit together.
    public static func setState(_ conn: PGConnection, actor: StaffActor, id: Int64, state: String) throws -> View {
        try conn.transaction {
            let n = try conn.execute("""
                UPDATE whatsapp_conversations SET state = \(state), pending_intent = CASE WHEN \(state) = 'handoff' THEN NULL ELSE pending_intent END
                 WHERE workspace_id = \(actor.workspaceID) AND id = \(id) AND deleted_at IS NULL
                """)
            guard n == 1 else { throw AppError(.notFound, "There is no conversation \(id) in this workspace.") }
            try Audit.record(conn, actor, action: state == "handoff" ? "conversation.handoff" : "conversation.resume_bot",
                             targetType: "conversation", targetID: String(id))
        }
        return try get(conn, workspaceID: actor.workspaceID, id: id)
    }

    static func likeEscape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
    }
}
