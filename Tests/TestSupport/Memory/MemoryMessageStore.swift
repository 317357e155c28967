import Foundation
import Store

/// Outbound messages, the rows a send reads and the Idempotency-Key table, in memory, for use-case
/// tests without PostgreSQL. The inbox (`MemoryInboxStore`) reads the same conversations and
/// messages. `clock` stands for the database's `now()`.
public final class MemoryMessageStore: MessageStore, @unchecked Sendable {
    public struct Patient: Sendable {
        public var id: Int64
        public var workspaceID: Int64
        public var phone: String
        public var name: String?
        public var language: String?
        public var consentWhatsapp: Bool?
    }

    public struct Conversation: Sendable {
        public var id: Int64
        public var workspaceID: Int64
        public var patientID: Int64
        public var senderID: Int64
        public var state = "bot"
        public var unreadCount = 0
        public var pendingIntent: String? = nil
        public var lastInboundAt: Date? = nil
        public var lastMessageAt: Date? = nil
        public var createdAt: Date
        public var updatedAt: Date
        public var deletedAt: Date? = nil
    }

    public struct Message: Sendable {
        public var id: Int64
        public var workspaceID: Int64
        public var conversationID: Int64
        public var direction: String
        public var body: String
        public var sid: String?
        public var status: String
        public var errorCode: Int?
        public var errorMessage: String?
        public var templateKey: String?
        public var contentSid: String?
        public var sentByUserID: Int64?
        public var createdAt: Date
        public var updatedAt: Date
    }

    public struct Request: Sendable {
        public var id: Int64
        public var workspaceID: Int64
        public var key: String
        public var operation: String
        public var hash: String
        public var status = "running"
        public var response: String? = nil
        public var createdAt: Date
        public var updatedAt: Date
    }

    public var patients: [Patient] = []
    public var senders: [SenderAccount] = []
    /// workspace → template key → language → Content SID.
    public var contentSids: [Int64: [String: [String: String]]] = [:]
    public var clinicNames: [Int64: String] = [:]
    /// The clinic's default language (`workspaces.default_language`: "es" unless set), by workspace.
    public var defaultLanguages: [Int64: String] = [:]
    /// The doctor of the patient's next (else latest) appointment, by patient.
    public var doctorNames: [Int64: String] = [:]
    public var conversations: [Conversation] = []
    public var messages: [Message] = []
    public var requests: [Request] = []
    public var clock: () -> Date = Date.init
    private var lastID: Int64 = 0

    public init() {}

    func nextID() -> Int64 {
        lastID += 1
        return lastID
    }

    // MARK: Fixtures

    @discardableResult
    public func addPatient(workspaceID: Int64, phone: String, name: String? = nil, language: String? = "en", consent: Bool? = true) -> Int64 {
        let id = nextID()
        patients.append(Patient(id: id, workspaceID: workspaceID, phone: phone, name: name, language: language, consentWhatsapp: consent))
        return id
    }

    @discardableResult
    public func addSender(workspaceID: Int64, phone: String, primary: Bool = true, active: Bool = true,
                          subaccountSID: String? = nil, subaccountTokenEncrypted: String? = nil) -> SenderAccount {
        let sender = SenderAccount(id: nextID(), workspaceID: workspaceID, phoneNumber: phone, isPrimary: primary, isActive: active,
                                   subaccountSID: subaccountSID, subaccountTokenEncrypted: subaccountTokenEncrypted)
        senders.append(sender)
        return sender
    }

    /// The patient wrote to the sender at `at` (their conversation, created if needed).
    @discardableResult
    public func window(workspaceID: Int64, patientID: Int64, senderID: Int64, at: Date) -> Int64 {
        if let i = conversations.firstIndex(where: { $0.patientID == patientID && $0.senderID == senderID }) {
            conversations[i].lastInboundAt = at
            conversations[i].updatedAt = clock()
            return conversations[i].id
        }
        let now = clock()
        let c = Conversation(id: nextID(), workspaceID: workspaceID, patientID: patientID, senderID: senderID, lastInboundAt: at,
                             createdAt: now, updatedAt: now)
        conversations.append(c)
        return c.id
    }

