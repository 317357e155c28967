import Domain
import FastCGI
import Foundation
import Testing
import TestSupport
@testable import FCGIApp
import Postgres

@Suite(.needsStack) struct MemberTests {
    @Test func ownersAddChangeAndRemoveMembersAndTheLastOwnerStays() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A")
        let b = try w.workspace("B")
        let owner = try w.member("owner@a.example", workspace: a, role: .owner)
        let admin = try w.member("admin@a.example", workspace: a, role: .adminDoctor)
        let elsewhere = try w.member("ext@b.example", workspace: b, role: .owner, password: "their own password")

        let listed = w.call("GET", "/api/members", token: admin.token, account: a)
        #expect(listed.items.map { $0["email"] as? String } == ["owner@a.example", "admin@a.example"])
        let body: [String: Any] = ["email": "New.Doc@A.example", "name": "Dra. Nueva", "role": "doctor"]
        #expect(w.call("POST", "/api/members", token: admin.token, account: a, json: body).status == 403)
        let added = w.call("POST", "/api/members", token: owner.token, account: a, json: body)
        #expect(added.status == 201, "\(added.text)")
        let invitation = try #require(added.json["invitation"] as? [String: Any])
        #expect(invitation["role"] as? String == "doctor")
        #expect(invitation["email"] as? String == "new.doc@a.example")
        #expect(invitation["status"] as? String == "pending")
        let link = try #require(added.json["token"] as? String)
        #expect(added.json["invite_path"] as? String == "/#/invite/\(link)")
        // The invitee sets her own password, signs in and sees the workspace.
        let accepted = w.call("POST", "/api/invitations/accept", json: ["token": link, "password": "correct horse battery"])
        #expect(accepted.status == 200, "\(accepted.text)")
        #expect((accepted.json["user"] as? [String: Any])?["name"] as? String == "Dra. Nueva")
        let login = w.call("POST", "/api/auth/login", json: ["email": "new.doc@a.example", "password": "correct horse battery"])
        #expect(login.status == 200, "\(login.text)")
        #expect(w.call("POST", "/api/members", token: owner.token, account: a, json: body).errorCode == "already_member")
        for (bad, field) in [(["email": "nope", "role": "doctor"], "email"),
                             (["email": "x@a.example", "role": "boss"], "role"),
                             (["email": "x@a.example", "role": "staff", "password": "a password the owner picks"], "password")] as [([String: Any], String)] {
            let r = w.call("POST", "/api/members", token: owner.token, account: a, json: bad)
            #expect(r.status == 400, "\(bad)")
            #expect(r.errorMessage.hasPrefix(field), "\(bad): \(r.errorMessage)")
        }
        // An existing user joins by accepting with their own password: it is not changed, nor their name.
        let existing = w.call("POST", "/api/members", token: owner.token, account: a,
                              json: ["email": "ext@b.example", "role": "staff", "name": "Renamed"])
        #expect(existing.status == 201, "\(existing.text)")
        let extLink = try #require(existing.json["token"] as? String)
        #expect(w.call("POST", "/api/invitations/accept", json: ["token": extLink, "password": "their own password", "name": "Renamed"]).status == 200)
        #expect(w.call("GET", "/api/members", token: owner.token, account: a).items.first { $0["email"] as? String == "ext@b.example" }?["name"] as? String == "ext")
        #expect(w.call("POST", "/api/auth/login", json: ["email": "ext@b.example", "password": "their own password"]).status == 200)
        #expect(w.call("GET", "/api/whatsapp/senders", token: elsewhere.token, account: a).status == 200)

        // Roles: owner only; the last owner can neither be demoted nor removed.
        #expect(w.call("PATCH", "/api/members/\(admin.id)", token: admin.token, account: a, json: ["role": "owner"]).status == 403)
        let lastDemote = w.call("PATCH", "/api/members/\(owner.id)", token: owner.token, account: a, json: ["role": "staff"])
        #expect(lastDemote.status == 409)
        #expect(lastDemote.errorCode == "last_owner")
        #expect(w.call("DELETE", "/api/members/\(owner.id)", token: owner.token, account: a).errorCode == "last_owner")
        let promoted = w.call("PATCH", "/api/members/\(admin.id)", token: owner.token, account: a, json: ["role": "owner"])
        #expect(promoted.json["role"] as? String == "owner")
        #expect(w.call("PATCH", "/api/members/\(admin.id)", token: owner.token, account: a, json: ["role": "king"]).status == 400)
        #expect(w.call("DELETE", "/api/members/\(owner.id)", token: owner.token, account: a).status == 204)
        // The removed owner is out: 403 in A, still fine in nothing else.
        #expect(w.call("GET", "/api/members", token: owner.token, account: a).status == 403)
        #expect(w.call("DELETE", "/api/members/\(owner.id)", token: admin.token, account: a).status == 404)
        #expect(w.call("PATCH", "/api/members/\(elsewhere.id)", token: admin.token, account: a, json: ["role": "doctor"]).json["role"] as? String == "doctor")
        // B is untouched by A's changes.
        #expect(try w.conn.query("SELECT role FROM memberships WHERE user_id = \(elsewhere.id) AND workspace_id = \(b)")
                .first?.string("role") == "owner")
        let audit = try w.conn.query("SELECT action FROM audit_log WHERE workspace_id = \(a) ORDER BY id")
        #expect(audit.map { $0.string("action") } == ["member.invite", "member.add", "member.invite", "member.add", "member.role", "member.remove", "member.role"])
    }
}
