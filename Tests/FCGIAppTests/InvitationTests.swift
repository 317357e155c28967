import Domain
import FastCGI
import Foundation
import Testing
import TestSupport
@testable import FCGIApp
import Postgres

extension StaffWorld {
    /// An owner's invitation through the API: the answer and the link's token.
    func invite(_ email: String, role: String = "staff", name: String? = nil, token: String, account: Int64) -> (answer: Answer, token: String) {
        var body: [String: Any] = ["email": email, "role": role]
        if let name { body["name"] = name }
        let r = call("POST", "/api/members", token: token, account: account, json: body)
        return (r, r.json["token"] as? String ?? "")
    }

    func accept(_ link: String, password: String, name: String? = nil, remote: String = "10.0.0.7") -> Answer {
        var body: [String: Any] = ["token": link, "password": password]
        if let name { body["name"] = name }
        return call("POST", "/api/invitations/accept", json: body, remote: remote)
    }

    func login(_ email: String, _ password: String) -> Answer {
        call("POST", "/api/auth/login", json: ["email": email, "password": password])
    }
}

/// Issue 22, items 1 and 2: a workspace adds a member by an invitation the invitee accepts; no
/// workspace chooses a password for, or learns anything about, an account of the platform; a doctor's
/// calendar reaches a second workspace only after she accepts, and then only as busy time.
@Suite(.needsStack) struct InvitationTests {
    @Test("A cannot take over the account B's member will use: A chooses no password, and B's invitee sets her own")
    func noTakeoverThroughMembers() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A"), b = try w.workspace("B")
        let ownerA = try w.member("owner@a.example", workspace: a, role: .owner)
        let ownerB = try w.member("owner@b.example", workspace: b, role: .owner)
        let email = "dr.nueva@clinic.example"

        // The old attack: A "adds" the email with a password A chooses. Refused; no account exists.
        let chosen = w.call("POST", "/api/members", token: ownerA.token, account: a,
                            json: ["email": email, "role": "staff", "password": "attacker-chosen-pw"])
        #expect(chosen.status == 400, "\(chosen.text)")
        #expect(chosen.errorMessage.hasPrefix("password"))
        #expect(try Users.find(w.conn, email: email) == nil)
        // A invites, then withdraws the invitation: its link is dead.
        let (invited, linkA) = w.invite(email, token: ownerA.token, account: a)
        #expect(invited.status == 201, "\(invited.text)")
        let invitationA = try #require((invited.json["invitation"] as? [String: Any])?["id"] as? Int)
        #expect(w.call("DELETE", "/api/invitations/\(invitationA)", token: ownerA.token, account: a).status == 204)
        #expect(w.call("POST", "/api/invitations/lookup", json: ["token": linkA]).errorCode == "invitation_not_found")
        #expect(w.accept(linkA, password: "attacker-chosen-pw").errorCode == "invitation_not_found")
        #expect(try Users.find(w.conn, email: email) == nil)