    /// An inbound message in the conversation (unread).
    @discardableResult
    public func inbound(conversationID: Int64, body: String, at: Date? = nil) -> Int64 {
        let now = at ?? clock()
        guard let i = conversations.firstIndex(where: { $0.id == conversationID }) else { return 0 }
        let id = nextID()
        messages.append(Message(id: id, workspaceID: conversations[i].workspaceID, conversationID: conversationID, direction: "inbound", body: body,
                                sid: nil, status: "received", errorCode: nil, errorMessage: nil, templateKey: nil, contentSid: nil,
                                sentByUserID: nil, createdAt: now, updatedAt: now))
        conversations[i].lastInboundAt = now
        conversations[i].lastMessageAt = now
        conversations[i].unreadCount += 1
        conversations[i].deletedAt = nil
        conversations[i].updatedAt = now
        return id
    }

    /// A running request's process died `seconds` ago (its row untouched since).
    public func age(request id: Int64, by seconds: TimeInterval) {
        guard let i = requests.firstIndex(where: { $0.id == id }) else { return }
        requests[i].createdAt.addTimeInterval(-seconds)
        requests[i].updatedAt.addTimeInterval(-seconds)
    }

    // MARK: MessageStore

    public func patient(workspaceID: Int64, id: Int64) throws -> OutboundPatient? {
        patients.first { $0.workspaceID == workspaceID && $0.id == id }.map { OutboundPatient(phone: $0.phone, consentWhatsapp: $0.consentWhatsapp) }
    }

    public func primarySender(workspaceID: Int64) throws -> SenderAccount? {
        senders.first { $0.workspaceID == workspaceID && $0.isActive && $0.isPrimary }
    }

    public func sender(workspaceID: Int64, id: Int64) throws -> SenderAccount? {
        senders.first { $0.workspaceID == workspaceID && $0.id == id }
    }

    public func contentSid(workspaceID: Int64, key: String, language: String) throws -> String? {
        guard let sid = contentSids[workspaceID]?[key]?[language], !sid.isEmpty else { return nil }
        return sid
    }

    public func conversation(workspaceID: Int64, patientID: Int64, senderID: Int64) throws -> OutboundConversation? {
        conversations.first { $0.workspaceID == workspaceID && $0.patientID == patientID && $0.senderID == senderID }
            .map { OutboundConversation(id: $0.id, lastInboundAt: $0.lastInboundAt) }
    }

    public func templateContext(workspaceID: Int64, patientID: Int64, now: Date) throws -> TemplateContext? {
        guard let p = patients.first(where: { $0.workspaceID == workspaceID && $0.id == patientID }) else { return nil }
        return TemplateContext(language: p.language ?? defaultLanguages[workspaceID] ?? "es", clinicName: clinicNames[workspaceID], doctorName: doctorNames[patientID])
    }

    public func record(_ m: OutboundMessage) throws -> RecordedOutbound {
        let now = clock()
        let conversationID: Int64
        if let i = conversations.firstIndex(where: { $0.patientID == m.patientID && $0.senderID == m.senderID }) {
            conversations[i].deletedAt = nil
            conversations[i].lastMessageAt = now
            conversations[i].updatedAt = now
            conversationID = conversations[i].id
        } else {
            conversationID = nextID()
            conversations.append(Conversation(id: conversationID, workspaceID: m.workspaceID, patientID: m.patientID, senderID: m.senderID,
                                              lastMessageAt: now, createdAt: now, updatedAt: now))
        }
        // The SID's unique key.
        if let sid = m.sid, messages.contains(where: { $0.sid == sid }) {
            throw MemoryUniqueViolation(constraint: "whatsapp_messages.twilio_sid")
        }
        let id = nextID()
        messages.append(Message(id: id, workspaceID: m.workspaceID, conversationID: conversationID, direction: "outbound", body: m.body,
                                sid: m.sid, status: m.status, errorCode: m.errorCode, errorMessage: m.errorMessage, templateKey: m.templateKey,
                                contentSid: m.contentSid, sentByUserID: m.sentByUserID, createdAt: now, updatedAt: now))
        return RecordedOutbound(messageID: id, conversationID: conversationID, status: m.status)
    }

