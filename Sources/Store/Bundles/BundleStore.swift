import Foundation
import Postgres

/// A bundle batch as staff read it: its message, sender, counts and times.
public struct BundleBatchRecord: Sendable, Equatable {
    public let id: Int64
    public let status: String
    public let body: String
    public let senderID: Int64
    public let createdBy: Int64?
    /// As stored (nil before the first count).
    public let total: Int?
    /// Recipients by status (history only; a progress view counts its recipients).
    public let counts: [String: Int]
    public let createdAt: Date
    public let startedAt: Date?
    public let completedAt: Date?

    public init(id: Int64, status: String, body: String, senderID: Int64, createdBy: Int64?, total: Int?, counts: [String: Int],
                createdAt: Date, startedAt: Date?, completedAt: Date?) {
        self.id = id
        self.status = status
        self.body = body
        self.senderID = senderID
        self.createdBy = createdBy
        self.total = total
        self.counts = counts
        self.createdAt = createdAt
        self.startedAt = startedAt
        self.completedAt = completedAt
    }
}

/// One recipient of a batch and how its send went, as the progress view lists it.
public struct BundleRecipientProgress: Sendable, Encodable, Equatable {
    public let id: Int64
    public let name: String?
    public let phone: String
    public let status: String
    public let attempts: Int
    public let twilioSID: String?
    public let errorCode: Int?
    public let errorMessage: String?
    public let sentAt: Date?
    enum CodingKeys: String, CodingKey {
        case id, name, phone, status, attempts
        case twilioSID = "twilio_sid", errorCode = "error_code", errorMessage = "error_message", sentAt = "sent_at"
    }

    public init(id: Int64, name: String?, phone: String, status: String, attempts: Int, twilioSID: String?, errorCode: Int?,
                errorMessage: String?, sentAt: Date?) {
        self.id = id
        self.name = name
        self.phone = phone
        self.status = status
        self.attempts = attempts
        self.twilioSID = twilioSID
        self.errorCode = errorCode
        self.errorMessage = errorMessage
        self.sentAt = sentAt
    }

    init(row r: PGRow) throws {
        self.init(id: try r.decode(Int64.self, "id"), name: try r.decode(String?.self, "name"), phone: try r.decode(String.self, "phone"),
                  status: try r.decode(String?.self, "status") ?? "queued", attempts: try r.decode(Int?.self, "attempts") ?? 0,
                  twilioSID: try r.decode(String?.self, "twilio_sid"), errorCode: try r.decode(Int?.self, "error_code"),
                  errorMessage: try r.decode(String?.self, "error_message"), sentAt: try r.decode(Date?.self, "sent_at"))
    }
}

/// A recipient to queue, as a bundle send validated it (`fields` fill the message's placeholders).
public struct NewBundleRecipient: Sendable, Encodable, Equatable {
    public let name: String?
    public let phone: String
    public let language: String?
    public let fields: [String: String]
    public init(name: String?, phone: String, language: String?, fields: [String: String]) {
        self.name = name
        self.phone = phone
        self.language = language
        self.fields = fields
    }
}

/// A batch to queue: its workspace, sender, author, message and recipients.
public struct NewBundleBatch: Sendable, Equatable {
    public let workspaceID: Int64
    public let senderID: Int64
    public let createdBy: Int64?
    public let body: String
    public let recipients: [NewBundleRecipient]
    public init(workspaceID: Int64, senderID: Int64, createdBy: Int64?, body: String, recipients: [NewBundleRecipient]) {
        self.workspaceID = workspaceID
        self.senderID = senderID
        self.createdBy = createdBy
        self.body = body
        self.recipients = recipients
    }
}

/// The Idempotency-Key a request takes for what it does (`operation`, and its fingerprint `hash`).
public struct IdempotencyKeyRequest: Sendable, Equatable {
    public let key: String
    public let operation: String
    public let hash: String
    public init(key: String, operation: String, hash: String) {
        self.key = key
        self.operation = operation
        self.hash = hash
    }
}

/// How an enqueue ended: the batch queued, or the key already taken by the request `holder` (nil:
/// released meanwhile) and nothing written.
public enum BundleEnqueueOutcome: Sendable, Equatable {
    case enqueued(batchID: Int64)
    case keyTaken(holder: IdempotentRequest?)
}

/// Bundle batches and their recipients as staff read them (the bundle run's claims are
/// `BundleClaimStore`'s), and enqueuing one.
public protocol BundleStore {
    /// Queues the batch in one transaction: the Idempotency-Key first (when given; a concurrent
    /// request with the same key waits on it, then finds it taken), then the batch, its recipients,
    /// the audit entry `audit(batchID)` and the answer a replay gives (`answer(batchID)`, JSON), all
    /// committed together. A taken key writes nothing.
    func enqueue(_ batch: NewBundleBatch, key: IdempotencyKeyRequest?, audit: (Int64) -> AuditEntry,
                 answer: (Int64) throws -> String) throws -> BundleEnqueueOutcome
    /// The workspace's batch, without counts; nil when it has none with this id.
    func batch(workspaceID: Int64, id: Int64) throws -> BundleBatchRecord?
    /// The batch's recipients in the order they were queued.
    func recipients(workspaceID: Int64, batchID: Int64) throws -> [BundleRecipientProgress]
    /// The workspace's batches with their counts, newest first, ids below `before`; at most `limit`.
    func batches(workspaceID: Int64, before: Int64?, limit: Int) throws -> [BundleBatchRecord]
}

