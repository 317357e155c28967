import Domain
import Foundation
import MedsyncCrypto
import Testing
import TestSupport

/// Members' and invitations' decisions on the in-memory store: the last owner stays, an invitation
/// is answered once and consumed once, a wrong password counts against the account. StoreTests
/// holds the PostgreSQL side (the last-owner trigger against two removals at once).
@Suite struct MembersTests {
    let store = MemoryMemberStore()

    func code(_ body: () throws -> Any) -> String? {
        do { _ = try body(); return nil } catch let e as AppError { return e.code.rawValue } catch { return "\(error)" }
    }

    func limits() -> StaffAuth.Limits {
        StaffAuth.Limits(throttle: LoginThrottle(window: 60, maxFailures: 3, maxFailuresPerAddress: 10), hashGate: HashGate(limit: 2), tokenTTL: 3600)
    }

    @Test func aWorkspaceKeepsItsLastOwner() throws {
        let ws = try Workspaces.create(store.workspaces, name: "A", timezone: "UTC").id
        let owner = try Users.create(store, email: "own@a.example", workspaceID: ws, role: .owner)
        let doc = try Users.create(store, email: "doc@a.example", workspaceID: ws, role: .doctor)
        let actor = StaffActor(userID: owner.id, workspaceID: ws, role: .owner)
        #expect(code { try Members.setRole(store, actor: actor, userID: owner.id, role: "staff") } == "last_owner")
        #expect(code { try Members.remove(store, actor: actor, userID: owner.id) } == "last_owner")
        #expect(code { try Members.setRole(store, actor: actor, userID: doc.id, role: "boss") } == "validation_failed")
        #expect(code { try Members.setRole(store, actor: actor, userID: 99, role: "staff") } == "not_found")
        #expect(try Members.setRole(store, actor: actor, userID: doc.id, role: "owner").role == "owner")
        #expect(try Members.setRole(store, actor: actor, userID: owner.id, role: "staff").role == "staff")
        try Members.remove(store, actor: actor, userID: owner.id)
        #expect(try Members.list(store, workspaceID: ws).map(\.userID) == [doc.id])
        #expect(store.audit.entries.map(\.action) == ["member.role", "member.role", "member.remove"])
        #expect(store.audit.entries.first?.details == ["role": "owner"])
    }

    @Test func anInvitationIsConsumedOnceAndAWrongPasswordCountsAgainstTheAccount() throws {
        let ws = try Workspaces.create(store.workspaces, name: "Clínica", timezone: "UTC").id
        let owner = try Users.create(store, email: "own@a.example", workspaceID: ws, role: .owner)
        let actor = StaffActor(userID: owner.id, workspaceID: ws, role: .owner)
        #expect(code { try Invitations.create(store, actor: actor, .init(email: "OWN@a.example", role: "staff")) } == "already_member")
        #expect(code { try Invitations.create(store, actor: actor, .init(email: "new@a.example", role: "staff", password: "x")) } == "validation_failed")
        let created = try Invitations.create(store, actor: actor, .init(email: "New@A.example", name: "Nora", role: "doctor"))
        #expect(created.invitation.email == "new@a.example" && created.invitePath == "/#/invite/\(created.token)")
        #expect(store.invitationRows.map(\.tokenHash) == [Crypto.sha256(created.token)])
        let preview = try Invitations.preview(store, token: created.token)
        #expect(preview.workspaceName == "Clínica" && preview.needsPassword && preview.role == "doctor")
        #expect(code { try Invitations.preview(store, token: "inv_nope") } == "invitation_not_found")

        let signedIn = try Invitations.accept(store, .init(token: created.token, password: "a long and unusual passphrase"), limits: limits())
        #expect(signedIn.user.name == "Nora" && signedIn.workspaces.map(\.role) == ["doctor"])
        #expect(try Tokens.authenticate(store, token: signedIn.token) == signedIn.user.id)
        #expect(code { try Invitations.accept(store, .init(token: created.token, password: "a long and unusual passphrase"), limits: limits()) }
                == "invitation_not_found")

        // An account that exists signs in with its own password to accept; a wrong one is a failed sign-in.
        let again = try Invitations.create(store, actor: actor, .init(email: "doc@b.example", role: "staff"))
        let hash = PasswordHash.hash("the doctor's own password", iterations: 1000)
        let other = try Workspaces.create(store.workspaces, name: "B", timezone: "UTC").id
        let doc = try Users.create(store, email: "doc@b.example", passwordHash: hash, workspaceID: other, role: .owner)
        #expect(try !Invitations.preview(store, token: again.token).needsPassword)
        for _ in 0..<3 {
            #expect(code { try Invitations.accept(store, .init(token: again.token, password: "wrong password!!"), address: "198.51.100.7", limits: limits()) }
                    == "invalid_credentials")
        }
        #expect(code { try Invitations.accept(store, .init(token: again.token, password: "the doctor's own password"), address: "198.51.100.7",
                                              limits: limits()) } == "too_many_attempts")
        #expect(try Memberships.role(store, userID: doc.id, workspaceID: ws) == nil)
        let accepted = try Invitations.accept(store, .init(token: again.token, password: "the doctor's own password"), address: "203.0.113.1",
                                              limits: limits())
        #expect(accepted.user.id == doc.id)
        #expect(try Memberships.role(store, userID: doc.id, workspaceID: ws) == .staff)
        #expect(store.audit.entries.map(\.action) == ["member.invite", "member.add", "member.invite", "member.add"])
    }

    @Test func aPasswordChangeRevokesEveryTokenAndAnswersAFreshOne() throws {
        let ws = try Workspaces.create(store.workspaces, name: "A", timezone: "UTC").id
        let user = try Users.create(store, email: "ana@a.example", passwordHash: PasswordHash.hash("the current password", iterations: 1000),
                                    workspaceID: ws, role: .staff)
        let old = try Tokens.create(store, userID: user.id)
        #expect(code { try StaffAuth.changePassword(store, userID: user.id, current: "not it at all!", new: "a brand new passphrase", limits: limits()) }
                == "wrong_password")
        let changed = try StaffAuth.changePassword(store, userID: user.id, current: "the current password", new: "a brand new passphrase", limits: limits())
        #expect(changed.revokedTokens == 1)
        #expect(try Tokens.authenticate(store, token: old) == nil)
        #expect(try Tokens.authenticate(store, token: changed.token) == user.id)
        let actor = try StaffAuth.actor(store, userID: user.id, accountHeader: " \(ws) ")
        #expect(actor.role == .staff && store.enteredWorkspace == ws)
        #expect(code { try StaffAuth.actor(store, userID: user.id, accountHeader: "\(ws + 1)") } == "forbidden")
        #expect(code { try StaffAuth.user(store, authorization: "Bearer \(old)") } == "unauthorized")
        #expect(try StaffAuth.user(store, authorization: "Bearer \(changed.token)").userID == user.id)
    }
}
