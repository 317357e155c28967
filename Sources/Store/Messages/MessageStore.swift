import Foundation
import Postgres

/// A WhatsApp sender as the outbound path needs it: its number and, when it belongs to a Twilio
/// subaccount, that subaccount's SID and Fernet-encrypted auth token.
public struct SenderAccount: Sendable, Equatable {
    public let id: Int64
    public let workspaceID: Int64
    public let phoneNumber: String
    public let isPrimary: Bool
    public let isActive: Bool
    public let subaccountSID: String?
    public let subaccountTokenEncrypted: String?

    public init(id: Int64, workspaceID: Int64, phoneNumber: String, isPrimary: Bool, isActive: Bool,
                subaccountSID: String?, subaccountTokenEncrypted: String?) {
        self.id = id
        self.workspaceID = workspaceID
        self.phoneNumber = phoneNumber
        self.isPrimary = isPrimary
        self.isActive = isActive
        self.subaccountSID = subaccountSID
        self.subaccountTokenEncrypted = subaccountTokenEncrypted
    }

    static let columns: SQLFragment = "id, workspace_id, phone_number, is_primary, is_active, twilio_subaccount_sid, twilio_subaccount_token_enc"

    init(row: PGRow) throws {
        id = try row.decode(Int64.self, "id")
        workspaceID = try row.decode(Int64.self, "workspace_id")
        phoneNumber = try row.decode(String.self, "phone_number")
        isPrimary = try row.decode(Bool?.self, "is_primary") ?? false
        isActive = try row.decode(Bool?.self, "is_active") ?? false
        subaccountSID = try row.decode(String?.self, "twilio_subaccount_sid")
        subaccountTokenEncrypted = try row.decode(String?.self, "twilio_subaccount_token_enc")
    }
}

/// The patient a send goes to: the number, and whether WhatsApp consent is given (nil: never asked).
public struct OutboundPatient: Sendable, Equatable {
    public let phone: String
    public let consentWhatsapp: Bool?
    public init(phone: String, consentWhatsapp: Bool?) {
        self.phone = phone
        self.consentWhatsapp = consentWhatsapp
    }
}

/// The patient's conversation with a sender, as a send needs it: its id and the patient's last
/// message (the 24-hour window).
public struct OutboundConversation: Sendable, Equatable {
    public let id: Int64
    public let lastInboundAt: Date?
    public init(id: Int64, lastInboundAt: Date?) {
        self.id = id
        self.lastInboundAt = lastInboundAt
    }
}

/// What a staff template send fills in when the request leaves it out: the patient's language (else
/// the clinic's), the clinic's name, and the doctor of the patient's next appointment (else the latest).
public struct TemplateContext: Sendable, Equatable {
    public let language: String?
    public let clinicName: String?
    public let doctorName: String?
    public init(language: String?, clinicName: String?, doctorName: String?) {
        self.language = language
        self.clinicName = clinicName
        self.doctorName = doctorName
    }
}

/// One outbound message to record, with its conversation (created, or shown again when deleted).
public struct OutboundMessage: Sendable, Equatable {
    public let workspaceID: Int64
    public let patientID: Int64
    public let senderID: Int64
    public let body: String
    public let templateKey: String?
    public let contentSid: String?
    public let sentByUserID: Int64?
    public let sid: String?
    /// One of the statuses a message row holds (`OutboundMessage.storedStatus`).
    public let status: String
    public let errorCode: Int?
    public let errorMessage: String?

    public init(workspaceID: Int64, patientID: Int64, senderID: Int64, body: String, templateKey: String?, contentSid: String?,
                sentByUserID: Int64?, sid: String?, status: String, errorCode: Int?, errorMessage: String?) {
        self.workspaceID = workspaceID
        self.patientID = patientID
        self.senderID = senderID
        self.body = body
        self.templateKey = templateKey
        self.contentSid = contentSid
        self.sentByUserID = sentByUserID
        self.sid = sid
        self.status = status
        self.errorCode = errorCode
        self.errorMessage = errorMessage
    }

    /// Twilio's status as a message row may hold it (`fallback` for one the schema does not know):
    /// the one rule every path that records an outbound message follows.
    public static func storedStatus(_ status: String, else fallback: String = "queued") -> String {
        ["queued", "sent", "delivered", "read", "failed", "undelivered"].contains(status) ? status : fallback
    }
}

