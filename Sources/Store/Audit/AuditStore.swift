import Foundation
import Postgres

/// One staff action as the audit log keeps it. A store that makes a change takes the entry with it
/// and writes both in one transaction, so a change and its entry are committed together and a change
/// that fails leaves no entry.
public struct AuditEntry: Sendable, Equatable {
    public let workspaceID: Int64
    /// The member who acted; nil for the operator at the command line.
    public let userID: Int64?
    public let action: String
    public let targetType: String?
    public let targetID: String?
    public let details: [String: String]

    public init(workspaceID: Int64, userID: Int64?, action: String, targetType: String?, targetID: String?, details: [String: String] = [:]) {
        self.workspaceID = workspaceID
        self.userID = userID
        self.action = action
        self.targetType = targetType
        self.targetID = targetID
        self.details = details
    }
}

/// An entry as the API lists it, with the member's email.
public struct AuditRecord: Sendable, Encodable, Equatable {
    public let id: Int64
    public let userID: Int64?
    public let userEmail: String?
    public let action: String
    public let targetType: String?
    public let targetID: String?
    public let details: [String: String]
    public let createdAt: Date
    enum CodingKeys: String, CodingKey {
        case id, action, details
        case userID = "user_id", userEmail = "user_email", targetType = "target_type", targetID = "target_id"
        case createdAt = "created_at"
    }
    public init(id: Int64, userID: Int64?, userEmail: String?, action: String, targetType: String?, targetID: String?,
                details: [String: String], createdAt: Date) {
        self.id = id
        self.userID = userID
        self.userEmail = userEmail
        self.action = action
        self.targetType = targetType
        self.targetID = targetID
        self.details = details
        self.createdAt = createdAt
    }
}

/// The audit log.
public protocol AuditStore {
    /// Records one entry on its own (a change recorded with its entry goes through that change's store).
    func record(_ entry: AuditEntry) throws
    /// The workspace's newest entries first; `before` is the id cursor.
    func list(workspaceID: Int64, before: Int64?, limit: Int) throws -> [AuditRecord]
}

public struct PGAuditStore: AuditStore {
    let conn: PGConnection
    public init(_ conn: PGConnection) { self.conn = conn }

    public func record(_ entry: AuditEntry) throws { try conn.recordAudit(entry) }

    public func list(workspaceID: Int64, before: Int64?, limit: Int) throws -> [AuditRecord] {
        try conn.query("""
            SELECT a.id, a.user_id, u.email, a.action, a.target_type, a.target_id, a.details::text AS details, a.created_at
              FROM audit_log a LEFT JOIN users u ON u.id = a.user_id
             WHERE a.workspace_id = \(workspaceID) AND (\(before)::bigint IS NULL OR a.id < \(before))
             ORDER BY a.id DESC LIMIT \(limit)
            """).map { row in
            let details = (try row.decode(String?.self, "details").flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } as? [String: Any])?
                .mapValues { "\($0)" } ?? [:]
            return AuditRecord(id: try row.decode(Int64.self, "id"), userID: try row.decode(Int64?.self, "user_id"),
                               userEmail: try row.decode(String?.self, "email"), action: try row.decode(String.self, "action"),
                               targetType: try row.decode(String?.self, "target_type"), targetID: try row.decode(String?.self, "target_id"),
                               details: details, createdAt: try row.decode(Date.self, "created_at"))
        }
    }
}

extension PostgresStores {
    public var audit: PGAuditStore { PGAuditStore(conn) }
}

extension PGConnection {
    /// Writes `entry` in the current transaction: every PostgreSQL store that makes an audited change
    /// calls this inside the transaction it owns.
    func recordAudit(_ entry: AuditEntry) throws {
        let details = (try? String(decoding: JSONEncoder().encode(entry.details), as: UTF8.self)) ?? "{}"
        try execute("""
            INSERT INTO audit_log (workspace_id, user_id, action, target_type, target_id, details)
            VALUES (\(entry.workspaceID), \(entry.userID), \(entry.action), \(entry.targetType), \(entry.targetID), \(PGJSON(details))::jsonb)
            """)
    }
}
