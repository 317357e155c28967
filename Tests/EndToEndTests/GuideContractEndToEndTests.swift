import Domain
import Foundation
import TestSupport
import Testing
import Postgres

/// The product guide's contract through nginx → medsync-fcgi → the sandbox (issue 12).
@Suite(.needsStack) struct GuideContractEndToEndTests {
    /// The patient books slot 1 through the bot; returns the pending appointment's id and start.
    func book(_ c: StaffClient, _ phone: String) throws -> (id: Int64, startsAt: Date) {
        try c.clinic.say(phone, "Hello, I would like to book an appointment")
        try c.clinic.say(phone, "1")
        let row = try #require(try c.clinic.conn.query("""
            SELECT a.id, a.starts_at FROM appointments a JOIN patients p ON p.id = a.patient_id
             WHERE a.workspace_id = \(c.clinic.workspaceID) AND p.phone = \(phone) AND a.status = 'pending_review'
            """).first)
        return (try #require(row.int64("id")), try #require(row.date("starts_at")))
    }

    @Test("reject tells the patient the request was declined and offers free times; a number books one")
    func rejectSendsADeclinedNoticeWithFreeTimes() throws {
        let c = try StaffClient()
        let phone = StackClinic.patient()
        let booked = try book(c, phone)
        let r = try c.call("POST", "/api/whatsapp/pending-appointments/\(booked.id)/reject")
        #expect(r.status == 200, "\(r.text)")
        #expect((r.json["notification"] as? [String: Any])?["sent"] as? Bool == true, "\(r.text)")
        let notice = try #require(try c.received(phone).compactMap { $0["body"] as? String }.last)
        #expect(notice.hasPrefix("Sorry, the clinic could not confirm your appointment "), "\(notice)")
        #expect(notice.contains("\n1. ") && notice.contains("Reply with the number of the time you prefer."), "\(notice)")
        #expect(!notice.contains("Reply with a time"))
        // "1" books the first time offered, which is not the declined one.
        let reply = try c.clinic.say(phone, "1")
        #expect(reply.replies.first?.hasPrefix("Great, I've requested") == true, "\(reply.replies)")
        let again = try c.clinic.conn.query("""
            SELECT a.starts_at FROM appointments a JOIN patients p ON p.id = a.patient_id
             WHERE a.workspace_id = \(c.clinic.workspaceID) AND p.phone = \(phone) AND a.status = 'pending_review'
            """)
        #expect(again.count == 1)
        #expect(again.first?.date("starts_at") != booked.startsAt)
    }

    @Test("ids as strings of digits, the guide's template variables, doctor and clinic filled in")
    func stringIDsAndGuideVariables() throws {
        let c = try StaffClient()
        let phone = StackClinic.patient()
        _ = try book(c, phone)
        let patient = try c.patientID(phone)
        let sent = try c.call("POST", "/api/whatsapp/send", ["patient_id": String(patient), "body": "Hello from the clinic"])
        #expect(sent.status == 201, "\(sent.text)")
        let template = try c.call("POST", "/api/whatsapp/send-template", [
            "patient_id": String(patient), "template_id": "appt_confirmed", "language": "en",
            "variables": ["patient_name": "Ana", "date": "3 Dec", "time": "9:00 AM"]])
        #expect(template.status == 201, "\(template.text)")
        let bodies = try c.received(phone).compactMap { $0["body"] as? String }
        #expect(bodies.contains("Hello from the clinic"))
        #expect(bodies.last == "Hi Ana, your appointment with Dr. Test on 3 Dec at 9:00 AM at \(c.clinic.name) is confirmed.", "\(bodies)")
        let bads: [Any] = ["12a", "-3", "", "1.5", 1.5, true]
        for bad in bads {
            let r = try c.call("POST", "/api/whatsapp/send", ["patient_id": bad, "body": "x"])
            #expect(r.status == 400, "\(bad): \(r.text)")
        }
        let list = try c.call("GET", "/api/whatsapp/templates")
        let confirmed = (list.json["templates"] as? [[String: Any]])?.first { $0["id"] as? String == "appt_confirmed" }
        #expect(confirmed?["category"] as? String == "utility")
        #expect(confirmed?["required_variables"] as? [String] == ["patient_name", "date", "time", "doctor_name"])
    }
}
