import Domain
import FastCGI
import Foundation
import Testing
import TestSupport
@testable import FCGIApp
import Postgres

/// Issue 10: a use case writes its audit entry in its own transaction, so when the entry cannot be
/// written the change is not made either (the senders' routes are covered in StaffSenderTests).
@Suite(.needsStack) struct AuditAtomicityTests {
    @Test func conversationChangesAreUndoneWhenTheirEntryCannotBeWritten() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A")
        let owner = try w.member("o@a.example", workspace: a, role: .owner)
        let sender = try w.sender(a, "+14155550100")
        let patient = try w.patient(a, name: "Pat", phone: "+14155551000")
        let conversation = try w.conversation(a, patient: patient, sender: sender)
        func state() throws -> String {
            let row = try #require(try w.conn.query("SELECT state, deleted_at IS NULL AS shown FROM whatsapp_conversations WHERE id = \(conversation)").first)
            return "\(row.string("state") ?? "") \(row.bool("shown") == true ? "shown" : "deleted")"
        }
        func entries() throws -> [String] {
            try w.conn.query("SELECT action FROM audit_log WHERE workspace_id = \(a) ORDER BY id").map { $0.string("action") ?? "" }
        }
        // Written: the change and its entry.
        #expect(w.call("POST", "/api/whatsapp/conversations/\(conversation)/handoff", token: owner.token, account: a).status == 200)
        #expect(try state() == "handoff shown")
        #expect(try entries() == ["conversation.handoff"])

        try w.conn.execute("CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$")
        try w.conn.execute("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit()")
        let resume = w.call("POST", "/api/whatsapp/conversations/\(conversation)/resume-bot", token: owner.token, account: a)
        #expect(resume.status == 500)
        #expect(resume.errorCode == "internal_error")
        let delete = w.call("DELETE", "/api/whatsapp/conversations/\(conversation)", token: owner.token, account: a)
        #expect(delete.status == 500)
        #expect(try state() == "handoff shown")
        #expect(try entries() == ["conversation.handoff"])
    }
}
