import Domain
import FastCGI
import Foundation
import Testing
import TestSupport
@testable import FCGIApp
import Postgres

@Suite(.needsStack) struct StaffInboxTests {
    @Test func conversationsPageSearchWindowAndState() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A")
        let doc = try w.member("d@a.example", workspace: a, role: .doctor)
        let sender = try w.sender(a, "+14155550100")
        var ids: [Int64] = []
        for i in 0..<5 {
            let p = try w.patient(a, name: "Patient \(i)", phone: "+1415555100\(i)")
            // Patient 4 wrote most recently; patient 0 wrote 30 hours ago (window closed).
            ids.append(try w.conversation(a, patient: p, sender: sender, inboundText: i == 2 ? "dolor de muela" : "hello \(i)",
                                          hoursAgo: Double(5 - i) * (i == 0 ? 6 : 1)))
        }
        var seen: [Int] = []
        var cursor: String? = nil
        repeat {
            let uri = "/api/whatsapp/conversations?limit=2" + (cursor.map { "&cursor=\($0)" } ?? "")
            let page = w.call("GET", uri, token: doc.token, account: a)
            #expect(page.status == 200, "\(page.text)")
            seen += page.items.compactMap { $0["id"] as? Int }
            cursor = page.json["next_cursor"] as? String
        } while cursor != nil && seen.count < 10
        #expect(seen == ids.reversed().map { Int($0) })

        let all = w.call("GET", "/api/whatsapp/conversations", token: doc.token, account: a).items
        let newest = try #require(all.first)
        #expect((newest["window"] as? [String: Any])?["open"] as? Bool == true)
        #expect((newest["window"] as? [String: Any])?["ends_at"] is String)
        #expect((newest["last_message"] as? [String: Any])?["body"] as? String == "hello 4")
        #expect(newest["unread_count"] as? Int == 1)
        let oldest = try #require(all.last)
        #expect((oldest["window"] as? [String: Any])?["open"] as? Bool == false)

        let byText = w.call("GET", "/api/whatsapp/conversations?q=MUELA", token: doc.token, account: a).items
        #expect(byText.map { $0["id"] as? Int } == [Int(ids[2])])
        let byPhone = w.call("GET", "/api/whatsapp/conversations?q=%2B14155551003", token: doc.token, account: a).items
        #expect(byPhone.map { $0["id"] as? Int } == [Int(ids[3])])
        let byName = w.call("GET", "/api/whatsapp/conversations?q=patient%201", token: doc.token, account: a).items
        #expect(byName.map { $0["id"] as? Int } == [Int(ids[1])])
        #expect(w.call("GET", "/api/whatsapp/conversations?q=%25", token: doc.token, account: a).items.isEmpty)
        #expect(w.call("GET", "/api/whatsapp/conversations?cursor=garbage", token: doc.token, account: a).errorCode == "validation_failed")

        // Polling the list: `since` answers only the conversations changed after it. (server_time is
        // whole seconds, so a poll may see again what changed within that second; here `since` is the
        // last change's exact time, as PostgreSQL prints it.)
        #expect(w.call("GET", "/api/whatsapp/conversations", token: doc.token, account: a).json["server_time"] is String)
        let lastChange = try #require(try w.conn.query("SELECT max(updated_at)::text AS t FROM whatsapp_conversations WHERE workspace_id = \(a)").first?.string("t"))
        let polledAt = try #require(lastChange.addingPercentEncoding(withAllowedCharacters: .alphanumerics))
        #expect(w.call("GET", "/api/whatsapp/conversations?since=\(polledAt)", token: doc.token, account: a).items.isEmpty)
        #expect(w.call("GET", "/api/whatsapp/conversations?since=yesterday", token: doc.token, account: a).errorCode == "validation_failed")

