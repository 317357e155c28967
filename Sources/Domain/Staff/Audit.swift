import Foundation
import Postgres

/// Who a change is made by, as the audit log names them: a member of the workspace (`StaffActor`,
/// the API) or the operator at the command line (`OperatorActor`, medsync-jobs).
public protocol AuditActor: Sendable {
    var workspaceID: Int64 { get }
    /// The user the entry names; nil for the operator, who is no user of the workspace.
    var auditUserID: Int64? { get }
}

extension StaffActor: AuditActor {
    public var auditUserID: Int64? { userID }
}

/// The operator's command line acting on a workspace (medsync-jobs): entries name no user.
public struct OperatorActor: AuditActor, Equatable {
    public let workspaceID: Int64
    public var auditUserID: Int64? { nil }
    public init(workspaceID: Int64) { self.workspaceID = workspaceID }
}

/// The audit log: one row per staff action (user, workspace, action, target, time, details).
/// Use cases record their entry inside their own transaction, so a change and its entry are
/// committed together and a change that fails leaves no entry.
public enum Audit {
    public static func record(_ conn: PGConnection, _ actor: some AuditActor, action: String, targetType: String?,
                              targetID: String?, details: [String: String] = [:]) throws {
        try conn.execute("""
            INSERT INTO audit_log (workspace_id, user_id, action, target_type, target_id, details)
            VALUES (\(actor.workspaceID), \(actor.auditUserID), \(action), \(targetType), \(targetID), \(PGJSON(StaffJSON.encode(details)))::jsonb)
            """)
    }

    public struct Entry: Sendable, Encodable {
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
    }

    /// The workspace's newest entries first; `before` is the id cursor.
    public static func list(_ conn: PGConnection, workspaceID: Int64, before: Int64?, limit: Int) throws -> [Entry] {
        try conn.query("""
            SELECT a.id, a.user_id, u.email, a.action, a.target_type, a.target_id, a.details::text AS details, a.created_at
              FROM audit_log a LEFT JOIN users u ON u.id = a.user_id
             WHERE a.workspace_id = \(workspaceID) AND (\(before)::bigint IS NULL OR a.id < \(before))
             ORDER BY a.id DESC LIMIT \(limit)
            """).map { row in
            let details = (try row.decode(String?.self, "details").flatMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) } as? [String: Any])?
                .mapValues { "\($0)" } ?? [:]
            return Entry(id: try row.decode(Int64.self, "id"), userID: try row.decode(Int64?.self, "user_id"), userEmail: try row.decode(String?.self, "email"),
                         action: try row.decode(String.self, "action"), targetType: try row.decode(String?.self, "target_type"), targetID: try row.decode(String?.self, "target_id"),
                         details: details, createdAt: try row.decode(Date.self, "created_at"))
        }
    }
}
