@testable import Domain
import Foundation
import HTTPClient
import MedsyncConfig
import Testing
import TestSupport

/// The staff inbox's use cases on the in-memory stores: the list (newest first, cursor pages,
/// search, changes since), the thread (read marks it read), delete and hand-off with their audit
/// entries, and the checks on what the API takes. PostgreSQL's side: InboxStoreTests.
@Suite struct ConversationsTests {
    let ws: Int64 = 7
    let actor = StaffActor(userID: 3, workspaceID: 7, role: .owner)

    /// Three conversations, a minute apart (Ana oldest, Cy newest), one message each.
    func inbox() -> (MemoryInboxStore, [Int64]) {
        let rows = MemoryMessageStore()
        let sender = rows.addSender(workspaceID: ws, phone: "+15550001000")
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        var ids: [Int64] = []
        for (i, name) in ["Ana", "Bo", "Cy"].enumerated() {
            let p = rows.addPatient(workspaceID: ws, phone: "+1555000000\(i)", name: name)
            let at = start.addingTimeInterval(Double(i) * 60)
            rows.clock = { at }
            let c = rows.window(workspaceID: ws, patientID: p, senderID: sender.id, at: at)
            rows.inbound(conversationID: c, body: "hello from \(name)_\(i)%", at: at)
            ids.append(c)
        }
        rows.clock = { start.addingTimeInterval(600) }
        return (MemoryInboxStore(rows), ids)
    }

    @Test func theListIsNewestFirstInCursorPagesAndSearches() throws {
        let (store, ids) = inbox()
        let now = Date(timeIntervalSince1970: 1_800_000_000 + 600)
        let first = try Conversations.list(store, workspaceID: ws, q: nil, cursor: nil, limit: 2, now: now)
        #expect(first.items.map(\.id) == [ids[2], ids[1]])
        #expect(first.serverTime == now)
        #expect(first.items[0].window.open && first.items[0].unreadCount == 1)
        #expect(first.items[0].lastMessage?.body == "hello from Cy_2%")
        let cursor = try #require(first.nextCursor)
        let second = try Conversations.list(store, workspaceID: ws, q: nil, cursor: cursor, limit: 2, now: now)
        #expect(second.items.map(\.id) == [ids[0]] && second.nextCursor == nil)
        // Search: name, phone, a message's text; `%` and `_` are literal.
        #expect(try Conversations.list(store, workspaceID: ws, q: " bo ", cursor: nil, limit: 10).items.map(\.id) == [ids[1]])
        #expect(try Conversations.list(store, workspaceID: ws, q: "+15550000000", cursor: nil, limit: 10).items.map(\.id) == [ids[0]])
        #expect(try Conversations.list(store, workspaceID: ws, q: "Cy_2%", cursor: nil, limit: 10).items.map(\.id) == [ids[2]])
        // Another workspace sees none of them.
        #expect(try Conversations.list(store, workspaceID: ws + 1, q: nil, cursor: nil, limit: 10).items.isEmpty)
        // Since: only what changed after it.
        let since = Date(timeIntervalSince1970: 1_800_000_000 + 90)
        let changed = try Conversations.list(store, workspaceID: ws, q: nil, cursor: nil, since: ISO8601DateFormatter().string(from: since), limit: 10)
        #expect(changed.items.map(\.id) == [ids[2]])
    }

