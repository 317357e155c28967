import Domain
import Foundation
import Testing
import TestSupport

/// A batch's progress and the past batches, as staff read them, on an in-memory store (the SQL of
/// both is exercised through HTTP by FCGIAppTests' BundleHistoryTests and StaffBundleTests).
@Suite struct BundleProgressTests {
    func batch(_ id: Int64, status: String, createdAt: Date, total: Int? = 2) -> BundleBatchRecord {
        BundleBatchRecord(id: id, status: status, body: "Hi {name}", senderID: 7, createdBy: 3, total: total, counts: [:], createdAt: createdAt,
                          startedAt: nil, completedAt: nil)
    }

    func recipient(_ id: Int64, _ status: String) -> BundleRecipientProgress {
        BundleRecipientProgress(id: id, name: "Ana", phone: "+1555000\(String(format: "%04d", id))", status: status, attempts: 1, twilioSID: nil,
                                errorCode: nil, errorMessage: nil, sentAt: nil)
    }

    @Test func progressCountsEveryStatusAndSaysWhenAQueuedBatchStarts() throws {
        let store = MemoryBundleStore()
        let now = Date()
        store.add(1, batch(10, status: "sending", createdAt: now.addingTimeInterval(-60)), recipients: [recipient(2, "sent"), recipient(1, "failed")])
        store.add(1, batch(11, status: "queued", createdAt: now.addingTimeInterval(-5), total: nil), recipients: [recipient(3, "queued")])
        store.add(2, batch(12, status: "queued", createdAt: now))

        let sending = try Bundles.progress(store, workspaceID: 1, id: 10, now: now)
        #expect(sending.counts == ["queued": 0, "sending": 0, "sent": 1, "failed": 1, "skipped": 0, "unknown": 0])
        #expect(sending.recipients.map(\.id) == [1, 2])
        #expect(sending.expectedStartBy == nil && sending.total == 2)
        let queued = try Bundles.progress(store, workspaceID: 1, id: 11, now: now)
        #expect(queued.total == 1)   // no stored total: its recipients
        #expect(queued.expectedStartBy == now.addingTimeInterval(10))
        // Another clinic's batch is not found.
        #expect(throws: AppError.self) { try Bundles.progress(store, workspaceID: 1, id: 12, now: now) }
    }

    @Test func historyIsNewestFirstInPagesWithEveryStatusCounted() throws {
        let store = MemoryBundleStore()
        let now = Date()
        for id in Int64(1)...5 {
            store.add(1, batch(id, status: id == 5 ? "queued" : "completed", createdAt: now.addingTimeInterval(-600)), recipients: [recipient(id * 10, "sent")])
        }
        let first = try Bundles.history(store, workspaceID: 1, before: nil, limit: 2, now: now)
        #expect(first.items.map(\.id) == [5, 4])
        #expect(first.nextCursor == "4")
        #expect(first.items[0].expectedStartBy == now.addingTimeInterval(15) && first.items[1].expectedStartBy == nil)
        #expect(first.items[1].counts == ["queued": 0, "sending": 0, "sent": 1, "failed": 0, "skipped": 0, "unknown": 0])
        let last = try Bundles.history(store, workspaceID: 1, before: 2, limit: 2, now: now)
        #expect(last.items.map(\.id) == [1])
        #expect(last.nextCursor == nil)
        #expect(try Bundles.history(store, workspaceID: 2, before: nil, limit: 20, now: now).items.isEmpty)
    }
}
