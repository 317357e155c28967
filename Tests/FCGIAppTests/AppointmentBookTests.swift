import Domain
import FastCGI
import Foundation
import Testing
import TestSupport
@testable import FCGIApp
import Postgres

@Suite(.needsStack) struct AppointmentBookTests {
    @Test func bookListFilterCancelRescheduleAndTheNoDoubleBookingIndex() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A", timezone: "America/Mexico_City")
        let staff = try w.member("s@a.example", workspace: a, role: .staff)
        let doc = try w.member("doc@a.example", workspace: a, role: .doctor)
        let other = try w.member("other@a.example", workspace: a, role: .doctor)
        let ana = try w.patient(a, name: "Ana", phone: "+14155551000", language: "es")
        let bob = try w.patient(a, name: "Bob", phone: "+14155551001")
        try w.conn.execute("INSERT INTO doctor_availability (workspace_id, doctor_id, weekday, start_time, end_time, slot_minutes) VALUES (\(a), \(doc.id), 1, '09:00', '13:00', 45)")
        func post(_ path: String, _ json: [String: Any]) -> StaffWorld.Answer { w.call("POST", path, token: staff.token, account: a, json: json) }

        // Monday 2030-01-07 09:00 in Mexico City = 15:00Z; the doctor's Monday slots are 45 minutes.
        let booked = post("/api/appointments", ["patient_id": String(ana), "doctor_id": doc.id, "starts_at": "2030-01-07T15:00:00Z", "reason": "Checkup"])
        #expect(booked.status == 201, "\(booked.text)")
        let appt = try #require(booked.json["appointment"] as? [String: Any])
        #expect(appt["status"] as? String == "confirmed")
        #expect(appt["ends_at"] as? String == "2030-01-07T15:45:00Z")
        #expect(booked.json["notification"] is NSNull || booked.json["notification"] == nil)
        let id = try #require(appt["id"] as? Int)
        let row = try #require(try w.conn.query("SELECT created_by_user_id, reviewed_by_user_id FROM appointments WHERE id = \(Int64(id))").first)
        #expect(row.int64("created_by_user_id") == staff.id)

        let taken = post("/api/appointments", ["patient_id": bob, "doctor_id": doc.id, "starts_at": "2030-01-07T15:00:00Z"])
        #expect(taken.status == 409)
        #expect(taken.errorCode == "slot_taken")
        #expect(post("/api/appointments", ["patient_id": bob, "doctor_id": staff.id, "starts_at": "2030-01-07T15:00:00Z"]).errorCode == "doctor_not_found")
        #expect(post("/api/appointments", ["patient_id": 999999, "doctor_id": doc.id, "starts_at": "2030-01-07T15:00:00Z"]).errorCode == "patient_not_found")
        #expect(post("/api/appointments", ["patient_id": bob, "doctor_id": doc.id, "starts_at": "2030-01-07T16:00:00Z", "ends_at": "2030-01-07T15:00:00Z"]).status == 400)
        #expect(post("/api/appointments", ["patient_id": bob, "doctor_id": doc.id, "starts_at": "next monday"]).status == 400)
        let bobs = post("/api/appointments", ["patient_id": bob, "doctor_id": other.id, "starts_at": "2030-01-08T15:00:00Z", "ends_at": "2030-01-08T15:20:00Z"])
        #expect(bobs.status == 201, "\(bobs.text)")
        let bobsID = try #require((bobs.json["appointment"] as? [String: Any])?["id"] as? Int)
        // A pending one the bot booked, in the past.
        let pending = try w.appointment(a, patient: bob, doctor: doc.id, startsIn: -24)

