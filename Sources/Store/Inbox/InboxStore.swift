import Foundation
import Postgres

/// A message as the inbox shows it.
public struct InboxMessage: Sendable, Encodable, Equatable {
    public let id: Int64
    public let direction: String
    public let body: String
    public let status: String
    public let twilioSID: String?
    public let errorCode: Int?
    public let errorMessage: String?
    public let templateKey: String?
    /// The media list as JSON (`[]` when none).
    public let media: String
    public let createdAt: Date
    public let updatedAt: Date
    enum CodingKeys: String, CodingKey {
        case id, direction, body, status
        case twilioSID = "twilio_sid", errorCode = "error_code", errorMessage = "error_message", templateKey = "template_key"
        case media, createdAt = "created_at", updatedAt = "updated_at"
    }
    public init(id: Int64, direction: String, body: String, status: String, twilioSID: String?, errorCode: Int?, errorMessage: String?,
                templateKey: String?, media: String, createdAt: Date, updatedAt: Date) {
        self.id = id
        self.direction = direction
        self.body = body
        self.status = status
        self.twilioSID = twilioSID
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.templateKey = templateKey
        self.media = media
        self.createdAt = createdAt
        self.updatedAt = updatedAt
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

/// A conversation of the inbox with its patient and last message.
public struct InboxConversation: Sendable, Equatable {
    public let id: Int64
    public let patient: PatientBrief
    public let senderID: Int64
    /// `bot` or `handoff`.
    public let state: String
    public let unreadCount: Int
    public let lastMessage: InboxMessage?
    public let lastMessageAt: Date?
    public let lastInboundAt: Date?
    /// Where the list sorts it: the last message's time (else the conversation's creation), as
    /// microseconds since 1970 — with `id`, the list's cursor.
    public let sortMicros: Int64

    public init(id: Int64, patient: PatientBrief, senderID: Int64, state: String, unreadCount: Int, lastMessage: InboxMessage?,
                lastMessageAt: Date?, lastInboundAt: Date?, sortMicros: Int64) {
        self.id = id
        self.patient = patient
        self.senderID = senderID
        self.state = state
        self.unreadCount = unreadCount
        self.lastMessage = lastMessage
        self.lastMessageAt = lastMessageAt
        self.lastInboundAt = lastInboundAt
        self.sortMicros = sortMicros
    }

    init(row: PGRow) throws {
        id = try row.decode(Int64.self, "id")
        patient = PatientBrief(id: try row.decode(Int64.self, "p_id"), name: try row.decode(String?.self, "p_name"), phone: try row.decode(String.self, "p_phone"),
                               preferredLanguage: try row.decode(String?.self, "p_lang") ?? "en", consentWhatsapp: try row.decode(Bool?.self, "p_consent") ?? false)
        senderID = try row.decode(Int64.self, "sender_id")
        state = try row.decode(String?.self, "state") ?? "bot"
        unreadCount = try row.decode(Int?.self, "unread_count") ?? 0
        lastMessage = try row.decode(Int64?.self, "m_id") == nil ? nil : try InboxMessage(row: row, prefix: "m_")
        lastMessageAt = try row.decode(Date?.self, "last_message_at")
        lastInboundAt = try row.decode(Date?.self, "last_inbound_at")
        sortMicros = try row.decode(Int64.self, "sort_us")
    }
}

/// A place in the conversation list: the conversations sorted after (older than) this one.
public struct InboxCursor: Sendable, Equatable {
    public let sortMicros: Int64
    public let id: Int64
    public init(sortMicros: Int64, id: Int64) {
        self.sortMicros = sortMicros
        self.id = id
    }
}

/// The staff inbox: the conversation list (newest first, search, changes since), a thread's
/// messages, marking read, delete, and handing a conversation to staff and back to the bot. Deleted
/// conversations are not listed nor found.
public protocol InboxStore {
    /// The database's time (a page's `server_time`: the next poll's `since`).
    func now() throws -> Date
    /// Up to `limit` conversations, newest first (by last message, else creation; then id), after
    /// `cursor`; `search` (matched case-insensitively as a substring of the patient's name or phone or
    /// of a message's text); `changedAfter`: changed (new message, unread count, state) after it.
    func conversations(workspaceID: Int64, after cursor: InboxCursor?, search: String?, changedAfter: Date?, limit: Int) throws -> [InboxConversation]
    func conversation(workspaceID: Int64, id: Int64) throws -> InboxConversation?
    /// Up to `limit` messages of the conversation, newest first, older than message `before`.
    func messages(workspaceID: Int64, conversationID: Int64, before: Int64?, limit: Int) throws -> [InboxMessage]
    /// Up to `limit` messages of the conversation created or changed after `changedAfter`, oldest first.
    func messages(workspaceID: Int64, conversationID: Int64, changedAfter: Date, limit: Int) throws -> [InboxMessage]
    /// Nothing unread in the conversation.
    func markRead(workspaceID: Int64, conversationID: Int64) throws
    /// Hides the conversation (messages are kept) and writes `audit`, together; false when there is
    /// no such conversation (nothing written).
    func delete(workspaceID: Int64, id: Int64, audit: AuditEntry) throws -> Bool
    /// Sets `bot` or `handoff` (which drops a pending bot intent) and writes `audit`, together; false
    /// when there is no such conversation (nothing written).
    func setState(workspaceID: Int64, id: Int64, state: String, audit: AuditEntry) throws -> Bool
}

/// Reads the times the API takes (`since`): PostgreSQL's output format, which is also how the API
/// writes them, and ISO 8601.
public enum InboxTime {
    public static func parse(_ text: String) -> Date? {
        PGValue.parseTimestamp(text) ?? ISO8601DateFormatter().date(from: text)
    }
}

extension PostgresStores {
    public var inbox: PGInboxStore { PGInboxStore(conn) }
}
