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

/// Bundle batches and their recipients as staff read them (the bundle run's claims are
/// `BundleClaimStore`'s).
public protocol BundleStore {
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
