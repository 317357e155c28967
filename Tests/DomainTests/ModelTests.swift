import Domain
import Foundation
import Testing
import TestSupport
import MedsyncCrypto

/// Workspaces, users and tokens on the in-memory stores (StoreTests holds the PostgreSQL side:
/// the reminder settings row, the stored hash, the sliding expiry).
@Suite("Model: workspaces, users, tokens")
struct ModelTests {
    @Test func workspaceCreateAndList() throws {
        let store = MemoryWorkspaceStore()
        let a = try Workspaces.create(store, name: "  Clínica Norte ", timezone: "America/Mexico_City")
        let b = try Workspaces.create(store, name: "Clínica Sur", timezone: "Europe/Madrid")
        #expect(a.name == "Clínica Norte")
        #expect(b.id > a.id)
        #expect(try Workspaces.list(store).map(\.name) == ["Clínica Norte", "Clínica Sur"])
        #expect(try Workspaces.list(store).map(\.timezone) == ["America/Mexico_City", "Europe/Madrid"])
        // Default reminder settings come with the workspace.
        #expect(store.withReminderSettings == [a.id, b.id])
    }

    @Test func workspaceRefusesUnknownTimezoneAndEmptyName() throws {
        let store = MemoryWorkspaceStore()
        for tz in ["Mars/Olympus", "", "america/mexico city"] {
            let error = try #require(throws: AppError.self) { try Workspaces.create(store, name: "X", timezone: tz) }
            #expect(error.code.rawValue == "invalid_timezone")
            // Answered 400: ErrorCatalogueTests holds every code's status.
        }
        let error = try #require(throws: AppError.self) { try Workspaces.create(store, name: "   ", timezone: "UTC") }
        #expect(error.code.rawValue == "invalid_name")
        #expect(try Workspaces.list(store).isEmpty)
    }

    @Test func userCreateNormalizesEmailAndReusesTheUser() throws {
        let store = MemoryMemberStore()
        let ws1 = try Workspaces.create(store.workspaces, name: "Uno", timezone: "UTC").id
        let ws2 = try Workspaces.create(store.workspaces, name: "Dos", timezone: "UTC").id
        let hash = PasswordHash.hash("correct horse", iterations: 1000)
        let user = try Users.create(store, email: " Ana@Clinic.MX ", name: "Ana", passwordHash: hash, workspaceID: ws1, role: .owner)
        #expect(user.email == "ana@clinic.mx")
        // The same person added to another workspace (any case) is the same user.
        let again = try Users.create(store, email: "ANA@clinic.mx", workspaceID: ws2, role: .staff)
        #expect(again.id == user.id)
        #expect(again.name == "Ana")
        #expect(try Memberships.role(store, userID: user.id, workspaceID: ws1) == .owner)
        #expect(try Memberships.role(store, userID: user.id, workspaceID: ws2) == .staff)
        #expect(try Memberships.list(store, userID: user.id).map(\.workspaceID) == [ws1, ws2])
        // Role changes on re-create; the password is kept when none is given.
        _ = try Users.create(store, email: "ana@clinic.mx", workspaceID: ws2, role: .doctor)
        #expect(try Memberships.role(store, userID: user.id, workspaceID: ws2) == .doctor)
        let stored = try #require(try Users.passwordHash(store, email: "ANA@CLINIC.MX"))
        #expect(stored.user.id == user.id)
        #expect(PasswordHash.verify("correct horse", against: stored.hash ?? ""))
        #expect(try Users.find(store, idOrEmail: "\(user.id)")?.email == "ana@clinic.mx")
        #expect(try Users.find(store, idOrEmail: "nobody@clinic.mx") == nil)
    }

    @Test func userCreateRefusesBadInput() throws {
        let store = MemoryMemberStore()
        let ws = try Workspaces.create(store.workspaces, name: "Uno", timezone: "UTC").id
        for email in ["not-an-email", "a@b", "two@@x.com", "sp ace@x.com", ""] {
            let error = try #require(throws: AppError.self) { try Users.create(store, email: email, workspaceID: ws, role: .staff) }
            #expect(error.code.rawValue == "invalid_email")
        }
        let missing = try #require(throws: AppError.self) { try Users.create(store, email: "a@b.co", workspaceID: ws + 999, role: .staff) }
        #expect(missing.code.rawValue == "workspace_not_found")
        #expect(store.users.isEmpty)
    }

