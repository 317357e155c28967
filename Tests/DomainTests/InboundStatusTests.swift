import Domain
import Foundation
import TestSupport
import Testing

@Suite("Status callbacks: forward-only updates (fresh database)")
struct InboundStatusTests {
    @Test("statuses only move forward; failed keeps its error code and explanation; unknown SIDs are acknowledged")
    func forwardOnly() throws {
        let clinic = try InboundClinic()
        try clinic.send("+5215512345678", "hello")
        let conversation = try clinic.conn.query("SELECT id FROM whatsapp_conversations").first!.int64("id")!
        for sid in ["SMa", "SMb"] {
            try clinic.conn.execute("""
                INSERT INTO whatsapp_messages (workspace_id, conversation_id, direction, body, twilio_sid, status)
                VALUES ($1, $2, 'outbound', 'x', $3, 'queued')
                """, [PGValue(clinic.workspaceID), PGValue(conversation), PGValue(sid)])
        }
        func cb(_ sid: String, _ status: String, _ code: String? = nil) throws -> StatusCallback.Outcome {
            var p = [("MessageSid", sid), ("MessageStatus", status)]
            if let code { p.append(("ErrorCode", code)) }
            return try StatusCallback.apply(clinic.conn, params: p, log: { _ in })
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
        #expect(throws: AppError.self) { try StatusCallback.apply(clinic.conn, params: [("MessageStatus", "sent")], log: { _ in }) }
    }

    @Test("the error codes clinics meet are explained in plain words", arguments: [63016, 63112, 63024, 21211, 21408])
    func explanations(code: Int) {
        let text = StatusCallback.explanation(for: code)
        #expect(!text.contains("Twilio reported error"))
        #expect(text.count > 40)
    }
}