public struct PGBundleStore: BundleStore {
    let conn: PGConnection
    public init(_ conn: PGConnection) { self.conn = conn }

    public func enqueue(_ b: NewBundleBatch, key: IdempotencyKeyRequest?, audit: (Int64) -> AuditEntry,
                        answer: (Int64) throws -> String) throws -> BundleEnqueueOutcome {
        let keys = PGMessageStore(conn)
        return try conn.transaction {
            // The key and the batch commit together: a concurrent retry waits on the key, then replays.
            var claimed: Int64? = nil
            if let key {
                guard let id = try keys.takeIdempotencyKey(workspaceID: b.workspaceID, key: key.key, operation: key.operation, hash: key.hash) else {
                    return .keyTaken(holder: try keys.idempotentRequest(workspaceID: b.workspaceID, key: key.key))
                }
                claimed = id
            }
            let batch = try conn.query("""
                INSERT INTO bundle_batches (workspace_id, sender_id, created_by, body, total_count) VALUES (\(b.workspaceID), \(b.senderID), \(b.createdBy), \(b.body), \(b.recipients.count)) RETURNING id
                """).one().decode(Int64.self, "id")
            let json = try PGJSON(encoding: b.recipients)
            try conn.execute("""
                INSERT INTO bundle_recipients (batch_id, workspace_id, name, phone, language, fields)
                SELECT \(batch), \(b.workspaceID), r.name, r.phone, r.language, COALESCE(r.fields, '{}')
                  FROM jsonb_to_recordset(\(json)::jsonb) AS r(name text, phone text, language text, fields jsonb)
                """)
            try conn.recordAudit(audit(batch))
            if let claimed { try keys.completeIdempotentRequest(id: claimed, response: try answer(batch)) }
            return .enqueued(batchID: batch)
        }
    }

    public func batch(workspaceID: Int64, id: Int64) throws -> BundleBatchRecord? {
        try conn.query("""
            SELECT id, status, body, sender_id, total_count, created_at, started_at, completed_at FROM bundle_batches
             WHERE workspace_id = \(workspaceID) AND id = \(id)
            """).first.map { b in
            BundleBatchRecord(id: id, status: try b.decode(String.self, "status"), body: try b.decode(String.self, "body"),
                              senderID: try b.decode(Int64.self, "sender_id"), createdBy: nil, total: try b.decode(Int?.self, "total_count"),
                              counts: [:], createdAt: try b.decode(Date.self, "created_at"), startedAt: try b.decode(Date?.self, "started_at"),
                              completedAt: try b.decode(Date?.self, "completed_at"))
        }
    }

    public func recipients(workspaceID: Int64, batchID: Int64) throws -> [BundleRecipientProgress] {
        try conn.query("""
            SELECT id, name, phone, status, attempts, twilio_sid, error_code, error_message, sent_at FROM bundle_recipients
             WHERE workspace_id = \(workspaceID) AND batch_id = \(batchID) ORDER BY id
            """).map(BundleRecipientProgress.init(row:))
    }

    public func batches(workspaceID: Int64, before: Int64?, limit: Int) throws -> [BundleBatchRecord] {
        try conn.query("""
            SELECT b.id, b.status, b.body, b.sender_id, b.created_by, b.total_count, b.created_at, b.started_at, b.completed_at,
                   COALESCE((SELECT jsonb_object_agg(status, n)::text FROM (
                       SELECT r.status, count(*) AS n FROM bundle_recipients r WHERE r.batch_id = b.id GROUP BY r.status) c), '{}') AS counts
              FROM bundle_batches b
             WHERE b.workspace_id = \(workspaceID) AND (\(before)::bigint IS NULL OR b.id < \(before)::bigint)
             ORDER BY b.id DESC LIMIT \(limit)
            """).map { r in
            BundleBatchRecord(id: try r.decode(Int64.self, "id"), status: try r.decode(String.self, "status"), body: try r.decode(String?.self, "body") ?? "",
                              senderID: try r.decode(Int64.self, "sender_id"), createdBy: try r.decode(Int64?.self, "created_by"),
                              total: try r.decode(Int?.self, "total_count"), counts: try r.decodeJSON([String: Int].self, "counts"),
                              createdAt: try r.decode(Date.self, "created_at"), startedAt: try r.decode(Date?.self, "started_at"),
                              completedAt: try r.decode(Date?.self, "completed_at"))
        }
    }
}

extension PostgresStores {
    public var bundles: PGBundleStore { PGBundleStore(conn) }
}