    @Test func whatTheAPITakesIsChecked() throws {
        let (store, ids) = inbox()
        func code(_ body: () throws -> Void) -> String? {
            do { try body() } catch let e as AppError { return "\(e.code.rawValue): \(e.message)" } catch { return "\(error)" }
            return nil
        }
        #expect(code { _ = try Conversations.list(store, workspaceID: ws, q: nil, cursor: "nope", limit: 10) }
                == "validation_failed: cursor: not a cursor this API returned.")
        #expect(code { _ = try Conversations.list(store, workspaceID: ws, q: nil, cursor: "99999999999999999_1", limit: 10) }?.hasPrefix("validation_failed: cursor") == true)
        #expect(code { _ = try Conversations.list(store, workspaceID: ws, q: nil, cursor: nil, since: "yesterday", limit: 10) }?.hasPrefix("validation_failed: since") == true)
        #expect(code { _ = try Conversations.list(store, workspaceID: ws, q: nil, cursor: nil, since: "2300-01-01T00:00:00Z", limit: 10) }?.hasPrefix("validation_failed: since") == true)
        #expect(code { _ = try Conversations.messages(store, workspaceID: ws, conversationID: ids[0], cursor: "x", since: nil, limit: 10) }
                == "validation_failed: cursor: not a cursor this API returned.")
        #expect(code { _ = try Conversations.get(store, workspaceID: ws + 1, id: ids[0]) } == "not_found: There is no conversation \(ids[0]) in this workspace.")
        // The limit is kept between 1 and 100.
        #expect(try Conversations.list(store, workspaceID: ws, q: nil, cursor: nil, limit: 0).items.count == 1)
    }

    @Test func readingTheThreadPagesBackAndMarksItRead() throws {
        let (store, ids) = inbox()
        let rows = store.rows
        for i in 1...4 { rows.inbound(conversationID: ids[0], body: "more \(i)") }
        #expect(try Conversations.get(store, workspaceID: ws, id: ids[0]).unreadCount == 5)
        let latest = try Conversations.messages(store, workspaceID: ws, conversationID: ids[0], cursor: nil, since: nil, limit: 3)
        #expect(latest.items.map(\.body) == ["more 2", "more 3", "more 4"])
        #expect(try Conversations.get(store, workspaceID: ws, id: ids[0]).unreadCount == 0)
        let older = try Conversations.messages(store, workspaceID: ws, conversationID: ids[0], cursor: latest.nextCursor, since: nil, limit: 3)
        #expect(older.items.map(\.body) == ["hello from Ana_0%", "more 1"] && older.nextCursor == nil)
        // Polling: what was created or changed after `since`.
        let later = rows.clock().addingTimeInterval(60)
        rows.clock = { later }
        rows.inbound(conversationID: ids[0], body: "new")
        let polled = try Conversations.messages(store, workspaceID: ws, conversationID: ids[0], cursor: nil,
                                                since: ISO8601DateFormatter().string(from: later.addingTimeInterval(-1)), limit: 10)
        #expect(polled.items.map(\.body) == ["new"])
    }

    @Test func deleteAndHandoffWriteTheirAuditEntryAndAreNotFoundElsewhere() throws {
        let (store, ids) = inbox()
        store.rows.conversations[0].pendingIntent = "book"
        let handed = try Conversations.setState(store, actor: actor, id: ids[0], state: "handoff")
        #expect(handed.state == "handoff" && store.rows.conversations[0].pendingIntent == nil)
        #expect(try Conversations.setState(store, actor: actor, id: ids[0], state: "bot").state == "bot")
        try Conversations.delete(store, actor: actor, id: ids[1])
        #expect(try Conversations.list(store, workspaceID: ws, q: nil, cursor: nil, limit: 10).items.map(\.id) == [ids[2], ids[0]])
        #expect(store.audit == [
            actor.audit("conversation.handoff", "conversation", String(ids[0])),
            actor.audit("conversation.resume_bot", "conversation", String(ids[0])),
            actor.audit("conversation.delete", "conversation", String(ids[1])),
        ])
        // Deleted, or another workspace's: not found, and nothing written.
        let other = StaffActor(userID: 3, workspaceID: ws + 1, role: .owner)
        #expect(throws: AppError.self) { try Conversations.delete(store, actor: actor, id: ids[1]) }
        #expect(throws: AppError.self) { try Conversations.delete(store, actor: other, id: ids[0]) }
        #expect(throws: AppError.self) { _ = try Conversations.setState(store, actor: other, id: ids[0], state: "handoff") }
        #expect(store.audit.count == 3)
        // A new message shows a deleted conversation again.
        store.rows.inbound(conversationID: ids[1], body: "back")
        #expect(try Conversations.get(store, workspaceID: ws, id: ids[1]).lastMessage?.body == "back")
    }
}

/// Staff sends with an Idempotency-Key on the in-memory stores: what is decided before Twilio.
@Suite struct StaffSendIdempotencyTests {
    let actor = StaffActor(userID: 3, workspaceID: 7, role: .owner)

    func config() throws -> Config {
        try Config.load(environment: ["TWILIO_ACCOUNT_SID": "AC" + String(repeating: "0", count: 32), "TWILIO_AUTH_TOKEN": "token",
                                      "TWILIO_API_BASE_URL": "http://127.0.0.1:9"], dotEnvPath: nil)
    }