        func ids(_ query: String) -> [Int] {
            w.call("GET", "/api/appointments" + query, token: staff.token, account: a).items.compactMap { $0["id"] as? Int }
        }
        #expect(ids("") == [id, bobsID])                                   // from now on
        #expect(ids("?from=2020-01-01T00:00:00Z") == [Int(pending), id, bobsID])
        #expect(ids("?from=2020-01-01T00:00:00Z&status=pending_review") == [Int(pending)])
        #expect(ids("?doctor_id=\(other.id)") == [bobsID])
        #expect(ids("?patient_id=\(ana)") == [id])
        #expect(ids("?from=2030-01-08T00:00:00Z&to=2030-01-09T00:00:00Z") == [bobsID])
        #expect(w.call("GET", "/api/appointments?from=2030-01-09T00:00:00Z&to=2030-01-08T00:00:00Z", token: staff.token, account: a).status == 400)
        #expect(w.call("GET", "/api/appointments?status=done", token: staff.token, account: a).status == 400)
        #expect(w.call("GET", "/api/appointments?doctor_id=x", token: staff.token, account: a).status == 400)
        #expect(w.call("GET", "/api/appointments/\(id)", token: staff.token, account: a).json["reason"] as? String == "Checkup")

        // Reschedule onto a taken start: 409; elsewhere: moved, same length.
        // Another doctor may have an appointment at the same time.
        let sameTime = post("/api/appointments/\(bobsID)/reschedule", ["starts_at": "2030-01-07T15:00:00Z"])
        #expect(sameTime.status == 200, "\(sameTime.text)")
        #expect((sameTime.json["appointment"] as? [String: Any])?["ends_at"] as? String == "2030-01-07T15:20:00Z")
        let clash = w.call("POST", "/api/appointments/\(id)/reschedule", token: staff.token, account: a, json: ["starts_at": "2030-01-07T15:00:00Z"])
        #expect(clash.status == 200)   // its own start: nothing else there
        let moved = post("/api/appointments/\(id)/reschedule", ["starts_at": "2030-01-14T16:00:00Z"])
        #expect(moved.status == 200, "\(moved.text)")
        #expect((moved.json["appointment"] as? [String: Any])?["ends_at"] as? String == "2030-01-14T16:45:00Z")
        let second = post("/api/appointments", ["patient_id": bob, "doctor_id": doc.id, "starts_at": "2030-01-07T15:00:00Z"])
        #expect(second.status == 201, "the slot is free again: \(second.text)")
        let onto = post("/api/appointments/\(id)/reschedule", ["starts_at": "2030-01-07T15:00:00Z"])
        #expect(onto.status == 409)
        #expect(onto.errorCode == "slot_taken")
        // Not only the same start: a time that overlaps the doctor's 15:00–15:45 is taken too, for a
        // booking and for a move; right after it is free.
        #expect(post("/api/appointments", ["patient_id": bob, "doctor_id": doc.id, "starts_at": "2030-01-07T15:30:00Z"]).errorCode == "slot_taken")
        #expect(post("/api/appointments/\(id)/reschedule", ["starts_at": "2030-01-07T14:30:00Z"]).errorCode == "slot_taken")
        let after = post("/api/appointments", ["patient_id": bob, "doctor_id": doc.id, "starts_at": "2030-01-07T15:45:00Z", "ends_at": "2030-01-07T16:00:00Z"])
        #expect(after.status == 201, "\(after.text)")

        // Cancel: once; the notice is optional and says why it was not sent (no sender here).
        let cancelled = post("/api/appointments/\(id)/cancel", ["notify": true])
        #expect(cancelled.status == 200, "\(cancelled.text)")
        #expect((cancelled.json["appointment"] as? [String: Any])?["status"] as? String == "cancelled")
        #expect(((cancelled.json["notification"] as? [String: Any])?["error"] as? [String: Any])?["code"] as? String == "no_active_sender")
        #expect(post("/api/appointments/\(id)/cancel", [:]).errorCode == "appointment_cancelled")
        #expect(post("/api/appointments/\(id)/reschedule", ["starts_at": "2030-01-21T16:00:00Z"]).errorCode == "appointment_cancelled")
        #expect(post("/api/appointments/999999/cancel", [:]).status == 404)
        let audit = try w.conn.query("SELECT action FROM audit_log WHERE workspace_id = \(a) AND target_id = \(String(id)) ORDER BY id")
        #expect(audit.map { $0.string("action") } == ["appointment.create", "appointment.reschedule", "appointment.reschedule", "appointment.cancel"])
    }
}
