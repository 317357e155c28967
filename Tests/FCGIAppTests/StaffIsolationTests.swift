import Domain
import FastCGI
import Foundation
import Testing
import TestSupport
@testable import FCGIApp
import MedsyncConfig
import Postgres

/// Every staff route, called by workspace A's owner with workspace B's ids (or B's account header),
/// never shows or changes B's data.
@Suite(.needsStack) struct StaffIsolationTests {
    struct Tenant {
        let ws: Int64, owner: (id: Int64, token: String), sender: Int64, patient: Int64, conversation: Int64, appointment: Int64, batch: Int64
        let doctor: Int64
    }

    /// Every staff route outside the WhatsApp prefix that the sweep covers too.
    static let clinicPrefixes = ["/api/clinic", "/api/doctors", "/api/patients", "/api/appointments", "/api/members"]

    static func tenant(_ w: StaffWorld, _ name: String, senderPhone: String, patientPhone: String) throws -> Tenant {
        let ws = try w.workspace(name)
        let owner = try w.member("owner@\(name.lowercased()).example", workspace: ws, role: .owner)
        let sender = try w.sender(ws, senderPhone)
        let patient = try w.patient(ws, name: "\(name) Secret Patient", phone: patientPhone)
        let conversation = try w.conversation(ws, patient: patient, sender: sender, inboundText: "\(name) secret text")
        let appointment = try w.appointment(ws, patient: patient, doctor: owner.id)
        let actor = StaffActor(userID: owner.id, workspaceID: ws, role: .owner)
        let batch = try Bundles.send(w.conn, actor: actor, .init(body: "\(name) secret bundle {name}",
                                                              recipients: [.init(name: "\(name) Secret Patient", phone: patientPhone, language: "en")],
                                                              consentConfirmed: true)).batchID
        let doctor = try w.member("doctor@\(name.lowercased()).example", workspace: ws, role: .doctor).id
        try w.conn.execute("INSERT INTO doctor_availability (workspace_id, doctor_id, weekday, start_time, end_time) VALUES (\(ws), \(doctor), 1, '09:00', '13:00')")
        return Tenant(ws: ws, owner: owner, sender: sender, patient: patient, conversation: conversation, appointment: appointment, batch: batch,
                      doctor: doctor)
    }

    static func multipart(_ csv: String) -> ([UInt8], String) {
        let boundary = "XyZ\(Int.random(in: 1000...9999))"
        let body = "--\(boundary)\r\nContent-Disposition: form-data; name=\"file\"; filename=\"l.csv\"\r\nContent-Type: text/csv\r\n\r\n\(csv)\r\n--\(boundary)--\r\n"
        return (Array(body.utf8), "multipart/form-data; boundary=\(boundary)")
    }

