@testable import Domain
import Foundation
import Testing
import TestSupport

/// `Bundles.send` on in-memory stores (the PostgreSQL transaction: StaffBundleTests and
/// IdempotencyTests over HTTP): the batch, its recipients and the audit entry queued together, the
/// Idempotency-Key's replay, a reused key refused, a running request not queued twice.
@Suite struct BundleSendTests {
    let ws: Int64 = 7
    let actor = StaffActor(userID: 3, workspaceID: 7, role: .owner)
    let input = Bundles.SendInput(body: "Hola {name}", recipients: [
        .init(name: "Ana", phone: "+5215512345678", language: "es"),
        .init(name: "Bad", phone: "12", language: nil),
    ], consentConfirmed: true)

    @Test func queuesTheBatchWithItsAuditEntryAndReplaysTheKey() throws {
        let messages = MemoryMessageStore()
        let sender = messages.addSender(workspaceID: ws, phone: "+15550001111")
        let store = MemoryBundleStore(keys: messages)
        let first = try Bundles.send(store, messages: messages, actor: actor, input, idempotencyKey: "b1")
        #expect(first.status == "queued" && first.total == 1 && first.invalid.map(\.index) == [1])
        #expect(try store.recipients(workspaceID: ws, batchID: first.batchID).map(\.phone) == ["+5215512345678"])
        #expect(try store.batch(workspaceID: ws, id: first.batchID)?.senderID == sender.id)
        #expect(store.audit == [actor.audit("bundle.send", "bundle", String(first.batchID),
                                            ["recipients": "1", "invalid": "1", "sender_id": String(sender.id)])])
        // The same request again: the same batch, nothing queued twice.
        let again = try Bundles.send(store, messages: messages, actor: actor, input, idempotencyKey: "b1")
        #expect(again.batchID == first.batchID)
        #expect(store.batches.count == 1 && store.audit.count == 1)
        // The key for another request: refused.
        var other = input
        other.body = "Adiós {name}"
        #expect(throws: Idempotency.reused) { try Bundles.send(store, messages: messages, actor: actor, other, idempotencyKey: "b1") }
        // Without a key, each request is a batch.
        let plain = try Bundles.send(store, messages: messages, actor: actor, input)
        #expect(plain.batchID != first.batchID && store.batches.count == 2)
    }

    @Test func aRunningRequestWithTheKeyIsNotQueuedTwice() throws {
        let messages = MemoryMessageStore()
        messages.addSender(workspaceID: ws, phone: "+15550001111")
        let store = MemoryBundleStore(keys: messages)
        let hash = try Idempotency.fingerprint("bundle.send", input)
        _ = try messages.takeIdempotencyKey(workspaceID: ws, key: "b2", operation: "bundle.send", hash: hash)
        #expect(throws: Idempotency.inProgress) { try Bundles.send(store, messages: messages, actor: actor, input, idempotencyKey: "b2") }
        #expect(store.batches.isEmpty && store.audit.isEmpty)
    }

    @Test func noSenderNoBatch() throws {
        let messages = MemoryMessageStore()
        let store = MemoryBundleStore(keys: messages)
        #expect(throws: AppError.self) { try Bundles.send(store, messages: messages, actor: actor, input, idempotencyKey: "b3") }
        #expect(store.batches.isEmpty && messages.requests.isEmpty)
    }
}
