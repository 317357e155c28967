import Foundation
import Store

/// Bundle batches and their recipients in memory, as staff read them and a bundle send queues them,
/// answering as `PGBundleStore` does (newest first, ids below the cursor, counts by status).
public final class MemoryBundleStore: BundleStore, @unchecked Sendable {
    public struct Batch: Sendable {
        public var record: BundleBatchRecord
        public let workspaceID: Int64
    }

    public private(set) var batches: [Batch] = []
    public private(set) var recipientRows: [(workspaceID: Int64, batchID: Int64, recipient: BundleRecipientProgress)] = []

    /// The Idempotency-Key table an enqueue takes its key in (share it with the send's message store).
    public let keys: MemoryMessageStore
    /// The audit entries enqueues wrote, oldest first.
    public private(set) var audit: [AuditEntry] = []

    public init(keys: MemoryMessageStore = MemoryMessageStore()) { self.keys = keys }

    public func enqueue(_ b: NewBundleBatch, key: IdempotencyKeyRequest?, audit entry: (Int64) -> AuditEntry,
                        answer: (Int64) throws -> String) throws -> BundleEnqueueOutcome {
        let batchID = (batches.map(\.record.id).max() ?? 0) + 1
        var claimed: Int64? = nil
        if let key {
            guard let id = try keys.takeIdempotencyKey(workspaceID: b.workspaceID, key: key.key, operation: key.operation, hash: key.hash) else {
                return .keyTaken(holder: try keys.idempotentRequest(workspaceID: b.workspaceID, key: key.key))
            }
            claimed = id
        }
        let response: String?
        do { response = claimed == nil ? nil : try answer(batchID) } catch {
            if let claimed { try keys.releaseIdempotencyKey(id: claimed) }  // the transaction rolled back
            throw error
        }
        let firstRecipient = (recipientRows.map(\.recipient.id).max() ?? 0) + 1
        add(b.workspaceID, BundleBatchRecord(id: batchID, status: "queued", body: b.body, senderID: b.senderID, createdBy: b.createdBy,
                                             total: b.recipients.count, counts: [:], createdAt: Date(), startedAt: nil, completedAt: nil),
            recipients: b.recipients.enumerated().map { i, r in
                BundleRecipientProgress(id: firstRecipient + Int64(i), name: r.name, phone: r.phone, status: "queued", attempts: 0, twilioSID: nil,
                                        errorCode: nil, errorMessage: nil, sentAt: nil)
            })
        audit.append(entry(batchID))
        if let claimed, let response { try keys.completeIdempotentRequest(id: claimed, response: response) }
        return .enqueued(batchID: batchID)
    }

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