    @Test func workspaceAOwnerNeverReachesWorkspaceB() throws {
        // The sandbox stands in for Twilio: link-existing asks it who owns the number.
        let w = try StaffWorld(environment: try SandboxTwilio().environment)
        let a = try Self.tenant(w, "Alpha", senderPhone: "+14155550100", patientPhone: "+14155551000")
        let b = try Self.tenant(w, "Bravo", senderPhone: "+34911000001", patientPhone: "+34911000000")
        let secrets = ["Bravo", "+34911000000", "+34911000001"]

        let routes = w.router.routes.filter { r in r.pattern.hasPrefix("/api/whatsapp/") || Self.clinicPrefixes.contains { r.pattern.hasPrefix($0) } }
        #expect(routes.count >= 20)
        for route in routes {
            var path = route.pattern
            let hasID = path.contains("{id}") || path.contains("{user_id}")
            if path.hasPrefix("/api/whatsapp/conversations/") { path = path.replacingOccurrences(of: "{id}", with: String(b.conversation)) }
            if path.hasPrefix("/api/whatsapp/pending-appointments/") { path = path.replacingOccurrences(of: "{id}", with: String(b.appointment)) }
            if path.hasPrefix("/api/whatsapp/senders/") { path = path.replacingOccurrences(of: "{id}", with: String(b.sender)) }
            if path.hasPrefix("/api/whatsapp/bundle/") { path = path.replacingOccurrences(of: "{id}", with: String(b.batch)) }
            if path.hasPrefix("/api/doctors/") { path = path.replacingOccurrences(of: "{id}", with: String(b.doctor)) }
            if path.hasPrefix("/api/patients/") { path = path.replacingOccurrences(of: "{id}", with: String(b.patient)) }
            if path.hasPrefix("/api/appointments/") { path = path.replacingOccurrences(of: "{id}", with: String(b.appointment)) }
            if path.hasPrefix("/api/members/") { path = path.replacingOccurrences(of: "{user_id}", with: String(b.doctor)) }
            path = path.replacingOccurrences(of: "{template_id}", with: "appt_reminder")
            #expect(!path.contains("{"), "a test id is missing for \(route.pattern)")

            var json: Any? = nil
            var body: [UInt8]? = nil
            var headers: [String: String] = [:]
            switch path {
            case "/api/whatsapp/send": json = ["patient_id": b.patient, "body": "hi"]
            case "/api/whatsapp/send-template": json = ["patient_id": b.patient, "template_id": "followup", "variables": ["patient_name": "x", "doctor_name": "y"]]
            case "/api/whatsapp/link-existing": json = ["phone_number": "+34911000001", "display_name": "steal"]
            case "/api/whatsapp/provision": json = ["clinic_name": "A", "country": "US", "area_code": "x"]
            case "/api/whatsapp/reminder-settings": json = ["hours_before": 5]
            case "/api/whatsapp/bundle/send": json = ["body": "x", "recipients": [["phone": "+34911000000"]], "consent_confirmed": true]
            case "/api/whatsapp/bundle/preview":
                let (m, ct) = Self.multipart("name,phone\nz,+14155559999\n")
                body = m
                headers["Content-Type"] = ct
            default: break
            }
            switch (route.method, route.pattern) {
            case ("PUT", "/api/clinic"): json = ["clinic_name": "Stolen"]
            case ("PUT", "/api/whatsapp/templates/{template_id}/content-sids"): json = ["en": "HX" + String(repeating: "ab", count: 16)]
            case ("PUT", "/api/doctors/{id}/availability"): json = ["weekly": [] as [Any]]
            case ("POST", "/api/patients"): json = ["phone": "+14155557777", "name": "New"]
            case ("PATCH", "/api/patients/{id}"): json = ["name": "Renamed", "consent_whatsapp": false]
            case ("POST", "/api/appointments"): json = ["patient_id": b.patient, "doctor_id": b.doctor, "starts_at": "2030-01-07T09:00:00Z"]
            case ("POST", "/api/appointments/{id}/cancel"): json = ["notify": false]
            case ("POST", "/api/appointments/{id}/reschedule"): json = ["starts_at": "2030-01-07T10:00:00Z"]
            case ("POST", "/api/members"): json = ["email": "new@alpha.example", "role": "staff"]
            case ("PATCH", "/api/members/{user_id}"): json = ["role": "staff"]
            default: break
            }
            let r = w.call(route.method, path, token: a.owner.token, account: a.ws, json: json, body: body, headers: headers)
            #expect(r.status < 500, "\(route.method) \(path): \(r.text)")
            if hasID {
                #expect(r.status == 404, "\(route.method) \(path) with B's id: \(r.status) \(r.text)")
            }
            for s in secrets {
                #expect(!r.text.contains(s), "\(route.method) \(path) leaked \(s): \(r.text)")
            }
            // With B's account header, A's owner is not a member: 403 before anything else.
            let other = w.call(route.method, path, token: a.owner.token, account: b.ws, json: json, body: body, headers: headers)
            #expect(other.status == 403, "\(route.method) \(path) as B: \(other.text)")
        }

        // Nothing of B changed.
        let conv = try #require(try w.conn.query("SELECT deleted_at, state FROM whatsapp_conversations WHERE id = \(b.conversation)").first)
        #expect(conv.isNull("deleted_at"))
        #expect(conv.string("state") == "bot")
        #expect(try w.conn.query("SELECT status FROM appointments WHERE id = \(b.appointment)").first?.string("status") == "pending_review")
        let s = try #require(try w.conn.query("SELECT is_active, is_primary FROM whatsapp_senders WHERE id = \(b.sender)").first)
        #expect(s.bool("is_active") == true)
        #expect(s.bool("is_primary") == true)
        #expect(try w.conn.query("SELECT hours_before FROM reminder_settings WHERE workspace_id = \(b.ws)").first?.int("hours_before") == 24)
        let clinic = try #require(try w.conn.query("SELECT clinic_name, content_sids::text AS sids FROM workspaces WHERE id = \(b.ws)").first)
        #expect(clinic.string("clinic_name") == "Bravo")
        #expect(clinic.string("sids") == "{}")
        #expect(try w.conn.query("SELECT count(*) AS n FROM doctor_availability WHERE doctor_id = \(b.doctor)").first?.int("n") == 1)
        let bp = try #require(try w.conn.query("SELECT name, consent_whatsapp FROM patients WHERE id = \(b.patient)").first)
        #expect(bp.string("name") == "Bravo Secret Patient")
        #expect(bp.bool("consent_whatsapp") == true)
        #expect(try w.conn.query("SELECT count(*) AS n FROM appointments WHERE workspace_id = \(b.ws)").first?.int("n") == 1)
        #expect(try w.conn.query("SELECT role FROM memberships WHERE user_id = \(b.doctor) AND workspace_id = \(b.ws)")
                .first?.string("role") == "doctor")
        #expect(try w.conn.query("SELECT count(*) AS n FROM whatsapp_messages WHERE workspace_id = \(b.ws)").first?.int("n") == 1)
        // A's own list shows A's conversation only.
        let list = w.call("GET", "/api/whatsapp/conversations", token: a.owner.token, account: a.ws)
        #expect(list.items.map { $0["id"] as? Int } == [Int(a.conversation)])
    }
}
