import Domain
import FastCGI
import Foundation
import Testing
import TestSupport
@testable import FCGIApp
import Postgres

/// The clinic around the inbox (issue 12): profile, Content SIDs, doctors, availability, free slots.
@Suite(.needsStack) struct ClinicTests {
    @Test func clinicProfileReadByEveryoneChangedByAdminsAndToldByTheBot() throws {
        let w = try StaffWorld()
        let a = try w.workspace("Alpha")
        let owner = try w.member("o@a.example", workspace: a, role: .owner)
        let staff = try w.member("s@a.example", workspace: a, role: .staff)
        try w.sender(a, "+14155550100")
        let got = w.call("GET", "/api/clinic", token: staff.token, account: a)
        #expect(got.status == 200, "\(got.text)")
        #expect(got.json["clinic_name"] as? String == "Alpha")
        #expect(got.json["timezone"] as? String == "UTC")
        #expect(got.json["default_language"] as? String == "es")
        #expect(w.call("PUT", "/api/clinic", token: staff.token, account: a, json: ["clinic_name": "x"]).status == 403)

        let put = w.call("PUT", "/api/clinic", token: owner.token, account: a, json: [
            "clinic_name": "Clínica Norte", "clinic_info": "Open Monday to Saturday, 9 to 5.", "address": "Av. Reforma 1",
            "phone": "+52 55 1234 5678", "timezone": "America/Mexico_City", "default_language": "en"])
        #expect(put.status == 200, "\(put.text)")
        #expect(put.json["phone"] as? String == "+525512345678")
        #expect(put.json["timezone"] as? String == "America/Mexico_City")
        for (body, code, field) in [(["timezone": "Mars/Base"] as [String: Any], "invalid_timezone", ""), (["phone": "call us"], "validation_failed", "phone"),
                                    (["default_language": "fr"], "validation_failed", "default_language"), (["clinic_name": "  "], "validation_failed", "clinic_name"),
                                    (["clinic_info": String(repeating: "x", count: 2001)], "validation_failed", "clinic_info")] {
            let r = w.call("PUT", "/api/clinic", token: owner.token, account: a, json: body)
            #expect(r.status == 400, "\(body)")
            #expect(r.errorCode == code, "\(body): \(r.text)")
            #expect(r.errorMessage.hasPrefix(field), "\(body): \(r.errorMessage)")
        }
        // null clears one field; the others keep their values.
        let cleared = w.call("PUT", "/api/clinic", token: owner.token, account: a, json: ["address": NSNull()])
        #expect(cleared.json["address"] == nil || cleared.json["address"] is NSNull)
        #expect(try w.conn.query("SELECT address FROM workspaces WHERE id = \(a)").first?.isNull("address") == true)
        #expect(cleared.json["clinic_info"] as? String == "Open Monday to Saturday, 9 to 5.")
        #expect(cleared.json["clinic_name"] as? String == "Clínica Norte")
        // What the bot tells patients comes from here.
        let route = try #require(try SenderRoute.lookup(w.conn, phone: "+14155550100"))
        #expect(route.clinicName == "Clínica Norte")
        #expect(route.timezone == "America/Mexico_City")
        #expect(route.clinicInfo == "Open Monday to Saturday, 9 to 5.\nPhone: +525512345678")
        let audit = try w.conn.query("SELECT action, details->>'fields' AS f FROM audit_log WHERE workspace_id = \(a) ORDER BY id")
        #expect(audit.map { $0.string("action") } == ["clinic.update", "clinic.update"])
        #expect(audit.last?.string("f") == "address")
    }

