import Domain
import MedsyncLog
import Foundation
import TestSupport
import Testing
import MedsyncCrypto
import Postgres
import Store

/// The webhooks' conversation store against a real server: what only PostgreSQL shows — concurrent
/// deliveries of one MessageSid (the hot path's one transaction, the reply's unique key), two patients
/// racing for one slot (the exclusion constraint), the status trigger's order, another clinic's
/// MessageSid (row-level security), and rows decoded into the inbound path's enums.
@Suite("The conversation store (fresh database)", .needsStack)
struct ConversationStoreTests {
    @Test("20 concurrent deliveries of one MessageSid: one message row, one appointment, 20 identical answers")
    func concurrentRetries() throws {
        let clinic = try InboundClinic()
        try clinic.send("+5215512345678", "hello")
        let url = clinic.url
        let results: [String] = concurrently(20) { _ in
            do {
                let conn = try PGConnection(url)
                let service = InboundService(conn: conn, gemini: nil, log: .discarding, now: { InboundClinic.now })
                let p = InboundClinic.params(from: "+5215512345678", body: "1", sid: "SMconcurrent00000000000000000001")
                return try service.handle(InboundWebhook(form: p)).twiml
            } catch {
                return "error: \(error)"
            }
        }
        #expect(Set(results).count == 1)
        #expect(results[0].contains("Great, I&apos;ve requested today at 9:00 AM"))
        #expect(try clinic.count("SELECT count(*) AS n FROM whatsapp_messages WHERE twilio_sid = 'SMconcurrent00000000000000000001'") == 1)
        #expect(try clinic.count("SELECT count(*) AS n FROM appointments") == 1)
        #expect(try clinic.count("SELECT count(*) AS n FROM whatsapp_messages WHERE direction = 'outbound'") == 2)
    }

    /// A bot decision commits the message before deciding (the model may take seconds), so the
    /// deliveries racing it decide too: the reply's unique key keeps one, the others answer it.
    @Test("20 concurrent deliveries of one MessageSid the bot answers: one message row, one reply, 20 identical answers")
    func concurrentRetriesOfABotMessage() throws {
        let clinic = try InboundClinic()
        try clinic.send("+5215512345678", "hello")
        let url = clinic.url
        // Which delivery writes the reply is a race: five messages give each path its turn to lose it.
        for round in 1...5 {
            let sid = "SMconcurrentbot0000000000000000\(round)"
            let results: [String] = concurrently(20) { _ in
                do {
                    let conn = try PGConnection(url)
                    let service = InboundService(conn: conn, gemini: nil, log: .discarding, now: { InboundClinic.now })
                    let p = InboundClinic.params(from: "+5215512345678", body: "hello again", sid: sid)
                    return try service.handle(InboundWebhook(form: p)).twiml
                } catch {
                    return "error: \(error)"
                }
            }
            #expect(Set(results).count == 1, "\(Set(results))")
            #expect(results[0].contains("<Message>"), "\(results[0])")
            #expect(try clinic.count("SELECT count(*) AS n FROM whatsapp_messages WHERE twilio_sid = $1", [PGValue(sid)]) == 1)
            #expect(try clinic.count("SELECT count(*) AS n FROM whatsapp_messages WHERE direction = 'outbound'") == 1 + round)
            #expect(try clinic.count("SELECT unread_count AS n FROM whatsapp_conversations") == 1 + round)
        }
    }

    @Test("two patients racing for the last free slot: one appointment, the other is offered alternatives")
    func raceForLastSlot() throws {
        // Only 11:30–12:00 is free today for the two of them (plus tomorrow's slots).
        let clinic = try InboundClinic(availability: [("11:30", "12:00")])
        try clinic.send("+5215500000001", "hello")
        try clinic.send("+5215500000002", "hello")
        let url = clinic.url
        let replies: [String] = concurrently(2) { i in
            do {
                let conn = try PGConnection(url)
                let service = InboundService(conn: conn, gemini: nil, log: .discarding, now: { InboundClinic.now })
                return try service.handle(InboundWebhook(form: InboundClinic.params(from: "+521550000000\(i + 1)", body: "1"))).reply ?? ""
            } catch {
                return "error: \(error)"
            }
        }
        #expect(try clinic.count("SELECT count(*) AS n FROM appointments") == 1)
        #expect(replies.filter { $0.hasPrefix("Great, I've requested today at 11:30 AM") }.count == 1)
        let loser = try #require(replies.first { !$0.hasPrefix("Great") })
        #expect(loser.hasPrefix("Sorry, today at 11:30 AM was just taken. Available times:\n1. tomorrow at 11:30 AM"))
        // The loser's transaction was rolled back and its message decided again: each "1" is stored
        // once, answered once and counted once as unread.
        #expect(try clinic.count("SELECT count(*) AS n FROM whatsapp_messages WHERE direction = 'inbound'") == 4)
        #expect(try clinic.count("SELECT count(*) AS n FROM whatsapp_messages WHERE in_reply_to_id IS NOT NULL") == 4)
        #expect(try clinic.count("SELECT sum(unread_count)::int AS n FROM whatsapp_conversations") == 4)
    }

