@testable import Domain
import Foundation
import Postgres
import Testing
import TestSupport

/// `Idempotency` (0020) on a fresh database: one owner per key, a replay of the stored answer, a key
/// reused for another request refused, a running request neither replayed nor run twice, and a run
/// whose process died taken over by one request only.
@Suite(.needsStack) struct IdempotencyTests {
    struct Answer: Codable, Equatable { let id: Int64 }

    func workspace(_ conn: PGConnection) throws -> Int64 {
        try conn.query("INSERT INTO workspaces (name) VALUES ('Idempotency') RETURNING id").one().decode(Int64.self, "id")
    }

    @Test func oneOwnerPerKeyThenTheStoredAnswer() throws {
        let conn = try PGConnection(try TestDatabase.create())
        let ws = try workspace(conn)
        let hash = try Idempotency.fingerprint("whatsapp.send", ["body": "hi"])
        guard case .fresh(let id) = try Idempotency.begin(conn, workspaceID: ws, key: "k1", operation: "whatsapp.send", hash: hash, as: Answer.self) else {
            Issue.record("the first request owns the key"); return
        }
        // While it runs, the same request is told to wait: never run twice.
        #expect(throws: Idempotency.inProgress) {
            try Idempotency.begin(conn, workspaceID: ws, key: "k1", operation: "whatsapp.send", hash: hash, as: Answer.self)
        }
        try Idempotency.complete(conn, id, answer: Answer(id: 42))
        guard case .replay(let answer) = try Idempotency.begin(conn, workspaceID: ws, key: "k1", operation: "whatsapp.send", hash: hash, as: Answer.self) else {
            Issue.record("the same request again is a replay"); return
        }
        #expect(answer == Answer(id: 42))
        let other = try Idempotency.fingerprint("whatsapp.send", ["body": "hello"])
        #expect(throws: Idempotency.reused) {
            try Idempotency.begin(conn, workspaceID: ws, key: "k1", operation: "whatsapp.send", hash: other, as: Answer.self)
        }
        #expect(throws: Idempotency.reused) {
            try Idempotency.begin(conn, workspaceID: ws, key: "k1", operation: "whatsapp.send_template", hash: hash, as: Answer.self)
        }
        // Keys are per workspace.
        let elsewhere = try workspace(conn)
        guard case .fresh = try Idempotency.begin(conn, workspaceID: elsewhere, key: "k1", operation: "whatsapp.send", hash: hash, as: Answer.self) else {
            Issue.record("another workspace's key is its own"); return
        }
    }

    @Test func releasedKeysTryAgainAndAbandonedRunsAreTakenOverOnce() throws {
        let conn = try PGConnection(try TestDatabase.create())
        let ws = try workspace(conn)
        let hash = try Idempotency.fingerprint("whatsapp.send", ["body": "hi"])
        guard case .fresh(let id) = try Idempotency.begin(conn, workspaceID: ws, key: "k", operation: "whatsapp.send", hash: hash, as: Answer.self) else {
            Issue.record("fresh"); return
        }
        try Idempotency.release(conn, id)
        guard case .fresh(let again) = try Idempotency.begin(conn, workspaceID: ws, key: "k", operation: "whatsapp.send", hash: hash, as: Answer.self) else {
            Issue.record("a released key is fresh again"); return
        }
        // Its process died long ago: one request takes it over (and must ask Twilio what was sent since).
        try conn.execute("ALTER TABLE idempotent_requests DISABLE TRIGGER idempotent_requests_updated_at")
        try conn.execute("UPDATE idempotent_requests SET updated_at = now() - interval '1 hour', created_at = now() - interval '1 hour' WHERE id = \(again)")
        try conn.execute("ALTER TABLE idempotent_requests ENABLE TRIGGER idempotent_requests_updated_at")
        guard case .resumed(let taken, let since) = try Idempotency.begin(conn, workspaceID: ws, key: "k", operation: "whatsapp.send", hash: hash, as: Answer.self) else {
            Issue.record("an abandoned run is taken over"); return
        }
        #expect(taken == again)
        #expect(since < Date().addingTimeInterval(-3000))
        #expect(throws: Idempotency.inProgress) {
            try Idempotency.begin(conn, workspaceID: ws, key: "k", operation: "whatsapp.send", hash: hash, as: Answer.self)
        }
        #expect(throws: AppError.self) { try Idempotency.key("é") }
        #expect(try Idempotency.key("  ") == nil)
        #expect(try Idempotency.key(" abc ") == "abc")
    }
}