    @Test func aReplayAnswersTheStoredAnswerAndARefusedSendFreesItsKey() throws {
        let store = MemoryMessageStore()
        let audit = MemoryAuditStore()
        let http = try HTTPClient()
        let patient = store.addPatient(workspaceID: actor.workspaceID, phone: "+15550000001", consent: false)
        store.addSender(workspaceID: actor.workspaceID, phone: "+15550001000")
        // Refused before Twilio (no consent): the key is released, nothing is recorded.
        #expect(throws: AppError.self) {
            _ = try StaffSend.send(store, audit: audit, http: http, config: config(), actor: actor, patientID: patient, body: "hi", idempotencyKey: "k")
        }
        #expect(store.requests.isEmpty && store.messages.isEmpty && audit.entries.isEmpty)
        // A completed key answers what it answered, without Twilio (which is unreachable here).
        let answer = StaffSend.Result(messageID: 9, conversationID: 8, twilioSID: "SM9", status: "queued", contentSID: nil)
        let hash = try Idempotency.fingerprint("whatsapp.send", StaffSend.SendFingerprint(patient_id: patient, body: "hi"))
        guard case .fresh(let id) = try Idempotency.begin(store, workspaceID: actor.workspaceID, key: "k", operation: "whatsapp.send", hash: hash,
                                                          as: StaffSend.Result.self) else { Issue.record("fresh"); return }
        try Idempotency.complete(store, id, answer: answer)
        let replayed = try StaffSend.send(store, audit: audit, http: http, config: config(), actor: actor, patientID: patient, body: "hi", idempotencyKey: " k ")
        #expect(replayed.messageID == 9 && replayed.twilioSID == "SM9")
        // The same key for another body is refused; a running key is in progress.
        #expect(throws: Idempotency.reused) {
            _ = try StaffSend.send(store, audit: audit, http: http, config: config(), actor: actor, patientID: patient, body: "other", idempotencyKey: "k")
        }
        _ = try store.takeIdempotencyKey(workspaceID: actor.workspaceID, key: "running", operation: "whatsapp.send", hash: hash)
        #expect(throws: Idempotency.inProgress) {
            _ = try StaffSend.send(store, audit: audit, http: http, config: config(), actor: actor, patientID: patient, body: "hi", idempotencyKey: "running")
        }
        #expect(store.messages.isEmpty)
    }

    @Test func aTemplateFillsTheDoctorAndClinicAndTwilioUnreachableIsAFailedAuditedSend() throws {
        let store = MemoryMessageStore()
        let audit = MemoryAuditStore()
        let patient = store.addPatient(workspaceID: actor.workspaceID, phone: "+15550000001", name: "Ana", language: "es")
        store.addSender(workspaceID: actor.workspaceID, phone: "+15550001000")
        store.clinicNames[actor.workspaceID] = "Clínica Sur"
        store.doctorNames[patient] = "Dra. Vega"
        store.contentSids[actor.workspaceID] = ["appt_confirmed": ["es": "HXconfirmedES00000000000000000000"]]
        var thrown: AppError?
        do {
            _ = try StaffSend.sendTemplate(store, audit: audit, http: try HTTPClient(connectTimeoutMS: 500), config: config(), actor: actor,
                                           patientID: patient, templateKey: "appt_confirmed", language: nil,
                                           variables: ["patient_name": "Ana", "date": "3 dic", "time": "9:00"], idempotencyKey: "t")
        } catch let e as AppError { thrown = e }
        #expect(thrown?.code == .twilioNoAnswer)
        // Nothing went out (the connection was refused): stored failed, with the rendered text; the key is free again.
        let row = try #require(store.messages.first)
        #expect(row.status == "failed" && row.contentSid == "HXconfirmedES00000000000000000000")
        #expect(row.body == "Hola Ana, su cita con Dra. Vega el 3 dic a las 9:00 en Clínica Sur está confirmada.")
        #expect(store.requests.isEmpty)
        #expect(audit.entries == [actor.audit("whatsapp.send_template.failed", "patient", String(patient), ["template_id": "appt_confirmed", "language": "es"])])
    }
}
