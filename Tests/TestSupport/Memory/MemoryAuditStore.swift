import Foundation
import Store

/// The audit log in memory, for use-case tests that run without PostgreSQL. Every in-memory store
/// keeps its rows in a class (a store is handed around by value, its rows are shared) and answers
/// exactly as its PostgreSQL store does for the cases the use cases rely on; StoreTests holds the
/// PostgreSQL side of each.
public final class MemoryAuditStore: AuditStore, @unchecked Sendable {
    public private(set) var entries: [AuditEntry] = []
    public init() {}

    public func record(_ entry: AuditEntry) throws { entries.append(entry) }

    public func list(workspaceID: Int64, before: Int64?, limit: Int) throws -> [AuditRecord] {
        entries.enumerated().reversed()
            .map { (id: Int64($0.offset + 1), entry: $0.element) }
            .filter { row in row.entry.workspaceID == workspaceID && (before.map { row.id < $0 } ?? true) }
            .prefix(limit)
            .map { AuditRecord(id: $0.id, userID: $0.entry.userID, userEmail: nil, action: $0.entry.action, targetType: $0.entry.targetType,
                               targetID: $0.entry.targetID, details: $0.entry.details, createdAt: Date(timeIntervalSince1970: 0)) }
    }
}