    @Test func contentSidsAreCheckedStoredShownAndRemoved() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A")
        let owner = try w.member("o@a.example", workspace: a, role: .owner)
        let doctor = try w.member("d@a.example", workspace: a, role: .doctor)
        let sid = "HX" + String(repeating: "0123456789abcdef", count: 2)
        let path = "/api/whatsapp/templates/appt_reminder/content-sids"
        #expect(w.call("PUT", path, token: doctor.token, account: a, json: ["en": sid]).status == 403)
        let put = w.call("PUT", path, token: owner.token, account: a, json: ["en": sid])
        #expect(put.status == 200, "\(put.text)")
        #expect(put.json["content_sids"] as? [String: String] == ["en": sid])
        #expect(try Templates.contentSid(PostgresStores(w.conn).messages, workspaceID: a, key: "appt_reminder", language: "en") == sid)
        for body in [["es": "HX123"], ["es": "MX" + String(repeating: "a", count: 32)], ["es": "HX" + String(repeating: "g", count: 32)],
                     ["fr": sid], [:]] as [[String: Any]] {
            let r = w.call("PUT", path, token: owner.token, account: a, json: body)
            #expect(r.status == 400, "\(body): \(r.text)")
            #expect(r.errorCode == "validation_failed")
        }
        #expect(w.call("PUT", "/api/whatsapp/templates/nope/content-sids", token: owner.token, account: a, json: ["en": sid]).status == 404)
        let both = w.call("PUT", path, token: owner.token, account: a, json: ["es": sid.uppercased().replacingOccurrences(of: "HX", with: "HX")])
        #expect((both.json["content_sids"] as? [String: String])?.count == 2)
        let list = w.call("GET", "/api/whatsapp/templates", token: doctor.token, account: a)
        let reminder = (list.json["templates"] as? [[String: Any]])?.first { $0["id"] as? String == "appt_reminder" }
        #expect((reminder?["content_sids"] as? [String: String])?["en"] == sid)
        #expect(reminder?["category"] as? String == "utility")
        _ = w.call("PUT", path, token: owner.token, account: a, json: ["en": NSNull()])
        let removed = w.call("PUT", path, token: owner.token, account: a, json: ["es": NSNull()])
        #expect(removed.json["content_sids"] as? [String: String] == [:])
        #expect(try w.conn.query("SELECT content_sids::text AS s FROM workspaces WHERE id = \(a)").first?.string("s") == "{}")
        #expect(try w.conn.query("SELECT count(*) AS n FROM audit_log WHERE action = 'template.content_sids' AND workspace_id = \(a)").first?.int("n") == 4)
    }

    @Test func availabilityRulesAndTheFreeSlotsTheBotOffers() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A", timezone: "America/Mexico_City")
        let owner = try w.member("o@a.example", workspace: a, role: .owner)
        let doc = try w.member("doc@a.example", workspace: a, role: .doctor)
        let admin = try w.member("admin@a.example", workspace: a, role: .adminDoctor)
        let staff = try w.member("s@a.example", workspace: a, role: .staff)
        let doctors = w.call("GET", "/api/doctors", token: staff.token, account: a).items
        #expect(Set(doctors.compactMap { $0["id"] as? Int }) == [Int(doc.id), Int(admin.id)])
        #expect(w.call("GET", "/api/doctors/\(owner.id)/availability", token: staff.token, account: a).status == 404)

        let path = "/api/doctors/\(doc.id)/availability"
        // Monday and Tuesday 09:00-10:00 local, 30-minute slots; Tuesday 8 December is off.
        let body: [String: Any] = ["weekly": [["weekday": 1, "start": "09:00", "end": "10:00", "slot_minutes": 30],
                                              ["weekday": 2, "start": "09:00", "end": "10:00", "slot_minutes": 30]],
                                   "time_off": [["from": "2026-12-08", "to": "2026-12-08", "reason": "Congress"]]]
        #expect(w.call("PUT", path, token: staff.token, account: a, json: body).status == 403)
        #expect(w.call("PUT", "/api/doctors/\(admin.id)/availability", token: doc.token, account: a, json: body).status == 403)
        #expect(w.call("PUT", "/api/doctors/\(admin.id)/availability", token: admin.token, account: a, json: body).status == 200)
        let put = w.call("PUT", path, token: doc.token, account: a, json: body)
        #expect(put.status == 200, "\(put.text)")
        #expect((put.json["weekly"] as? [[String: Any]])?.map { $0["start"] as? String } == ["09:00", "09:00"])
        let off = try #require((put.json["time_off"] as? [[String: Any]])?.first)
        #expect(off["from"] as? String == "2026-12-08T00:00")
        #expect(off["to"] as? String == "2026-12-09T00:00")
        #expect(off["starts_at"] as? String == "2026-12-08T06:00:00Z")

        let slots = w.call("GET", "/api/doctors/\(doc.id)/free-slots?from=2026-12-07T00:00:00-06:00&days=3", token: staff.token, account: a)
        #expect(slots.status == 200, "\(slots.text)")
        #expect(slots.items.map { "\($0["date"] as? String ?? "") \($0["time"] as? String ?? "")" } == ["2026-12-07 09:00", "2026-12-07 09:30"])
        #expect(slots.items.first?["starts_at"] as? String == "2026-12-07T15:00:00Z")
        // The bot's offers are computed by the same function: the doctor's slots are among them, nothing else of this doctor.
        let from = try #require(ISO8601DateFormatter().date(from: "2026-12-07T06:00:00Z"))
        let bot = try FreeSlots.compute(w.conn, workspaceID: a, from: from, days: 3).filter { $0.doctorUserID == doc.id }
        #expect(bot.map { ISO8601DateFormatter().string(from: $0.startsAt) } == ["2026-12-07T15:00:00Z", "2026-12-07T15:30:00Z"])

        for (bad, field) in [
            (["weekly": [["weekday": 1, "start": "09:00", "end": "11:00"], ["weekday": 1, "start": "10:30", "end": "12:00"]]], "weekly[1]"),
            (["weekly": [["weekday": 7, "start": "09:00", "end": "10:00"]]], "weekly[0].weekday"),
            (["weekly": [["weekday": 1, "start": "10:00", "end": "09:00"]]], "weekly[0].end"),
            (["weekly": [["weekday": 1, "start": "9:00", "end": "10:00"]]], "weekly[0].start"),
            (["weekly": [["weekday": 1, "start": "09:00", "end": "09:20", "slot_minutes": 30]]], "weekly[0].slot_minutes"),
            (["weekly": [["weekday": 1, "start": "09:00", "end": "10:00", "slot_minutes": 0]]], "weekly[0].slot_minutes"),
            (["weekly": [], "time_off": [["from": "2026-02-30", "to": "2026-03-01"]]], "time_off[0].from"),
            (["weekly": [], "time_off": [["from": "2026-03-02", "to": "2026-03-01"]]], "time_off[0].to"),
        ] as [([String: Any], String)] {
            let r = w.call("PUT", path, token: owner.token, account: a, json: bad)
            #expect(r.status == 400, "\(bad): \(r.text)")
            #expect(r.errorMessage.hasPrefix(field), "\(bad): \(r.errorMessage)")
        }
        #expect(w.call("GET", "/api/doctors/\(doc.id)/free-slots?days=40", token: staff.token, account: a).status == 400)
        #expect(w.call("GET", "/api/doctors/\(doc.id)/free-slots?from=tomorrow", token: staff.token, account: a).status == 400)
        // PUT replaces: nothing left, nothing offered.
        #expect(w.call("PUT", path, token: owner.token, account: a, json: ["weekly": []]).status == 200)
        let empty = w.call("GET", path, token: staff.token, account: a)
        #expect((empty.json["weekly"] as? [Any])?.isEmpty == true)
        #expect((empty.json["time_off"] as? [Any])?.isEmpty == true)
        #expect(w.call("GET", "/api/doctors/\(doc.id)/free-slots?from=2026-12-07T00:00:00-06:00", token: staff.token, account: a).items.isEmpty)
        #expect(try w.conn.query("SELECT count(*) AS n FROM audit_log WHERE action = 'doctor.availability' AND workspace_id = \(a)").first?.int("n") == 3)
    }
}