        // B invites the same email; the invitee sets her own password.
        let (invitedB, linkB) = w.invite(email, role: "admin_doctor", token: ownerB.token, account: b)
        // A can neither see nor withdraw B's invitation.
        let invitationB = try #require((invitedB.json["invitation"] as? [String: Any])?["id"] as? Int)
        #expect(w.call("DELETE", "/api/invitations/\(invitationB)", token: ownerA.token, account: a).status == 404)
        #expect(w.call("GET", "/api/invitations", token: ownerA.token, account: a).items.isEmpty)
        #expect(w.call("GET", "/api/invitations", token: ownerA.token, account: b).status == 403)
        let lookup = w.call("POST", "/api/invitations/lookup", json: ["token": linkB])
        #expect(lookup.json["workspace_name"] as? String == "B")
        #expect(lookup.json["needs_password"] as? Bool == true)
        let accepted = w.accept(linkB, password: "her own long password", name: "Dra. Nueva")
        #expect(accepted.status == 200, "\(accepted.text)")
        #expect((accepted.json["workspaces"] as? [[String: Any]])?.compactMap { $0["id"] as? Int } == [Int(b)])
        // A's password never works; A is in nothing of B's.
        #expect(w.login(email, "attacker-chosen-pw").status == 401)
        let herLogin = w.login(email, "her own long password")
        #expect(herLogin.status == 200)
        #expect((herLogin.json["workspaces"] as? [[String: Any]])?.compactMap { $0["id"] as? Int } == [Int(b)])
        #expect(try w.conn.query("SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id WHERE u.email = \(email) AND m.workspace_id = \(a)").isEmpty)
    }

    @Test("POST /api/members answers the same for an email with an account elsewhere and an unknown one")
    func sameAnswerForExistingAndUnknownEmails() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A"), b = try w.workspace("B")
        let ownerA = try w.member("owner@a.example", workspace: a, role: .owner)
        let elsewhere = try w.member("ext@b.example", workspace: b, role: .owner, password: "their own password")

        let existing = w.invite("ext@b.example", role: "doctor", token: ownerA.token, account: a).answer
        let unknown = w.invite("nobody@nowhere.example", role: "doctor", token: ownerA.token, account: a).answer
        #expect(existing.status == 201 && unknown.status == 201, "\(existing.text) \(unknown.text)")
        #expect(Set(existing.json.keys) == Set(unknown.json.keys))
        #expect(Set(existing.json.keys) == ["invitation", "token", "invite_path"])
        let e = try #require(existing.json["invitation"] as? [String: Any]), u = try #require(unknown.json["invitation"] as? [String: Any])
        #expect(Set(e.keys) == Set(u.keys))
        for key in ["role", "status", "name", "invited_by_user_id"] { #expect("\(e[key] ?? "-")" == "\(u[key] ?? "-")", "\(key)") }
        #expect(e["status"] as? String == "pending")
        // Nothing of the other tenant's user: not their id, not their name.
        #expect(!existing.text.contains("\"user_id\""))
        #expect(!existing.text.contains("\(elsewhere.id),") && !existing.text.contains("\"ext\""))
        // Not a member of A until accepted; the member list stays the owner alone.
        #expect(w.call("GET", "/api/members", token: ownerA.token, account: a).items.count == 1)
        #expect(w.call("GET", "/api/invitations", token: ownerA.token, account: a).items.map { $0["email"] as? String }
                == ["nobody@nowhere.example", "ext@b.example"])
        // Inviting again withdraws the first link and issues a new one.
        let (_, first) = w.invite("again@nowhere.example", token: ownerA.token, account: a)
        let (_, second) = w.invite("Again@Nowhere.example", token: ownerA.token, account: a)
        #expect(w.call("POST", "/api/invitations/lookup", json: ["token": first]).errorCode == "invitation_not_found")
        #expect(w.call("POST", "/api/invitations/lookup", json: ["token": second]).status == 200)
        // A member of A already: 409 (A's own members are listed to A anyway).
        #expect(w.invite("owner@a.example", token: ownerA.token, account: a).answer.errorCode == "already_member")
        for (bad, field) in [(["email": "nope", "role": "doctor"], "email"), (["email": "x@a.example", "role": "boss"], "role")] as [([String: Any], String)] {
            let r = w.call("POST", "/api/members", token: ownerA.token, account: a, json: bad)
            #expect(r.status == 400, "\(bad)")
            #expect(r.errorMessage.hasPrefix(field), "\(bad): \(r.errorMessage)")
        }
    }

    @Test("an invitation is accepted once, never after it expires or is withdrawn")
    func singleUseAndExpiry() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A")
        let owner = try w.member("owner@a.example", workspace: a, role: .owner)
        let (_, link) = w.invite("new@a.example", role: "doctor", token: owner.token, account: a)
        let short = w.accept(link, password: "elevenchars")
        #expect(short.status == 400)
        #expect(short.errorCode == "weak_password")
        let ok = w.accept(link, password: "twelve chars!")
        #expect(ok.status == 200, "\(ok.text)")
        #expect((ok.json["workspaces"] as? [[String: Any]])?.first?["role"] as? String == "doctor")
        let token = try #require(ok.json["token"] as? String)
        #expect(w.call("GET", "/api/me", token: token).status == 200)
        // Used: a second accept (even with the same password) finds nothing, and changes nothing.
        let again = w.accept(link, password: "twelve chars!")
        #expect(again.status == 404)
        #expect(again.errorCode == "invitation_not_found")
        #expect(try w.conn.query("SELECT count(*) AS n FROM memberships WHERE workspace_id = \(a)").first?.int64("n") == 2)
        #expect(w.call("GET", "/api/invitations", token: owner.token, account: a).items.isEmpty)

        // Expired: listed as such, refused at lookup and accept.
        let (expiring, late) = w.invite("late@a.example", token: owner.token, account: a)
        let id = try #require((expiring.json["invitation"] as? [String: Any])?["id"] as? Int)
        try w.conn.execute("UPDATE invitations SET created_at = now() - interval '8 days', expires_at = now() - interval '1 day' WHERE id = \(Int64(id))")
        #expect(w.call("GET", "/api/invitations", token: owner.token, account: a).items.first?["status"] as? String == "expired")
        #expect(w.call("POST", "/api/invitations/lookup", json: ["token": late]).errorCode == "invitation_not_found")
        #expect(w.accept(late, password: "twelve chars!").errorCode == "invitation_not_found")
        #expect(try Users.find(w.conn, email: "late@a.example") == nil)
        // Withdrawn twice: the second is 404; an unknown token is the same 404.
        #expect(w.call("DELETE", "/api/invitations/\(id)", token: owner.token, account: a).status == 204)
        #expect(w.call("DELETE", "/api/invitations/\(id)", token: owner.token, account: a).status == 404)
        #expect(w.call("POST", "/api/invitations/lookup", json: ["token": "inv_" + String(repeating: "0", count: 64)]).status == 404)
        #expect(w.call("POST", "/api/invitations/lookup", json: ["token": "x"]).status == 404)
        // The schema keeps it single use: an accepted row cannot be withdrawn, and accepted_at is set once.
        #expect(throws: PGError.self) { try w.conn.execute("UPDATE invitations SET revoked_at = now() WHERE accepted_at IS NOT NULL") }
        let audit = try w.conn.query("SELECT action FROM audit_log WHERE workspace_id = \(a) ORDER BY id").map { $0.string("action") }
        #expect(audit == ["member.invite", "member.add", "member.invite", "invitation.revoke"])
    }

    @Test("someone who has an account accepts with that account's password, and nothing else of theirs changes")
    func existingAccountAcceptsWithItsPassword() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A"), b = try w.workspace("B")
        let ownerA = try w.member("owner@a.example", workspace: a, role: .owner)
        let doc = try w.member("doc@b.example", workspace: b, role: .doctor, password: "the doctor's password")
        let (_, link) = w.invite("DOC@b.example", role: "doctor", name: "Renamed by A", token: ownerA.token, account: a)
        let lookup = w.call("POST", "/api/invitations/lookup", json: ["token": link])
        #expect(lookup.json["needs_password"] as? Bool == false)
        #expect(lookup.json["email"] as? String == "doc@b.example")

        let wrong = w.accept(link, password: "a password A chose", name: "Renamed by A")
        #expect(wrong.status == 401)
        #expect(wrong.errorCode == "invalid_credentials")
        #expect(try Memberships.role(w.conn, userID: doc.id, workspaceID: a) == nil)
        #expect(w.call("POST", "/api/invitations/lookup", json: ["token": link]).status == 200, "a wrong password does not use the link up")

        let ok = w.accept(link, password: "the doctor's password", name: "Renamed by A")
        #expect(ok.status == 200, "\(ok.text)")
        #expect(Set((ok.json["workspaces"] as? [[String: Any]])?.compactMap { $0["id"] as? Int } ?? []) == [Int(a), Int(b)])
        #expect(try Memberships.role(w.conn, userID: doc.id, workspaceID: a) == .doctor)
        #expect(try Users.find(w.conn, id: doc.id)?.name == "doc")
        #expect(w.login("doc@b.example", "the doctor's password").status == 200)
        #expect(w.login("doc@b.example", "a password A chose").status == 401)
    }

    /// Monday 2030-01-07 (UTC workspaces): the doctor sees patients 09:00–12:00 in hour slots.
    static var monday: [String: Any] { ["weekly": [["weekday": 1, "start": "09:00", "end": "12:00", "slot_minutes": 60]], "time_off": [Any]()] }

    @Test("A cannot add B's doctor without her accepting; after she does, B's visits reach A as busy time only")
    func doctorsCalendarOnlyWithConsent() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A"), b = try w.workspace("B")
        let ownerA = try w.member("owner@a.example", workspace: a, role: .owner)
        let ownerB = try w.member("owner@b.example", workspace: b, role: .owner)
        let doc = try w.member("doc@b.example", workspace: b, role: .doctor, password: "the doctor's password")
        let patientA = try w.patient(a, name: "Alma", phone: "+14155552000")
        let patientB = try w.patient(b, name: "Beatriz Secreta", phone: "+14155552001")
        #expect(w.call("PUT", "/api/doctors/\(doc.id)/availability", token: ownerB.token, account: b, json: Self.monday).status == 200)
        let bVisit = w.call("POST", "/api/appointments", token: ownerB.token, account: b,
                            json: ["patient_id": patientB, "doctor_id": doc.id, "starts_at": "2030-01-07T10:00:00Z", "reason": "biopsia"])
        #expect(bVisit.status == 201, "\(bVisit.text)")
        let bVisitID = try #require((bVisit.json["appointment"] as? [String: Any])?["id"] as? Int)
        func times(_ ws: Int64, _ token: String) -> [String] {
            w.call("GET", "/api/doctors/\(doc.id)/free-slots?from=2030-01-07T00:00:00Z&days=1", token: token, account: ws).items.compactMap { $0["time"] as? String }
        }
        #expect(times(b, ownerB.token) == ["09:00", "11:00"])

        // Invited, not accepted: A has no such doctor; nothing A does reaches B's calendar.
        let (_, link) = w.invite("doc@b.example", role: "doctor", token: ownerA.token, account: a)
        #expect(w.call("PUT", "/api/doctors/\(doc.id)/availability", token: ownerA.token, account: a, json: Self.monday).status == 404)
        #expect(w.call("GET", "/api/doctors/\(doc.id)/free-slots?from=2030-01-07T00:00:00Z&days=1", token: ownerA.token, account: a).status == 404)
        let early = w.call("POST", "/api/appointments", token: ownerA.token, account: a,
                           json: ["patient_id": patientA, "doctor_id": doc.id, "starts_at": "2030-01-07T09:00:00Z", "ends_at": "2030-01-07T12:00:00Z"])
        #expect(early.errorCode == "doctor_not_found")
        #expect(times(b, ownerB.token) == ["09:00", "11:00"])
        #expect(w.call("POST", "/api/appointments", token: ownerB.token, account: b,
                       json: ["patient_id": patientB, "doctor_id": doc.id, "starts_at": "2030-01-07T09:00:00Z"]).status == 201)

        // She accepts: now A shares her time, as busy time only.
        #expect(w.accept(link, password: "the doctor's password").status == 200)
        #expect(w.call("PUT", "/api/doctors/\(doc.id)/availability", token: ownerA.token, account: a, json: Self.monday).status == 200)
        #expect(times(a, ownerA.token) == ["11:00"])
        let listed = w.call("GET", "/api/appointments?from=2030-01-01T00:00:00Z", token: ownerA.token, account: a)
        #expect(listed.status == 200)
        #expect(listed.items.isEmpty)
        #expect(w.call("GET", "/api/appointments/\(bVisitID)", token: ownerA.token, account: a).status == 404)
        let clash = w.call("POST", "/api/appointments", token: ownerA.token, account: a,
                           json: ["patient_id": patientA, "doctor_id": doc.id, "starts_at": "2030-01-07T10:00:00Z"])
        #expect(clash.status == 409)
        #expect(clash.errorCode == "slot_taken")
        for secret in ["Beatriz", "biopsia", "+14155552001", "\"B\"", String(bVisitID)] {
            #expect(!clash.text.contains(secret), "\(secret) in \(clash.text)")
        }
    }

    @Test("every path that moves an appointment keeps it at most 12 hours long and within 2000 … five years ahead: 400, never 500")
    func appointmentSpanLimits() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A")
        let owner = try w.member("owner@a.example", workspace: a, role: .owner)
        let doc = try w.member("doc@a.example", workspace: a, role: .doctor)
        let patient = try w.patient(a, name: "Pat", phone: "+14155553000")
        let booked = w.call("POST", "/api/appointments", token: owner.token, account: a,
                            json: ["patient_id": patient, "doctor_id": doc.id, "starts_at": "2027-12-14T10:00:00Z"])
        let id = try #require((booked.json["appointment"] as? [String: Any])?["id"] as? Int)
        for (body, field) in [(["starts_at": "2027-12-14T10:00:00Z", "ends_at": "2037-12-14T10:00:00Z"], "ends_at"),
                              (["starts_at": "2027-12-14T10:00:00Z", "ends_at": "2027-12-14T22:00:01Z"], "ends_at"),
                              (["starts_at": "1999-12-31T23:00:00Z"], "starts_at"),
                              (["starts_at": "9999-12-31T10:00:00Z"], "starts_at"),
                              (["starts_at": "0001-01-01T10:00:00Z"], "starts_at")] {
            let r = w.call("POST", "/api/appointments/\(id)/reschedule", token: owner.token, account: a, json: body)
            #expect(r.status == 400, "\(body): \(r.text)")
            #expect(r.errorCode == "validation_failed")
            #expect(r.errorMessage.hasPrefix(field), "\(body): \(r.errorMessage)")
            var book: [String: Any] = body
            book["patient_id"] = patient
            book["doctor_id"] = doc.id
            let b = w.call("POST", "/api/appointments", token: owner.token, account: a, json: book)
            #expect(b.status == 400, "\(body): \(b.text)")
            #expect(b.errorCode == "validation_failed")
        }
        let row = try #require(try w.conn.query("SELECT ends_at - starts_at AS length FROM appointments WHERE id = \(Int64(id))").first)
        #expect(row.string("length") == "00:30:00")
        #expect(w.call("POST", "/api/appointments/\(id)/reschedule", token: owner.token, account: a,
                       json: ["starts_at": "2027-12-14T10:00:00Z", "ends_at": "2027-12-14T22:00:00Z"]).status == 200)
    }
}
