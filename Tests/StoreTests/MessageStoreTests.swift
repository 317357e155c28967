import Domain
import Foundation
import Postgres
import Store
import Testing
import TestSupport

/// The messages' PostgreSQL store: the SID's unique key and a settled message recorded once, the
/// unsettled sends and how they settle, what a send reads, and the Idempotency-Key table — one owner
/// per key per workspace, also when two sessions race for it.
@Suite(.needsStack) struct MessageStoreTests {
    struct World {
        let url: String
        let conn: PGConnection
        let ws: Int64
        let patient: Int64
        let sender: Int64
        var store: PGMessageStore { PostgresStores(conn).messages }

        init() throws {
            url = try TestDatabase.create()
            conn = try PGConnection(url)
            ws = try Workspaces.create(conn, name: "Messages", timezone: "UTC").id
            patient = try conn.query("""
                INSERT INTO patients (workspace_id, phone, name, preferred_language, consent_whatsapp) VALUES (\(ws), '+15550000001', 'Ana', 'es', true) RETURNING id
                """).one().decode(Int64.self, "id")
            sender = try conn.query("""
                INSERT INTO whatsapp_senders (workspace_id, phone_number, display_name) VALUES (\(ws), '+15550001000', 'Front desk') RETURNING id
                """).one().decode(Int64.self, "id")
        }

        func message(sid: String?, status: String = "queued", body: String = "hi") -> OutboundMessage {
            OutboundMessage(workspaceID: ws, patientID: patient, senderID: sender, body: body, templateKey: nil, contentSid: nil,
                            sentByUserID: nil, sid: sid, status: status, errorCode: nil, errorMessage: nil)
        }
    }

    @Test func theSIDIsUniqueAndASettledMessageIsRecordedOnce() throws {
        let w = try World()
        let first = try w.store.record(w.message(sid: "SM0001"))
        // A second row with the same SID is refused by the schema.
        #expect(throws: PGError.self) { _ = try w.store.record(w.message(sid: "SM0001")) }
        // Settled again: the recorded row is the answer, with the status it holds.
        try w.conn.execute("UPDATE whatsapp_messages SET status = 'delivered' WHERE id = \(first.messageID)")
        let settled = try w.store.recordSettled(w.message(sid: "SM0001", status: "sent"))
        #expect(settled == RecordedOutbound(messageID: first.messageID, conversationID: first.conversationID, status: "delivered"))
        #expect(try w.conn.query("SELECT count(*) AS n FROM whatsapp_messages WHERE twilio_sid = 'SM0001'").one().decode(Int.self, "n") == 1)
        // A new SID is recorded in the same conversation, which a new message shows again when deleted.
        try w.conn.execute("UPDATE whatsapp_conversations SET deleted_at = now() WHERE id = \(first.conversationID)")
        let second = try w.store.recordSettled(w.message(sid: "SM0002", status: "sent"))
        #expect(second.conversationID == first.conversationID && second.messageID != first.messageID && second.status == "sent")
        #expect(try w.conn.query("SELECT deleted_at FROM whatsapp_conversations WHERE id = \(first.conversationID)").one().decode(Date?.self, "deleted_at") == nil)
    }

    @Test func unsettledSendsSettleOnceAsSentOrAsFailed() throws {
        let w = try World()
        let a = try w.store.record(w.message(sid: nil, status: "sending", body: "results"))
        let b = try w.store.record(w.message(sid: nil, status: "sending", body: "results"))
        _ = try w.store.record(w.message(sid: nil, status: "sending", body: "other text"))
        let found = try w.store.unsettledSends(workspaceID: w.ws, conversationID: a.conversationID, body: "results", templateKey: nil)
        #expect(found.map(\.messageID) == [a.messageID, b.messageID])
        #expect(try w.store.unsettledSends(workspaceID: w.ws, conversationID: a.conversationID, body: "results", templateKey: "followup").isEmpty)
        #expect(try w.store.settleSent(messageID: a.messageID, sid: "SM0003", status: "sent", errorCode: nil, errorMessage: nil) == "sent")
        // Once: a row with a SID is not settled again.
        #expect(try w.store.settleSent(messageID: a.messageID, sid: "SM0004", status: "sent", errorCode: nil, errorMessage: nil) == nil)
        try w.store.settleNotSent(messageID: b.messageID)
        let rows = try w.conn.query("SELECT id, status, twilio_sid FROM whatsapp_messages WHERE id IN (\(a.messageID), \(b.messageID)) ORDER BY id")
        #expect(try rows.map { try $0.decode(String.self, "status") } == ["sent", "failed"])
        #expect(try rows.map { try $0.decode(String?.self, "twilio_sid") } == ["SM0003", nil])
        #expect(try w.store.unsettledSends(workspaceID: w.ws, conversationID: a.conversationID, body: "results", templateKey: nil).isEmpty)
    }

