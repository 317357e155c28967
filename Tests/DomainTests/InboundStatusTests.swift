import Domain
import MedsyncLog
import Foundation
import TestSupport
import Testing
import MedsyncCrypto
import Postgres

@Suite("Status callbacks: forward-only updates (fresh database)")
struct InboundStatusTests {
    @Test("statuses only move forward; failed keeps its error code and explanation; unknown SIDs are acknowledged", .needsStack)
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
            var p = [("MessageSid", sid), ("MessageStatus", status), ("AccountSid", InboundStatusTests.master)]
            if let code { p.append(("ErrorCode", code)) }
            return try StatusCallback.apply(clinic.conn, params: p, masterAccountSID: InboundStatusTests.master, log: .discarding)
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
            try StatusCallback.apply(clinic.conn, params: [("MessageStatus", "sent")], masterAccountSID: InboundStatusTests.master, log: .discarding)
        }
    }

    static let master = "AC0000000000000000000000000000de00"

    @Test("a callback moves only a message sent through a sender of the posting AccountSid (master or the sender's subaccount)", .needsStack)
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
                                     masterAccountSID: InboundStatusTests.master, log: .discarding).found
        }
        func status(_ sid: String) throws -> String? {
            try clinic.conn.query("SELECT status FROM whatsapp_messages WHERE twilio_sid = \(sid)").first?.string("status")
        }
        #expect(try cb("SMviaMaster", from: sub) == false)
        #expect(try cb("SMviaSub", from: InboundStatusTests.master) == false)
        #expect(try cb("SMviaSub", from: otherSub) == false)
        #expect(try status("SMviaMaster") == "queued")
        #expect(try status("SMviaSub") == "queued")
        #expect(try cb("SMviaSub", from: sub) == true)
        #expect(try cb("SMviaMaster", from: InboundStatusTests.master) == true)
        #expect(try status("SMviaMaster") == "delivered")
        #expect(try status("SMviaSub") == "delivered")
        // No AccountSid at all: acknowledged, nothing moves.
        #expect(try StatusCallback.apply(clinic.conn, params: [("MessageSid", "SMviaSub"), ("MessageStatus", "read")],
                                         masterAccountSID: InboundStatusTests.master, log: .discarding).found == false)
        #expect(try status("SMviaSub") == "delivered")
    }

    @Test("a retried MessageSid answers the stored reply only in the workspace that recorded it", .needsStack)
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

    @Test("the error codes clinics meet are explained in plain words", arguments: [63016, 63112, 63024, 21211, 21408])
    func explanations(code: Int) {
        let text = StatusCallback.explanation(for: code)
        #expect(!text.contains("Twilio reported error"))
        #expect(text.count > 40)
    }
}
