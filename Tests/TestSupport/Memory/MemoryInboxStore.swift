import Foundation
import Store

/// The staff inbox in memory, over the conversations and messages of a `MemoryMessageStore` (what a
/// send records is what the inbox shows). Audit entries of its changes land in `audit`.
public final class MemoryInboxStore: InboxStore, @unchecked Sendable {
    public let rows: MemoryMessageStore
    public private(set) var audit: [AuditEntry] = []

    public init(_ rows: MemoryMessageStore = MemoryMessageStore()) { self.rows = rows }

    public func now() throws -> Date { rows.clock() }

    static func micros(_ date: Date) -> Int64 { Int64((date.timeIntervalSince1970 * 1_000_000).rounded()) }

    func record(_ c: MemoryMessageStore.Conversation) -> InboxConversation? {
        guard let p = rows.patients.first(where: { $0.workspaceID == c.workspaceID && $0.id == c.patientID }) else { return nil }
        let last = rows.messages.filter { $0.conversationID == c.id }.max { $0.id < $1.id }
        return InboxConversation(
            id: c.id,
            patient: PatientBrief(id: p.id, name: p.name, phone: p.phone, preferredLanguage: p.language ?? "en", consentWhatsapp: p.consentWhatsapp ?? false),
            senderID: c.senderID, state: c.state, unreadCount: c.unreadCount, lastMessage: last.map(Self.message),
            lastMessageAt: c.lastMessageAt, lastInboundAt: c.lastInboundAt, sortMicros: Self.micros(c.lastMessageAt ?? c.createdAt))
    }

    static func message(_ m: MemoryMessageStore.Message) -> InboxMessage {
        InboxMessage(id: m.id, direction: m.direction, body: m.body, status: m.status, twilioSID: m.sid, errorCode: m.errorCode,
                     errorMessage: m.errorMessage, templateKey: m.templateKey, media: "[]", createdAt: m.createdAt, updatedAt: m.updatedAt)
    }

    public func conversations(workspaceID: Int64, after cursor: InboxCursor?, search: String?, changedAfter: Date?, limit: Int) throws -> [InboxConversation] {
        let needle = search?.lowercased()
        return rows.conversations
            .filter { c in c.workspaceID == workspaceID && c.deletedAt == nil && (changedAfter.map { c.updatedAt > $0 } ?? true) }
            .compactMap(record)
            .filter { c in
                guard let needle else { return true }
                return (c.patient.name ?? "").lowercased().contains(needle) || c.patient.phone.lowercased().contains(needle)
                    || rows.messages.contains { $0.conversationID == c.id && $0.body.lowercased().contains(needle) }
            }
            .sorted { ($0.sortMicros, $0.id) > ($1.sortMicros, $1.id) }
            .filter { c in cursor.map { (c.sortMicros, c.id) < ($0.sortMicros, $0.id) } ?? true }
            .prefix(limit).map { $0 }
    }

    public func conversation(workspaceID: Int64, id: Int64) throws -> InboxConversation? {
        rows.conversations.first { $0.workspaceID == workspaceID && $0.id == id && $0.deletedAt == nil }.flatMap(record)
    }

    public func messages(workspaceID: Int64, conversationID: Int64, before: Int64?, limit: Int) throws -> [InboxMessage] {
        rows.messages.filter { m in m.workspaceID == workspaceID && m.conversationID == conversationID && (before.map { m.id < $0 } ?? true) }
            .sorted { $0.id > $1.id }.prefix(limit).map(Self.message)
    }

    public func messages(workspaceID: Int64, conversationID: Int64, changedAfter: Date, limit: Int) throws -> [InboxMessage] {
        rows.messages.filter { $0.workspaceID == workspaceID && $0.conversationID == conversationID && $0.updatedAt > changedAfter }
            .sorted { $0.id < $1.id }.prefix(limit).map(Self.message)
    }

    public func markRead(workspaceID: Int64, conversationID: Int64) throws {
        guard let i = rows.conversations.firstIndex(where: { $0.workspaceID == workspaceID && $0.id == conversationID && $0.unreadCount != 0 }) else { return }
        rows.conversations[i].unreadCount = 0
        rows.conversations[i].updatedAt = rows.clock()
    }

    public func delete(workspaceID: Int64, id: Int64, audit entry: AuditEntry) throws -> Bool {
        guard let i = rows.conversations.firstIndex(where: { $0.workspaceID == workspaceID && $0.id == id && $0.deletedAt == nil }) else { return false }
        rows.conversations[i].deletedAt = rows.clock()
        rows.conversations[i].updatedAt = rows.clock()
        audit.append(entry)
        return true
    }

    public func setState(workspaceID: Int64, id: Int64, state: String, audit entry: AuditEntry) throws -> Bool {
        guard let i = rows.conversations.firstIndex(where: { $0.workspaceID == workspaceID && $0.id == id && $0.deletedAt == nil }) else { return false }
        rows.conversations[i].state = state
        if state == "handoff" { rows.conversations[i].pendingIntent = nil }
        rows.conversations[i].updatedAt = rows.clock()
        audit.append(entry)
        return true
    }
}