    @Test func operatorCreateNeverReplacesAPasswordSilently() throws {
        let store = MemoryMemberStore()
        let ws = try Workspaces.create(store.workspaces, name: "Uno", timezone: "UTC").id
        let first = try Users.create(store, email: "ana@clinic.mx", passwordHash: "h1", workspaceID: ws, role: .staff, ifExists: .refuse)
        let refused = try #require(throws: AppError.self) {
            try Users.create(store, email: "ANA@clinic.mx", passwordHash: "h2", workspaceID: ws, role: .owner, ifExists: .refuse)
        }
        #expect(refused.code == .userExists)
        #expect(try Memberships.role(store, userID: first.id, workspaceID: ws) == .staff)
        #expect(throws: AppError.self) { try Users.create(store, email: "ana@clinic.mx", passwordHash: "h2", workspaceID: ws, role: .owner, ifExists: .keepPassword) }
        #expect(throws: AppError.self) { try Users.create(store, email: "ana@clinic.mx", workspaceID: ws, role: .owner, ifExists: .replacePassword) }
        _ = try Users.create(store, email: "ana@clinic.mx", workspaceID: ws, role: .owner, ifExists: .keepPassword)
        #expect(store.passwordHashes[first.id] == "h1")
        #expect(try Memberships.role(store, userID: first.id, workspaceID: ws) == .owner)
        _ = try Users.create(store, email: "ana@clinic.mx", passwordHash: "h2", workspaceID: ws, role: .owner, ifExists: .replacePassword)
        #expect(store.passwordHashes[first.id] == "h2")
    }

    @Test func tokenRoundTripAndStoredOnlyHashed() throws {
        let store = MemoryMemberStore()
        let ws = try Workspaces.create(store.workspaces, name: "Uno", timezone: "UTC").id
        let user = try Users.create(store, email: "ana@clinic.mx", workspaceID: ws, role: .owner)
        let token = try Tokens.create(store, userID: user.id, name: "cli")
        #expect(token.hasPrefix("msk_"))
        #expect(token.count == 68)
        #expect(token.dropFirst(4).allSatisfy { "0123456789abcdef".contains($0) })
        #expect(try Tokens.authenticate(store, token: token) == user.id)
        // Only sha256(token) is handed to the store.
        #expect(store.tokens.map(\.hash) == [Crypto.sha256(token)])

        // Wrong, malformed and revoked tokens authenticate nobody.
        let other = try Tokens.create(store, userID: user.id)
        #expect(other != token)
        for bad in ["", "msk_", "Bearer " + token, token.uppercased(), "msk_" + String(repeating: "0", count: 64), String(token.dropLast())] {
            #expect(try Tokens.authenticate(store, token: bad) == nil)
        }
        #expect(try Tokens.revoke(store, token: token))
        #expect(try Tokens.authenticate(store, token: token) == nil)
        #expect(try Tokens.authenticate(store, token: other) == user.id)
        #expect(try !Tokens.revoke(store, token: token))

        let missing = try #require(throws: AppError.self) { try Tokens.create(store, userID: user.id + 1000) }
        #expect(missing.code.rawValue == "user_not_found")
    }

    @Test func anIdleOrOldTokenIsExpiredAndSessionsListOnlyLiveOnes() throws {
        let store = MemoryMemberStore()
        let ws = try Workspaces.create(store.workspaces, name: "Uno", timezone: "UTC").id
        let user = try Users.create(store, email: "ana@clinic.mx", workspaceID: ws, role: .owner)
        let idle = try Tokens.create(store, userID: user.id, ttl: 60, maxAge: 3600,
                                     client: StaffAuth.Client(address: "203.0.113.9", userAgent: "Phone\u{7}App"))
        let current = try Tokens.create(store, userID: user.id)
        let sessions = try Tokens.sessions(store, userID: user.id, token: current)
        #expect(sessions.map(\.current) == [true, false] || sessions.map(\.current) == [false, true])
        #expect(sessions.first { !$0.current }?.addressPrefix == "203.0.113.0/24")
        #expect(sessions.first { !$0.current }?.userAgent == "PhoneApp")
        store.now += 120
        #expect(try Tokens.check(store, token: idle) == .expired)
        #expect(try Tokens.sessions(store, userID: user.id, token: current).count == 1)
        #expect(throws: AppError.self) { try Tokens.revoke(store, userID: user.id + 1, sessionID: 1) }
        #expect(try Tokens.revokeAll(store, userID: user.id) == 2)
        #expect(try Tokens.check(store, token: current) == .invalid)
    }
}
