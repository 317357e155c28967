import Foundation

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

extension AuditActor {
    /// The audit entry of this actor's change, handed to the store that makes the change (it writes
    /// both in one transaction).
    public func audit(_ action: String, _ targetType: String?, _ targetID: String?, _ details: [String: String] = [:]) -> AuditEntry {
        AuditEntry(workspaceID: workspaceID, userID: auditUserID, action: action, targetType: targetType, targetID: targetID, details: details)
    }
}

/// The audit log: one row per staff action (user, workspace, action, target, time, details).
public enum Audit {
    /// The workspace's newest entries first; `before` is the id cursor; 1 to 500 entries.
    public static func list(_ store: some AuditStore, workspaceID: Int64, before: Int64?, limit: Int) throws -> [AuditRecord] {
        try store.list(workspaceID: workspaceID, before: before, limit: min(max(limit, 1), 500))
    }
}
