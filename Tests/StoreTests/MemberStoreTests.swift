import Domain
import Foundation
import MedsyncCrypto
import Postgres
import Store
import Testing
import TestSupport

/// Users, memberships and tokens in PostgreSQL: what the schema adds to the use cases (the unique
/// email index, migration 0005's revoking trigger and 0019's rehash exception, the last-owner
/// trigger, tokens stored only as their hash and used at most once a minute).
@Suite(.needsStack) struct MemberStoreTests {
    @Test func aTokenIsStoredOnlyAsItsHashAndItsUseIsRecorded() throws {
        let conn = try PGConnection(try TestDatabase.create())
        let ws = try Workspaces.create(conn, name: "Uno", timezone: "UTC").id
        let user = try Users.create(conn, email: "ana@clinic.mx", workspaceID: ws, role: .owner)
        let token = try Tokens.create(conn, userID: user.id, name: "cli")
        #expect(try Tokens.authenticate(conn, token: token) == user.id)
        // Only sha256(token) is in the table: no column holds the token or its random part.
        let row = try conn.query("SELECT token_hash, row_to_json(t)::text AS everything FROM api_tokens t")[0]
        #expect(row.bytes("token_hash") == Crypto.sha256(token))
        #expect(!(row.string("everything") ?? "").contains(String(token.dropFirst(4))))
        #expect(try conn.query("SELECT last_used_at FROM api_tokens")[0].date("last_used_at") != nil)
        // An expired token is found, not live.
        try conn.execute("UPDATE api_tokens SET expires_at = now() - interval '1 second'")
        #expect(try PostgresStores(conn).members.checkToken(hash: Crypto.sha256(token), ttl: 60) == TokenState(userID: user.id, live: false))
    }

    @Test func aPasswordChangeRevokesTheTokensARehashDoesNot() throws {
        let conn = try PGConnection(try TestDatabase.create())
        let store = PostgresStores(conn).members
        let ws = try Workspaces.create(conn, name: "Uno", timezone: "UTC").id
        let user = try Users.create(store, email: "ana@clinic.mx", passwordHash: "old", workspaceID: ws, role: .owner)
        let token = try Tokens.create(store, userID: user.id)
        #expect(try store.rehash(userID: user.id, old: "old", new: "stronger"))
        #expect(try !store.rehash(userID: user.id, old: "old", new: "other"))
        #expect(try Tokens.authenticate(store, token: token) == user.id)
        let (fresh, stored) = Tokens.make(userID: user.id, name: "login", ttl: 60, maxAge: 120, client: .init())
        #expect(try store.setPassword(userID: user.id, passwordHash: "new", token: stored) == 1)
        #expect(try Tokens.authenticate(store, token: token) == nil)
        #expect(try Tokens.authenticate(store, token: fresh) == user.id)
        #expect(try store.setPassword(userID: user.id + 99, passwordHash: "x", token: nil) == nil)
        #expect(try store.credentials(emailKey: "ana@clinic.mx")?.hash == "new")
    }

    @Test func theLastOwnerStaysAndTheChangeLeavesNoAuditEntry() throws {
        let conn = try PGConnection(try TestDatabase.create())
        let store = PostgresStores(conn).members
        let ws = try Workspaces.create(conn, name: "Uno", timezone: "UTC").id
        let owner = try Users.create(store, email: "own@a.example", workspaceID: ws, role: .owner)
        let entry = AuditEntry(workspaceID: ws, userID: owner.id, action: "member.role", targetType: "user", targetID: String(owner.id))
        let error = try #require(throws: AppError.self) { try store.setRole(workspaceID: ws, userID: owner.id, role: .staff, audit: entry) }
        #expect(error.code == .lastOwner)
        let removal = try #require(throws: AppError.self) { try store.removeMember(workspaceID: ws, userID: owner.id, audit: entry) }
        #expect(removal.code == .lastOwner)
        #expect(try conn.query("SELECT count(*) AS n FROM audit_log").first?.int("n") == 0)
        #expect(try store.setRole(workspaceID: ws, userID: owner.id + 5, role: .staff, audit: entry) == nil)
    }

    @Test func anAcceptedInvitationSignsTheNewMemberInWithALiveToken() throws {
        let conn = try PGConnection(try TestDatabase.create())
        let store = PostgresStores(conn).members
        let ws = try Workspaces.create(conn, name: "Uno", timezone: "UTC").id
        let owner = try Users.create(store, email: "own@a.example", workspaceID: ws, role: .owner)
        let created = try Invitations.create(store, actor: StaffActor(userID: owner.id, workspaceID: ws, role: .owner),
                                             .init(email: "new@a.example", name: "Nora", role: "doctor"))
        let limits = StaffAuth.Limits(throttle: LoginThrottle(window: 60, maxFailures: 3, maxFailuresPerAddress: 10), hashGate: HashGate(limit: 2),
                                      tokenTTL: 3600)
        let signedIn = try Invitations.accept(store, .init(token: created.token, password: "a long and unusual passphrase"), limits: limits)
        conn.workspace = .none
        #expect(try Tokens.authenticate(conn, token: signedIn.token) == signedIn.user.id)
        #expect(try StaffAuth.actor(store, userID: signedIn.user.id, accountHeader: String(ws)).role == .doctor)
        #expect(try conn.query("SELECT action FROM audit_log ORDER BY id").map { $0.string("action") ?? "" } == ["member.invite", "member.add"])
        let again = try #require(throws: AppError.self) {
            try Invitations.accept(store, .init(token: created.token, password: "a long and unusual passphrase"), limits: limits)
        }
        #expect(again.code == .invitationNotFound)
    }
}