    public func recordSettled(_ m: OutboundMessage) throws -> RecordedOutbound {
        if let sid = m.sid, let row = messages.first(where: { $0.workspaceID == m.workspaceID && $0.sid == sid }) {
            return RecordedOutbound(messageID: row.id, conversationID: row.conversationID, status: row.status)
        }
        return try record(m)
    }

    public func unsettledSends(workspaceID: Int64, conversationID: Int64, body: String, templateKey: String?) throws -> [UnsettledSend] {
        let dayAgo = clock().addingTimeInterval(-86400)
        return messages.filter {
            $0.workspaceID == workspaceID && $0.conversationID == conversationID && $0.createdAt > dayAgo && $0.direction == "outbound"
                && $0.status == "sending" && $0.sid == nil && $0.body == body && $0.templateKey == templateKey
        }.map { UnsettledSend(messageID: $0.id, createdAt: $0.createdAt) }
    }

    public func settleSent(messageID: Int64, sid: String, status: String, errorCode: Int?, errorMessage: String?) throws -> String? {
        guard let i = messages.firstIndex(where: { $0.id == messageID && $0.sid == nil }) else { return nil }
        messages[i].sid = sid
        messages[i].status = status
        messages[i].errorCode = errorCode
        messages[i].errorMessage = errorMessage
        messages[i].updatedAt = clock()
        return status
    }

    public func settleNotSent(messageID: Int64) throws {
        guard let i = messages.firstIndex(where: { $0.id == messageID && $0.sid == nil && $0.status == "sending" }) else { return }
        messages[i].status = "failed"
        messages[i].errorMessage = "Twilio has no record of this message: it was not sent."
        messages[i].updatedAt = clock()
    }

    public func takeIdempotencyKey(workspaceID: Int64, key: String, operation: String, hash: String) throws -> Int64? {
        guard !requests.contains(where: { $0.workspaceID == workspaceID && $0.key == key }) else { return nil }
        let now = clock()
        let id = nextID()
        requests.append(Request(id: id, workspaceID: workspaceID, key: key, operation: operation, hash: hash, createdAt: now, updatedAt: now))
        return id
    }

    public func idempotentRequest(workspaceID: Int64, key: String) throws -> IdempotentRequest? {
        requests.first { $0.workspaceID == workspaceID && $0.key == key }
            .map { IdempotentRequest(id: $0.id, operation: $0.operation, requestHash: $0.hash, status: $0.status, response: $0.response) }
    }

    public func takeOverIdempotencyKey(id: Int64, idleSeconds: Int) throws -> Date? {
        let now = clock()
        guard let i = requests.firstIndex(where: {
            $0.id == id && $0.status == "running" && $0.updatedAt < now.addingTimeInterval(-TimeInterval(idleSeconds))
        }) else { return nil }
        requests[i].updatedAt = now
        return requests[i].createdAt
    }

    public func completeIdempotentRequest(id: Int64, response: String) throws {
        guard let i = requests.firstIndex(where: { $0.id == id }) else { return }
        requests[i].status = "completed"
        requests[i].response = response
        requests[i].updatedAt = clock()
    }

    public func releaseIdempotencyKey(id: Int64) throws {
        requests.removeAll { $0.id == id && $0.status == "running" }
    }
}

/// What PostgreSQL refuses with 23505: a second row for a unique key.
public struct MemoryUniqueViolation: Error, Equatable {
    public let constraint: String
}