    @Test("statuses only move forward; failed keeps its error code and explanation; unknown SIDs are acknowledged")
    func forwardOnly() throws {
        let clinic = try InboundClinic()
        try clinic.send("+5215512345678", "hello")
        let conversation = try clinic.conn.query("SELECT id FROM whatsapp_conversations").first!.int64("id")!
        for sid in ["SMa", "SMb"] {
            try clinic.conn.execute("""
                INSERT INTO whatsapp_messages (workspace_id, conversation_id, direction, body, twilio_sid, status)
                VALUES (\(clinic.workspaceID), \(conversation), 'outbound', 'x', \(sid), 'queued')
                """)
        }
        func cb(_ sid: String, _ status: String, _ code: String? = nil) throws -> StatusCallback.Outcome {
            var p = [("MessageSid", sid), ("MessageStatus", status), ("AccountSid", ConversationStoreTests.master)]
            if let code { p.append(("ErrorCode", code)) }
            return try StatusCallback.apply(clinic.conn, params: p, masterAccountSID: ConversationStoreTests.master, log: .discarding)
        }
        #expect(try cb("SMa", "read").status == "read")
        #expect(try cb("SMa", "delivered").status == "read")
        #expect(try cb("SMa", "sent").status == "read")
        #expect(try cb("SMb", "sent").status == "sent")
        #expect(try cb("SMb", "undelivered", "63024").status == "undelivered")
        #expect(try cb("SMb", "delivered").status == "undelivered")
        #expect(try cb("SMb", "failed", "30008").status == "undelivered")
        let b = try #require(try clinic.conn.query("SELECT error_code, error_message FROM whatsapp_messages WHERE twilio_sid = 'SMb'").first)
        #expect(b.int("error_code") == 63024)
        #expect(b.string("error_message")?.contains("cannot receive WhatsApp messages") == true)
        #expect(try cb("SMunknown", "delivered").found == false)
        #expect(try cb("SMa", "accepted").found == false)
        #expect(throws: AppError.self) {
            try StatusCallback.apply(clinic.conn, params: [("MessageStatus", "sent")], masterAccountSID: ConversationStoreTests.master, log: .discarding)
        }
    }

    static let master = "AC0000000000000000000000000000de00"

    @Test("a callback moves only a message sent through a sender of the posting AccountSid (master or the sender's subaccount)")
    func scopedToThePostingAccount() throws {
        let clinic = try InboundClinic()   // its sender belongs to the master account
        let sub = "AC" + String(repeating: "5", count: 32), otherSub = "AC" + String(repeating: "6", count: 32)
        try clinic.send("+5215512345678", "hello")
        let subSender = try #require(try clinic.conn.query("""
            INSERT INTO whatsapp_senders (workspace_id, phone_number, display_name, twilio_subaccount_sid, twilio_subaccount_token_enc)
            VALUES (\(clinic.workspaceID), '+15550001777', 'Sub', \(sub), 'x') RETURNING id
            """).first?.int64("id"))
        let patient = try #require(try clinic.conn.query("SELECT id FROM patients").first?.int64("id"))
        let masterConversation = try #require(try clinic.conn.query("SELECT id FROM whatsapp_conversations").first?.int64("id"))
        let subConversation = try #require(try clinic.conn.query("""
            INSERT INTO whatsapp_conversations (workspace_id, patient_id, sender_id) VALUES (\(clinic.workspaceID), \(patient), \(subSender)) RETURNING id
            """).first?.int64("id"))
        for (sid, conversation) in [("SMviaMaster", masterConversation), ("SMviaSub", subConversation)] {
            try clinic.conn.execute("""
                INSERT INTO whatsapp_messages (workspace_id, conversation_id, direction, body, twilio_sid, status)
                VALUES (\(clinic.workspaceID), \(conversation), 'outbound', 'x', \(sid), 'queued')
                """)
        }
        func cb(_ sid: String, from account: String) throws -> Bool {
            try StatusCallback.apply(clinic.conn, params: [("MessageSid", sid), ("MessageStatus", "delivered"), ("AccountSid", account)],
                                     masterAccountSID: ConversationStoreTests.master, log: .discarding).found
        }
        func status(_ sid: String) throws -> String? {
            try clinic.conn.query("SELECT status FROM whatsapp_messages WHERE twilio_sid = \(sid)").first?.string("status")
        }
        #expect(try cb("SMviaMaster", from: sub) == false)
        #expect(try cb("SMviaSub", from: ConversationStoreTests.master) == false)
        #expect(try cb("SMviaSub", from: otherSub) == false)
        #expect(try status("SMviaMaster") == "queued")
        #expect(try status("SMviaSub") == "queued")
        #expect(try cb("SMviaSub", from: sub) == true)
        #expect(try cb("SMviaMaster", from: ConversationStoreTests.master) == true)
        #expect(try status("SMviaMaster") == "delivered")
        #expect(try status("SMviaSub") == "delivered")
        // No AccountSid at all: acknowledged, nothing moves.
        #expect(try StatusCallback.apply(clinic.conn, params: [("MessageSid", "SMviaSub"), ("MessageStatus", "read")],
                                         masterAccountSID: ConversationStoreTests.master, log: .discarding).found == false)
        #expect(try status("SMviaSub") == "delivered")
    }

    @Test("a retried MessageSid answers the stored reply only in the workspace that recorded it")
    func storedReplyIsScopedToTheSendersWorkspace() throws {
        let a = try InboundClinic()
        let b = try InboundClinic(url: a.url, senderPhone: "+15550002000")
        let sid = "SM" + Crypto.hex(Crypto.randomBytes(16))
        let first = try a.send("+5215512340000", "hola", sid: sid)
        #expect(first.reply != nil)
        // The same MessageSid posted to clinic B's number: nothing of A's conversation comes back.
        let elsewhere = try b.service().handle(
            InboundWebhook(form: InboundClinic.params(from: "+5215512340000", body: "hola", sid: sid, to: "+15550002000")))
        #expect(elsewhere.kind == .duplicate)
        #expect(elsewhere.reply == nil)
        #expect(elsewhere.messageID == nil)
        // In A, the retry answers A's reply.
        let again = try a.send("+5215512340000", "hola", sid: sid)
        #expect(again.kind == .duplicate)
        #expect(again.reply == first.reply)
    }

    @Test("a row with an unknown state or language is a decode_failed error naming the column, not a trap")
    func enumsFromRows() throws {
        let conn = try PGConnection(try TestDatabase.create(migrated: false))
        let row = try #require(try conn.query("SELECT 'bot' AS ok_state, 'es' AS ok_language, 'paused' AS state, 'fr' AS language").first)
        #expect(try row.decode(ConversationState.self, "ok_state") == .bot)
        #expect(try row.decode(Language.self, "ok_language") == .es)
        for column in ["state", "language"] {
            do {
                _ = column == "state" ? try row.decode(ConversationState.self, column) as Any : try row.decode(Language.self, column) as Any
                Issue.record("decoded \(column)")
            } catch let e as PGError {
                #expect(e.code == .decodeFailed)
                #expect(e.column == column)
            }
        }
        // Bound as their raw values.
        let bound = try #require(try conn.query("SELECT \(Language.es)::text AS l, \(ConversationState.handoff)::text AS s").first)
        #expect(try bound.decode(String.self, "l") == "es")
        #expect(try bound.decode(String.self, "s") == "handoff")
    }

    @Test("a webhook whose sender the signature check found is recorded with it: the clinic is not looked up again")
    func senderLookedUpOnce() throws {
        let clinic = try InboundClinic()
        try clinic.send("+5215512345678", "hello")
        let worker = try PGConnection(clinic.url)
        let sender = try #require(try PostgresStores(worker).conversations.sender(phone: "+15550001000"))
        let lookup = Set(worker.preparedStatementNames.keys)
        let before = worker.statementsRun
        let booked = try clinic.service(connection: worker).handle(
            InboundWebhook(form: InboundClinic.params(from: "+5215512345678", body: "1")), sender: sender)
        #expect(booked.reply == "Great, I've requested today at 9:00 AM for you. The clinic will confirm it shortly.")
        #expect(booked.appointmentID != nil)
        let sent = Set(worker.preparedStatementNames.keys).subtracting(lookup)
        #expect(sent.count == 2 && worker.statementsRun - before == 2, "\(sent)")
        #expect(sent.allSatisfy { !$0.contains("JOIN workspaces") }, "\(sent)")
        #expect(try clinic.count("SELECT count(*) AS n FROM whatsapp_messages WHERE direction = 'inbound'") == 2)
        #expect(try clinic.count("SELECT unread_count AS n FROM whatsapp_conversations") == 2)
        #expect(try clinic.count("SELECT count(*) AS n FROM appointments") == 1)
        // A newcomer is made with it too.
        let hello = try clinic.service(connection: worker).handle(
            InboundWebhook(form: InboundClinic.params(from: "+5215500000077", body: "hello")), sender: sender)
        #expect(hello.kind == .replied)
        #expect(try clinic.count("SELECT count(*) AS n FROM patients") == 2)
    }
}