    @Test func whatASendReads() throws {
        let w = try World()
        #expect(try w.store.patient(workspaceID: w.ws, id: w.patient) == OutboundPatient(phone: "+15550000001", consentWhatsapp: true))
        #expect(try w.store.patient(workspaceID: w.ws + 1, id: w.patient) == nil)
        #expect(try w.store.primarySender(workspaceID: w.ws)?.id == w.sender)
        try w.conn.execute("UPDATE whatsapp_senders SET is_active = false WHERE id = \(w.sender)")
        #expect(try w.store.primarySender(workspaceID: w.ws) == nil)
        #expect(try w.store.sender(workspaceID: w.ws, id: w.sender)?.isActive == false)
        try w.conn.execute("""
            UPDATE workspaces SET content_sids = '{"followup": {"es": "HXfollowupES000000000000000000000", "en": ""}}'::jsonb, clinic_name = 'Clínica Sur' WHERE id = \(w.ws)
            """)
        #expect(try w.store.contentSid(workspaceID: w.ws, key: "followup", language: "es") == "HXfollowupES000000000000000000000")
        #expect(try w.store.contentSid(workspaceID: w.ws, key: "followup", language: "en") == nil)
        #expect(try w.store.conversation(workspaceID: w.ws, patientID: w.patient, senderID: w.sender) == nil)
        let recorded = try w.store.record(w.message(sid: nil, status: "failed"))
        #expect(try w.store.conversation(workspaceID: w.ws, patientID: w.patient, senderID: w.sender) == OutboundConversation(id: recorded.conversationID, lastInboundAt: nil))
        // The doctor of the next appointment, else the latest; the patient's language; the clinic's name.
        let now = Date()
        for (name, offset, status) in [("Dr. Past", -86400.0, "confirmed"), ("Dr. Next", 3600.0, "confirmed"), ("Dr. Cancelled", 60.0, "cancelled")] {
            let doctor = try w.conn.query("INSERT INTO users (email, name) VALUES (\(UUID().uuidString + "@e.test"), \(name)) RETURNING id").one().decode(Int64.self, "id")
            try w.conn.execute("INSERT INTO memberships (user_id, workspace_id, role) VALUES (\(doctor), \(w.ws), 'doctor')")
            try w.conn.execute("""
                INSERT INTO appointments (workspace_id, patient_id, doctor_id, starts_at, ends_at, status)
                VALUES (\(w.ws), \(w.patient), \(doctor), \(now.addingTimeInterval(offset)), \(now.addingTimeInterval(offset + 1800)), \(status))
                """)
        }
        #expect(try w.store.templateContext(workspaceID: w.ws, patientID: w.patient, now: now)
                == TemplateContext(language: "es", clinicName: "Clínica Sur", doctorName: "Dr. Next"))
        #expect(try w.store.templateContext(workspaceID: w.ws + 1, patientID: w.patient, now: now) == nil)
    }

    @Test func oneOwnerPerIdempotencyKeyPerWorkspace() throws {
        let w = try World()
        let other = try Workspaces.create(w.conn, name: "Other", timezone: "UTC").id
        let hash = String(repeating: "a", count: 64)
        let id = try #require(try w.store.takeIdempotencyKey(workspaceID: w.ws, key: "k", operation: "whatsapp.send", hash: hash))
        #expect(try w.store.takeIdempotencyKey(workspaceID: w.ws, key: "k", operation: "whatsapp.send", hash: hash) == nil)
        #expect(try w.store.takeIdempotencyKey(workspaceID: other, key: "k", operation: "whatsapp.send", hash: hash) != nil)
        #expect(try w.store.idempotentRequest(workspaceID: w.ws, key: "k")
                == IdempotentRequest(id: id, operation: "whatsapp.send", requestHash: hash, status: "running", response: nil))
        // A running key just taken is not abandoned.
        #expect(try w.store.takeOverIdempotencyKey(id: id, idleSeconds: 300) == nil)
        // Idle for an hour: taken over once (the take-over touches it).
        try w.conn.execute("ALTER TABLE idempotent_requests DISABLE TRIGGER idempotent_requests_updated_at")
        try w.conn.execute("UPDATE idempotent_requests SET updated_at = now() - interval '1 hour', created_at = now() - interval '1 hour' WHERE id = \(id)")
        try w.conn.execute("ALTER TABLE idempotent_requests ENABLE TRIGGER idempotent_requests_updated_at")
        let since = try #require(try w.store.takeOverIdempotencyKey(id: id, idleSeconds: 300))
        #expect(since < Date().addingTimeInterval(-3000))
        #expect(try w.store.takeOverIdempotencyKey(id: id, idleSeconds: 300) == nil)
        // Completed: the answer is kept and the key is never released.
        try w.store.completeIdempotentRequest(id: id, response: #"{"message_id": 1}"#)
        try w.store.releaseIdempotencyKey(id: id)
        let done = try #require(try w.store.idempotentRequest(workspaceID: w.ws, key: "k"))
        #expect(done.status == "completed" && done.response == #"{"message_id": 1}"#)
        // Running and released: free again.
        let running = try #require(try w.store.takeIdempotencyKey(workspaceID: w.ws, key: "k2", operation: "bundle.send", hash: hash))
        try w.store.releaseIdempotencyKey(id: running)
        #expect(try w.store.idempotentRequest(workspaceID: w.ws, key: "k2") == nil)
    }

    /// A bundle takes its key in the transaction that enqueues it: a second session taking the same
    /// key waits on the unique key — and gets it when the first rolls back, not when it commits.
    @Test func twoSessionsRacingForAKeyWaitOnTheUniqueKey() throws {
        let w = try World()
        let hash = String(repeating: "b", count: 64)
        for commit in [false, true] {
            let key = "race-\(commit)"
            try w.conn.begin()
            let held = try w.store.takeIdempotencyKey(workspaceID: w.ws, key: key, operation: "bundle.send", hash: hash)
            #expect(held != nil)
            let race = Race(url: w.url, workspaceID: w.ws, key: key, hash: hash)
            race.start()
            Thread.sleep(forTimeInterval: 0.3)
            #expect(!race.finished, "the second session waits while the first holds the key uncommitted")
            if commit { try w.conn.commit() } else { w.conn.rollback() }
            let taken = try race.wait()
            #expect((taken != nil) == !commit)
        }
    }
}

/// A second session taking a key on its own thread.
private final class Race: @unchecked Sendable {
    let url: String, workspaceID: Int64, key: String, hash: String
    private let done = DispatchSemaphore(value: 0)
    private let lock = NSLock()
    private var result: Result<Int64?, any Error>?
    init(url: String, workspaceID: Int64, key: String, hash: String) {
        self.url = url
        self.workspaceID = workspaceID
        self.key = key
        self.hash = hash
    }
    var finished: Bool { lock.withLock { result != nil } }
    func start() {
        Thread.detachNewThread { [self] in
            let r = Result { () throws -> Int64? in
                let conn = try PGConnection(url)
                return try PostgresStores(conn).messages.takeIdempotencyKey(workspaceID: workspaceID, key: key, operation: "bundle.send", hash: hash)
            }
            lock.withLock { result = r }
            done.signal()
        }
    }
    func wait() throws -> Int64? {
        done.wait()
        return try (lock.withLock { result } ?? .success(nil)).get()
    }
}
