import Domain
import FastCGI
import Foundation
import Testing
import TestSupport
@testable import FCGIApp
import Postgres

@Suite(.needsStack) struct PatientTests {
    @Test func createSearchPageReadAndConflicts() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A")
        let staff = try w.member("s@a.example", workspace: a, role: .staff)
        func post(_ json: [String: Any]) -> StaffWorld.Answer { w.call("POST", "/api/patients", token: staff.token, account: a, json: json) }
        let ana = post(["phone": "+52 55 1234 5678", "name": "Ana López", "preferred_language": "es", "consent_whatsapp": true])
        #expect(ana.status == 201, "\(ana.text)")
        #expect(ana.json["phone"] as? String == "+525512345678")
        #expect(ana.json["consent_whatsapp"] as? Bool == true)
        #expect(ana.json["consent_updated_at"] is String)
        let bob = post(["phone": "+14155550002"])
        #expect(bob.status == 201)
        #expect(bob.json["preferred_language"] == nil || bob.json["preferred_language"] is NSNull)
        #expect(bob.json["consent_whatsapp"] as? Bool == false)
        let again = post(["phone": "+525512345678", "name": "Other"])
        #expect(again.status == 409)
        #expect(again.errorCode == "patient_exists")
        #expect(post(["phone": "12345"]).errorMessage.hasPrefix("phone"))
        #expect(post(["phone": "+14155550003", "preferred_language": "fr"]).errorMessage.hasPrefix("preferred_language"))
        for i in 0..<3 { _ = post(["phone": "+1415555010\(i)", "name": "Zed \(i)"]) }

        let byName = w.call("GET", "/api/patients?search=l%C3%B3pez", token: staff.token, account: a).items
        #expect(byName.map { $0["name"] as? String } == ["Ana López"])
        let byPhone = w.call("GET", "/api/patients?search=55%201234", token: staff.token, account: a).items
        #expect(byPhone.map { $0["name"] as? String } == ["Ana López"])
        #expect(w.call("GET", "/api/patients?search=%25", token: staff.token, account: a).items.isEmpty)
        var seen: [String] = []
        var cursor: String? = nil
        repeat {
            let page = w.call("GET", "/api/patients?limit=2" + (cursor.map { "&cursor=\($0)" } ?? ""), token: staff.token, account: a)
            seen += page.items.compactMap { $0["phone"] as? String }
            cursor = page.json["next_cursor"] as? String
        } while cursor != nil && seen.count < 20
        #expect(seen == ["+14155550102", "+14155550101", "+14155550100", "+14155550002", "+525512345678"])
        #expect(w.call("GET", "/api/patients?cursor=x", token: staff.token, account: a).status == 400)

        let id = try #require(ana.json["id"] as? Int)
        let doc = try w.member("d@a.example", workspace: a, role: .doctor)
        let upcoming = try w.appointment(a, patient: Int64(id), doctor: doc.id, startsIn: 24)
        let past = try w.appointment(a, patient: Int64(id), doctor: doc.id, startsIn: -48)
        _ = past
        let sender = try w.sender(a, "+14155550100")
        let conversation = try w.conversation(a, patient: Int64(id), sender: sender)
        let detail = w.call("GET", "/api/patients/\(id)", token: staff.token, account: a)
        #expect(detail.status == 200, "\(detail.text)")
        #expect((detail.json["upcoming_appointments"] as? [[String: Any]])?.map { $0["id"] as? Int } == [Int(upcoming)])
        #expect((detail.json["upcoming_appointments"] as? [[String: Any]])?.first?["doctor_name"] as? String == "d")
        #expect(detail.json["conversation_ids"] as? [Int] == [Int(conversation)])
        #expect(w.call("GET", "/api/patients/999999", token: staff.token, account: a).status == 404)
        let audit = try w.conn.query("SELECT count(*) AS n FROM audit_log WHERE action = 'patient.create' AND workspace_id = \(a)")
        #expect(audit.first?.int("n") == 5)
    }

    @Test func consentChangesAreTimestampedAuditedAndAStopNeedsAConfirmation() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A")
        let staff = try w.member("s@a.example", workspace: a, role: .staff)
        let p = try w.patient(a, name: "Ana", phone: "+14155551000", language: "en", consent: true)
        func patch(_ json: [String: Any]) -> StaffWorld.Answer { w.call("PATCH", "/api/patients/\(p)", token: staff.token, account: a, json: json) }

        let renamed = patch(["name": "Ana María", "preferred_language": NSNull()])
        #expect(renamed.status == 200, "\(renamed.text)")
        #expect(renamed.json["name"] as? String == "Ana María")
        #expect(renamed.json["preferred_language"] == nil || renamed.json["preferred_language"] is NSNull)
        #expect(try w.conn.query("SELECT preferred_language FROM patients WHERE id = \(p)").first?.isNull("preferred_language") == true)
        #expect(renamed.json["consent_whatsapp"] as? Bool == true)

        let off = patch(["consent_whatsapp": false])
        #expect(off.json["consent_whatsapp"] as? Bool == false)
        #expect(off.json["consent_source"] as? String == "staff")
        #expect(off.json["opted_out"] as? Bool == false)
        // Staff turned it off: staff may turn it on again.
        #expect(patch(["consent_whatsapp": true]).json["consent_whatsapp"] as? Bool == true)

        // The patient replied STOP (what the inbound webhook records).
        try w.conn.execute("UPDATE patients SET consent_whatsapp = false, consent_updated_at = now() - interval '1 day', consent_source = 'whatsapp' WHERE id = \(p)")
        let refused = patch(["consent_whatsapp": true])
        #expect(refused.status == 409)
        #expect(refused.errorCode == "consent_confirmation_required")
        #expect(try w.conn.query("SELECT consent_whatsapp FROM patients WHERE id = \(p)").first?.bool("consent_whatsapp") == false)
        let confirmed = patch(["consent_whatsapp": true, "consent_confirmed": true])
        #expect(confirmed.status == 200, "\(confirmed.text)")
        #expect(confirmed.json["consent_whatsapp"] as? Bool == true)
        let stamped = try #require(try w.conn.query("SELECT consent_updated_at > now() - interval '1 minute' AS fresh FROM patients WHERE id = \(p)").first)
        #expect(stamped.bool("fresh") == true)
        let audit = try w.conn.query("SELECT action, details->>'consent_whatsapp' AS c FROM audit_log WHERE workspace_id = \(a) ORDER BY id")
        #expect(audit.map { $0.string("action") } == ["patient.update", "patient.consent", "patient.consent", "patient.consent"])
        #expect(audit.map { $0.string("c") } == [nil, "false", "true", "true"])
        #expect(patch(["preferred_language": "de"]).status == 400)
        #expect(w.call("PATCH", "/api/patients/999999", token: staff.token, account: a, json: ["name": "x"]).status == 404)
    }
}