        let handoff = w.call("POST", "/api/whatsapp/conversations/\(ids[1])/handoff", token: doc.token, account: a)
        #expect(handoff.json["state"] as? String == "handoff")
        #expect(try w.conn.query("SELECT state FROM whatsapp_conversations WHERE id = \(ids[1])").first?.string("state") == "handoff")
        let resumed = w.call("POST", "/api/whatsapp/conversations/\(ids[1])/resume-bot", token: doc.token, account: a)
        #expect(resumed.json["state"] as? String == "bot")
        let changed = w.call("GET", "/api/whatsapp/conversations?since=\(polledAt)", token: doc.token, account: a)
        #expect(changed.status == 200, "\(changed.text)")
        #expect(changed.items.map { $0["id"] as? Int } == [Int(ids[1])])
        #expect(changed.items.first?["state"] as? String == "bot")

        #expect(w.call("DELETE", "/api/whatsapp/conversations/\(ids[0])", token: doc.token, account: a).status == 204)
        #expect(w.call("GET", "/api/whatsapp/conversations/\(ids[0])", token: doc.token, account: a).status == 404)
        #expect(w.call("DELETE", "/api/whatsapp/conversations/\(ids[0])", token: doc.token, account: a).status == 404)
        #expect(!w.call("GET", "/api/whatsapp/conversations", token: doc.token, account: a).items.contains { $0["id"] as? Int == Int(ids[0]) })
    }

    @Test func messagesCursorSinceAndRead() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A")
        let doc = try w.member("d@a.example", workspace: a, role: .staff)
        let sender = try w.sender(a, "+14155550100")
        let p = try w.patient(a, name: "P", phone: "+14155551000")
        let c = try w.conversation(a, patient: p, sender: sender, inboundText: nil)
        let base = Date().addingTimeInterval(-3600)
        for i in 0..<7 { try w.message(a, conversation: c, body: "m\(i)", at: base.addingTimeInterval(Double(i))) }
        try w.conn.execute("UPDATE whatsapp_conversations SET unread_count = 3 WHERE id = \(c)")

        let first = w.call("GET", "/api/whatsapp/conversations/\(c)/messages?limit=3", token: doc.token, account: a)
        #expect(first.items.map { $0["body"] as? String } == ["m4", "m5", "m6"])
        let cursor = try #require(first.json["next_cursor"] as? String)
        let older = w.call("GET", "/api/whatsapp/conversations/\(c)/messages?limit=3&cursor=\(cursor)", token: doc.token, account: a)
        #expect(older.items.map { $0["body"] as? String } == ["m1", "m2", "m3"])
        #expect(try w.conn.query("SELECT unread_count FROM whatsapp_conversations WHERE id = \(c)").first?.int("unread_count") == 0)

        let serverTime = try #require(first.json["server_time"] as? String)
        #expect(w.call("GET", "/api/whatsapp/conversations/\(c)/messages?since=\(serverTime)", token: doc.token, account: a).items.isEmpty)
        try w.message(a, conversation: c, body: "new one")
        let polled = w.call("GET", "/api/whatsapp/conversations/\(c)/messages?since=\(serverTime)", token: doc.token, account: a)
        #expect(polled.items.map { $0["body"] as? String } == ["new one"])
        #expect(w.call("GET", "/api/whatsapp/conversations/\(c)/messages?since=yesterday", token: doc.token, account: a).errorCode == "validation_failed")
    }

    @Test func reminderSettingsDefaultsValidationAndUpdate() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A")
        let owner = try w.member("o@a.example", workspace: a, role: .owner)
        let got = w.call("GET", "/api/whatsapp/reminder-settings", token: owner.token, account: a)
        // The product guide's defaults: reminders off until the clinic turns them on, reminder_default.
        #expect(got.json["enabled"] as? Bool == false)
        #expect(got.json["hours_before"] as? Int == 24)
        #expect(got.json["template_key"] as? String == "reminder_default")
        #expect(got.json["language"] as? String == "es")
        let guideDefault = w.call("PUT", "/api/whatsapp/reminder-settings", token: owner.token, account: a,
                                  json: ["template_key": "reminder_default", "enabled": true])
        #expect(guideDefault.status == 200, "\(guideDefault.text)")
        #expect(guideDefault.json["template_key"] as? String == "reminder_default")
        #expect(guideDefault.json["enabled"] as? Bool == true)
        for (body, field) in [(["hours_before": 0] as [String: Any], "hours_before"), (["hours_before": 73], "hours_before"),
                              (["language": "fr"], "language"), (["template_key": "nope"], "template_key"),
                              (["custom_message": "Hi {patient} {when}"], "custom_message"), (["template_key": "custom"], "custom_message")] {
            let r = w.call("PUT", "/api/whatsapp/reminder-settings", token: owner.token, account: a, json: body)
            #expect(r.status == 400, "\(body)")
            #expect(r.errorCode == "validation_failed")
            #expect(r.errorMessage.hasPrefix(field), "\(body): \(r.errorMessage)")
        }
        let wrongType = w.call("PUT", "/api/whatsapp/reminder-settings", token: owner.token, account: a, json: ["hours_before": "12"])
        #expect(wrongType.status == 400)
        #expect(wrongType.errorMessage.contains("hours_before"))
        let put = w.call("PUT", "/api/whatsapp/reminder-settings", token: owner.token, account: a,
                         json: ["hours_before": 12, "template_key": "custom", "custom_message": "Hola {patient_name}, {when} con {doctor_name}", "language": "en", "enabled": false])
        #expect(put.status == 200, "\(put.text)")
        let again = w.call("GET", "/api/whatsapp/reminder-settings", token: owner.token, account: a)
        #expect(again.json["hours_before"] as? Int == 12)
        #expect(again.json["enabled"] as? Bool == false)
        #expect(again.json["custom_message"] as? String == "Hola {patient_name}, {when} con {doctor_name}")
    }

    @Test func appointmentsAcceptRejectAndRepeats() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A")
        let doc = try w.member("d@a.example", workspace: a, role: .doctor)
        let p = try w.patient(a, name: "Ana", phone: "+14155551000", language: "es")
        let one = try w.appointment(a, patient: p, doctor: doc.id, startsIn: 24)
        let two = try w.appointment(a, patient: p, doctor: doc.id, startsIn: 48)
        let pending = w.call("GET", "/api/whatsapp/pending-appointments", token: doc.token, account: a).items
        #expect(pending.map { $0["id"] as? Int } == [Int(one), Int(two)])
        #expect((pending.first?["patient"] as? [String: Any])?["name"] as? String == "Ana")

        // No sender linked: the decision stands, the notification says why it was not sent.
        let accepted = w.call("POST", "/api/whatsapp/pending-appointments/\(one)/accept", token: doc.token, account: a)
        #expect(accepted.status == 200, "\(accepted.text)")
        #expect((accepted.json["appointment"] as? [String: Any])?["status"] as? String == "confirmed")
        let note = try #require(accepted.json["notification"] as? [String: Any])
        #expect(note["sent"] as? Bool == false)
        #expect((note["error"] as? [String: Any])?["code"] as? String == "no_active_sender")
        #expect(try w.conn.query("SELECT status, reviewed_by_user_id FROM appointments WHERE id = \(one)").first?.int64("reviewed_by_user_id") == doc.id)

        let twice = w.call("POST", "/api/whatsapp/pending-appointments/\(one)/accept", token: doc.token, account: a)
        #expect(twice.status == 409)
        #expect(twice.errorCode == "appointment_not_pending")
        #expect(w.call("POST", "/api/whatsapp/pending-appointments/\(one)/reject", token: doc.token, account: a).status == 409)
        let rejected = w.call("POST", "/api/whatsapp/pending-appointments/\(two)/reject", token: doc.token, account: a)
        #expect((rejected.json["appointment"] as? [String: Any])?["status"] as? String == "cancelled")
        #expect(w.call("POST", "/api/whatsapp/pending-appointments/\(two)/accept", token: doc.token, account: a).status == 409)
        #expect(w.call("GET", "/api/whatsapp/pending-appointments", token: doc.token, account: a).items.isEmpty)
        #expect(w.call("POST", "/api/whatsapp/pending-appointments/999999/accept", token: doc.token, account: a).status == 404)
        let audit = try w.conn.query("SELECT action, target_id, user_id FROM audit_log WHERE workspace_id = \(a) ORDER BY id")
        #expect(audit.map { $0.string("action") } == ["appointment.accept", "appointment.reject"])
        #expect(audit.map { $0.string("target_id") } == [String(one), String(two)])
        #expect(audit.allSatisfy { $0.int64("user_id") == doc.id })
    }
}