/// A recorded outbound message: its id, its conversation's, and the status the row holds.
public struct RecordedOutbound: Sendable, Equatable {
    public let messageID: Int64
    public let conversationID: Int64
    public let status: String
    public init(messageID: Int64, conversationID: Int64, status: String) {
        self.messageID = messageID
        self.conversationID = conversationID
        self.status = status
    }
}

/// An earlier send whose outcome Twilio left unknown (stored `sending` without a SID).
public struct UnsettledSend: Sendable, Equatable {
    public let messageID: Int64
    public let createdAt: Date
    public init(messageID: Int64, createdAt: Date) {
        self.messageID = messageID
        self.createdAt = createdAt
    }
}

/// A row of the Idempotency-Key table (`idempotent_requests`, 0020).
public struct IdempotentRequest: Sendable, Equatable {
    public let id: Int64
    public let operation: String?
    public let requestHash: String?
    /// `running` or `completed`.
    public let status: String?
    /// The answer a replay gives (JSON), once completed.
    public let response: String?
    public init(id: Int64, operation: String?, requestHash: String?, status: String?, response: String?) {
        self.id = id
        self.operation = operation
        self.requestHash = requestHash
        self.status = status
        self.response = response
    }

    init(row: PGRow) throws {
        id = try row.decode(Int64.self, "id")
        operation = try row.decode(String?.self, "operation")
        requestHash = try row.decode(String?.self, "request_hash")
        status = try row.decode(String?.self, "status")
        response = try row.decode(String?.self, "response")
    }
}

/// Outbound messages and what sending one reads: the patient, the sender (and its subaccount
/// credentials), the Content SIDs, the conversation's window; recording a message and settling an
/// ambiguous one; and the Idempotency-Key table. No method holds a transaction across a Twilio
/// call: the use case calls Twilio between two of them.
public protocol MessageStore {
    /// The workspace's patient (nil: no such patient there).
    func patient(workspaceID: Int64, id: Int64) throws -> OutboundPatient?
    /// The workspace's primary active sender, if it has one.
    func primarySender(workspaceID: Int64) throws -> SenderAccount?
    /// A sender of the workspace by id (active or not).
    func sender(workspaceID: Int64, id: Int64) throws -> SenderAccount?
    /// The Meta Content SID the workspace maps to `key` in `language` (`workspaces.content_sids`), if any.
    func contentSid(workspaceID: Int64, key: String, language: String) throws -> String?
    /// The patient's conversation with the sender, if there is one (deleted or not). Reads only.
    func conversation(workspaceID: Int64, patientID: Int64, senderID: Int64) throws -> OutboundConversation?
    /// What a staff template send fills in; nil when the patient is not the workspace's.
    func templateContext(workspaceID: Int64, patientID: Int64, now: Date) throws -> TemplateContext?

    /// Records the message and its conversation (created or shown again); returns both ids.
    func record(_ message: OutboundMessage) throws -> RecordedOutbound
    /// Records a message Twilio sent after all — once: a message with this SID already recorded is
    /// the answer (the SID is unique; a second row would fail and let a retry send again).
    func recordSettled(_ message: OutboundMessage) throws -> RecordedOutbound
    /// Earlier sends of this text (and template) to the conversation in the last day whose outcome is
    /// unknown, oldest first.
    func unsettledSends(workspaceID: Int64, conversationID: Int64, body: String, templateKey: String?) throws -> [UnsettledSend]
    /// An unsettled send Twilio has after all: its SID and status; returns the status the row holds.
    func settleSent(messageID: Int64, sid: String, status: String, errorCode: Int?, errorMessage: String?) throws -> String?
    /// An unsettled send Twilio has no record of: failed.
    func settleNotSent(messageID: Int64) throws

    /// Takes `key` for a new request: its row id, or nil when the key is taken.
    func takeIdempotencyKey(workspaceID: Int64, key: String, operation: String, hash: String) throws -> Int64?
    /// The request that holds `key`, if any.
    func idempotentRequest(workspaceID: Int64, key: String) throws -> IdempotentRequest?
    /// Takes over a running request idle for `idleSeconds` (its process died): the time it was
    /// created, or nil when it is not abandoned (or another request took it over first).
    func takeOverIdempotencyKey(id: Int64, idleSeconds: Int) throws -> Date?
    /// Stores the answer (JSON) a replay gives.
    func completeIdempotentRequest(id: Int64, response: String) throws
    /// Nothing was done: the key is free again (a completed request keeps it).
    func releaseIdempotencyKey(id: Int64) throws
}

extension PostgresStores {
    public var messages: PGMessageStore { PGMessageStore(conn) }
}
