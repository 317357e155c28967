import Foundation

/// The staff inbox: conversations (newest first, cursor pages, search), their messages (cursor,
/// `since` polling), delete, hand-off to a person and back to the bot.
public enum Conversations {
    public struct Window: Sendable, Encodable {
        public let open: Bool
        public let endsAt: Date?
        enum CodingKeys: String, CodingKey { case open, endsAt = "ends_at" }
    }

    public struct View: Sendable, Encodable {
        public let id: Int64
        public let patient: PatientBrief
        public let senderID: Int64
        public let state: String
        public let unreadCount: Int
        public let lastMessage: InboxMessage?
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

    static func view(_ c: InboxConversation, now: Date) -> View {
        let ends = c.lastInboundAt.map { $0.addingTimeInterval(Outbound.windowSeconds) }
        return View(id: c.id, patient: c.patient, senderID: c.senderID, state: c.state, unreadCount: c.unreadCount,
                    lastMessage: c.lastMessage, lastMessageAt: c.lastMessageAt, window: Window(open: ends.map { $0 > now } ?? false, endsAt: ends))
    }

    /// Newest first. `cursor` is the `next_cursor` of the previous page; `q` searches the patient's
    /// name and phone and the messages' text; `since` (ISO 8601, e.g. the previous `server_time`)
    /// keeps only the conversations changed after it (new message, unread count, state), for polling.
    public static func list(_ store: some InboxStore, workspaceID: Int64, q: String?, cursor: String?, since: String? = nil, limit: Int,
                            now: Date = Date()) throws -> Page<View> {
        let limit = min(max(limit, 1), 100)
        let serverTime = try store.now()
        var changedAfter: Date? = nil
        if let since, !since.isEmpty {
            guard let date = InboxTime.parse(since), TimeBounds.contains(date) else {
                throw AppError.validation("since", "an ISO 8601 time such as 2026-01-31T10:00:00Z, between 1900 and 2200.")
            }
            changedAfter = date
        }
        var after: InboxCursor? = nil
        if let cursor, !cursor.isEmpty {
            let parts = cursor.split(separator: "_")
            guard parts.count == 2, let micros = Int64(parts[0]), let id = Int64(parts[1]), TimeBounds.containsMicros(micros) else {
                throw AppError.validation("cursor", "not a cursor this API returned.")
            }
            after = InboxCursor(sortMicros: micros, id: id)
        }
        let search = q.flatMap { $0.trimmingCharacters(in: .whitespaces).nilIfEmpty }
        var found = try store.conversations(workspaceID: workspaceID, after: after, search: search, changedAfter: changedAfter, limit: limit + 1)
        var next: String? = nil
        if found.count > limit {
            found.removeLast()
            if let last = found.last { next = "\(last.sortMicros)_\(last.id)" }
        }
        return Page(items: found.map { view($0, now: now) }, nextCursor: next, serverTime: serverTime)
    }

    public static func get(_ store: some InboxStore, workspaceID: Int64, id: Int64, now: Date = Date()) throws -> View {
        guard let found = try store.conversation(workspaceID: workspaceID, id: id) else { throw notFound(id) }
        return view(found, now: now)
    }

    static func notFound(_ id: Int64) -> AppError { AppError(.notFound, "There is no conversation \(id) in this workspace.") }

    public struct MessagesPage: Sendable, Encodable {
        public let items: [InboxMessage]
        public let nextCursor: String?
        public let serverTime: Date
        enum CodingKeys: String, CodingKey { case items, nextCursor = "next_cursor", serverTime = "server_time" }
    }

    /// Messages oldest → newest. Without `cursor`: the latest `limit`; `cursor` (the previous
    /// page's `next_cursor`) pages back in time; `since` (ISO 8601, e.g. the previous `server_time`)
    /// returns what was created or changed (status) after it, for polling. Reading marks it read.
    public static func messages(_ store: some InboxStore, workspaceID: Int64, conversationID: Int64, cursor: String?,
                                since: String?, limit: Int) throws -> MessagesPage {
        _ = try get(store, workspaceID: workspaceID, id: conversationID)
        let limit = min(max(limit, 1), 200)
        let serverTime = try store.now()
        if let since, !since.isEmpty {
            guard let date = InboxTime.parse(since), TimeBounds.contains(date) else {
                throw AppError.validation("since", "an ISO 8601 time such as 2026-01-31T10:00:00Z, between 1900 and 2200.")
            }
            let items = try store.messages(workspaceID: workspaceID, conversationID: conversationID, changedAfter: date, limit: limit)
            return MessagesPage(items: items, nextCursor: nil, serverTime: serverTime)
        }
        var before: Int64? = nil
        if let cursor, !cursor.isEmpty {
            guard let id = Int64(cursor) else { throw AppError.validation("cursor", "not a cursor this API returned.") }
            before = id
        }
        var items = try store.messages(workspaceID: workspaceID, conversationID: conversationID, before: before, limit: limit + 1)
        var next: String? = nil
        if items.count > limit {
            items.removeLast()
            next = items.last.map { String($0.id) }
        }
        if before == nil {
            try store.markRead(workspaceID: workspaceID, conversationID: conversationID)
        }
        return MessagesPage(items: items.reversed(), nextCursor: next, serverTime: serverTime)
    }

    /// Hides the conversation from the inbox (messages are kept; a new message brings it back).
    /// The change and its audit entry commit together.
    public static func delete(_ store: some InboxStore, actor: StaffActor, id: Int64) throws {
        let audit = actor.audit("conversation.delete", "conversation", String(id))
        guard try store.delete(workspaceID: actor.workspaceID, id: id, audit: audit) else { throw notFound(id) }
    }

    /// `handoff`: the bot stays quiet, staff answer; `bot`: the bot answers again. The change and its
    /// audit entry commit together.
    public static func setState(_ store: some InboxStore, actor: StaffActor, id: Int64, state: String) throws -> View {
        let audit = actor.audit(state == "handoff" ? "conversation.handoff" : "conversation.resume_bot", "conversation", String(id))
        guard try store.setState(workspaceID: actor.workspaceID, id: id, state: state, audit: audit) else { throw notFound(id) }
        return try get(store, workspaceID: actor.workspaceID, id: id)
    }
}
