import Domain
import Foundation
import Postgres
import Store
import Testing
import TestSupport

/// Enqueuing a bundle in PostgreSQL: what the in-memory twin cannot show — the Idempotency-Key, the
/// batch, its recipients (jsonb_to_recordset), the audit entry and the replay's answer commit in one
/// transaction, and a failure inside it leaves none of them (the key free again).
@Suite(.needsStack) struct BundleStoreTests {
    func newBatch(_ ws: Int64, sender: Int64) -> NewBundleBatch {
        NewBundleBatch(workspaceID: ws, senderID: sender, createdBy: nil, body: "Hola {name}", recipients: [
            NewBundleRecipient(name: "Ana", phone: JobsWorld.randomPhone(), language: "es", fields: ["day": "lunes"]),
            NewBundleRecipient(name: nil, phone: JobsWorld.randomPhone(), language: nil, fields: [:]),
        ])
    }

    func audit(_ ws: Int64) -> (Int64) -> AuditEntry {
        { AuditEntry(workspaceID: ws, userID: nil, action: "bundle.send", targetType: "bundle", targetID: String($0), details: ["recipients": "2"]) }
    }

    @Test func theKeyTheBatchItsRecipientsAndTheAuditEntryCommitTogether() throws {
        let w = try JobsWorld()
        let ws = try w.workspace()
        let sender = try w.sender(ws).id
        let store = PostgresStores(w.conn).bundles
        let key = IdempotencyKeyRequest(key: "k-\(UUID())", operation: "bundle.send", hash: String(repeating: "ab", count: 32))
        guard case .enqueued(let batch) = try store.enqueue(newBatch(ws, sender: sender), key: key, audit: audit(ws), answer: { "{\"batch_id\": \($0)}" }) else {
            Issue.record("a free key queues the batch"); return
        }
        let recipients = try store.recipients(workspaceID: ws, batchID: batch)
        #expect(recipients.count == 2 && recipients.allSatisfy { $0.status == "queued" })
        #expect(try w.conn.query("SELECT fields::text AS f FROM bundle_recipients WHERE batch_id = \(batch) ORDER BY id").map { try $0.decode(String.self, "f") }
                == ["{\"day\": \"lunes\"}", "{}"])
        #expect(try w.conn.query("SELECT 1 AS one FROM audit_log WHERE workspace_id = \(ws) AND action = 'bundle.send' AND target_id = \(String(batch))").count == 1)
        let holder = try #require(try PostgresStores(w.conn).messages.idempotentRequest(workspaceID: ws, key: key.key))
        #expect(holder.status == "completed" && holder.response == "{\"batch_id\": \(batch)}")
        // The key taken: nothing written, the holder answered.
        guard case .keyTaken(let again) = try store.enqueue(newBatch(ws, sender: sender), key: key, audit: audit(ws), answer: { _ in "{}" }) else {
            Issue.record("a taken key queues nothing"); return
        }
        #expect(again?.id == holder.id)
        #expect(try store.batches(workspaceID: ws, before: nil, limit: 10).count == 1)
    }

    @Test func aFailureInsideLeavesNothingAndTheKeyFree() throws {
        struct Boom: Error {}
        let w = try JobsWorld()
        let ws = try w.workspace()
        let sender = try w.sender(ws).id
        let store = PostgresStores(w.conn).bundles
        let key = IdempotencyKeyRequest(key: "k-\(UUID())", operation: "bundle.send", hash: String(repeating: "ab", count: 32))
        #expect(throws: Boom.self) { try store.enqueue(newBatch(ws, sender: sender), key: key, audit: audit(ws), answer: { _ in throw Boom() }) }
        #expect(try store.batches(workspaceID: ws, before: nil, limit: 10).isEmpty)
        #expect(try PostgresStores(w.conn).messages.idempotentRequest(workspaceID: ws, key: key.key) == nil)
        #expect(try w.conn.query("SELECT 1 AS one FROM audit_log WHERE workspace_id = \(ws) AND action = 'bundle.send'").isEmpty)
    }
}
