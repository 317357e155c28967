import Foundation
import Store

/// Bundle batches and their recipients in memory, as staff read them, answering as `PGBundleStore`
/// does (newest first, ids below the cursor, counts by status).
public final class MemoryBundleStore: BundleStore, @unchecked Sendable {
    public struct Batch: Sendable {
        public var record: BundleBatchRecord
        public let workspaceID: Int64
    }

    public private(set) var batches: [Batch] = []
    public private(set) var recipientRows: [(workspaceID: Int64, batchID: Int64, recipient: BundleRecipientProgress)] = []

    public init() {}

    public func add(_ workspaceID: Int64, _ batch: BundleBatchRecord, recipients: [BundleRecipientProgress] = []) {
        batches.append(Batch(record: batch, workspaceID: workspaceID))
        recipientRows += recipients.map { (workspaceID, batch.id, $0) }
    }

    public func batch(workspaceID: Int64, id: Int64) throws -> BundleBatchRecord? {
        batches.first { $0.workspaceID == workspaceID && $0.record.id == id }.map {
            BundleBatchRecord(id: $0.record.id, status: $0.record.status, body: $0.record.body, senderID: $0.record.senderID, createdBy: nil,
                              total: $0.record.total, counts: [:], createdAt: $0.record.createdAt, startedAt: $0.record.startedAt,
                              completedAt: $0.record.completedAt)
        }
    }

    public func recipients(workspaceID: Int64, batchID: Int64) throws -> [BundleRecipientProgress] {
        recipientRows.filter { $0.workspaceID == workspaceID && $0.batchID == batchID }.map(\.recipient).sorted { $0.id < $1.id }
    }

    public func batches(workspaceID: Int64, before: Int64?, limit: Int) throws -> [BundleBatchRecord] {
        batches.filter { batch in batch.workspaceID == workspaceID && (before.map { batch.record.id < $0 } ?? true) }
            .sorted { $0.record.id > $1.record.id }
            .prefix(limit)
            .map { b in
                var counts: [String: Int] = [:]
                for r in recipientRows where r.batchID == b.record.id { counts[r.recipient.status, default: 0] += 1 }
                return BundleBatchRecord(id: b.record.id, status: b.record.status, body: b.record.body, senderID: b.record.senderID,
                                         createdBy: b.record.createdBy, total: b.record.total, counts: counts, createdAt: b.record.createdAt,
                                         startedAt: b.record.startedAt, completedAt: b.record.completedAt)
            }
    }
}
