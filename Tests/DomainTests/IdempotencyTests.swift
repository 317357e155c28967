@testable import Domain
import Foundation
import Testing
import TestSupport

/// `Idempotency` on the Idempotency-Key table (in memory; its PostgreSQL store: MessageStoreTests):
/// one owner per key, a replay of the stored answer, a key reused for another request refused, a
/// running request neither replayed nor run twice, and a run whose process died taken over by one
/// request only.
@Suite struct IdempotencyTests {
    struct Answer: Codable, Equatable { let id: Int64 }

    @Test func oneOwnerPerKeyThenTheStoredAnswer() throws {
        let store = MemoryMessageStore()
        let ws: Int64 = 1
        let hash = try Idempotency.fingerprint("whatsapp.send", ["body": "hi"])
        guard case .fresh(let id) = try Idempotency.begin(store, workspaceID: ws, key: "k1", operation: "whatsapp.send", hash: hash, as: Answer.self) else {
            Issue.record("the first request owns the key"); return
        }
        // While it runs, the same request is told to wait: never run twice.
        #expect(throws: Idempotency.inProgress) {
            try Idempotency.begin(store, workspaceID: ws, key: "k1", operation: "whatsapp.send", hash: hash, as: Answer.self)
        }
        try Idempotency.complete(store, id, answer: Answer(id: 42))
        guard case .replay(let answer) = try Idempotency.begin(store, workspaceID: ws, key: "k1", operation: "whatsapp.send", hash: hash, as: Answer.self) else {
            Issue.record("the same request again is a replay"); return
        }
        #expect(answer == Answer(id: 42))
        let other = try Idempotency.fingerprint("whatsapp.send", ["body": "hello"])
        #expect(throws: Idempotency.reused) {
            try Idempotency.begin(store, workspaceID: ws, key: "k1", operation: "whatsapp.send", hash: other, as: Answer.self)
        }
        #expect(throws: Idempotency.reused) {
            try Idempotency.begin(store, workspaceID: ws, key: "k1", operation: "whatsapp.send_template", hash: hash, as: Answer.self)
        }
        // Keys are per workspace.
        let elsewhere: Int64 = 2
        guard case .fresh = try Idempotency.begin(store, workspaceID: elsewhere, key: "k1", operation: "whatsapp.send", hash: hash, as: Answer.self) else {
            Issue.record("another workspace's key is its own"); return
        }
    }

    @Test func releasedKeysTryAgainAndAbandonedRunsAreTakenOverOnce() throws {
        let store = MemoryMessageStore()
        let ws: Int64 = 1
        let hash = try Idempotency.fingerprint("whatsapp.send", ["body": "hi"])
        guard case .fresh(let id) = try Idempotency.begin(store, workspaceID: ws, key: "k", operation: "whatsapp.send", hash: hash, as: Answer.self) else {
            Issue.record("fresh"); return
        }
        try Idempotency.release(store, id)
        guard case .fresh(let again) = try Idempotency.begin(store, workspaceID: ws, key: "k", operation: "whatsapp.send", hash: hash, as: Answer.self) else {
            Issue.record("a released key is fresh again"); return
        }
        // Its process died long ago: one request takes it over (and must ask Twilio what was sent since).
        store.age(request: again, by: 3600)
        guard case .resumed(let taken, let since) = try Idempotency.begin(store, workspaceID: ws, key: "k", operation: "whatsapp.send", hash: hash, as: Answer.self) else {
            Issue.record("an abandoned run is taken over"); return
        }
        #expect(taken == again)
        #expect(since < Date().addingTimeInterval(-3000))
        #expect(throws: Idempotency.inProgress) {
            try Idempotency.begin(store, workspaceID: ws, key: "k", operation: "whatsapp.send", hash: hash, as: Answer.self)
        }
        #expect(throws: AppError.self) { try Idempotency.key("é") }
        #expect(try Idempotency.key("  ") == nil)
        #expect(try Idempotency.key(" abc ") == "abc")
    }
}
