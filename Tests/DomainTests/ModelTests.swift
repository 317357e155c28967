import Domain
import Foundation
import Testing
import TestSupport
import MedsyncCrypto
import Postgres

@Suite("Model: workspaces, users, tokens", .needsStack)
struct ModelTests {
    @Test func workspaceCreateAndList() throws {
        let conn = try PGConnection(try TestDatabase.create())
        let a = try Workspaces.create(conn, name: "  Clínica Norte ", timezone: "America/Mexico_City")
        let b = try Workspaces.create(conn, name: "Clínica Sur", timezone: "Europe/Madrid")
        #expect(a.name == "Clínica Norte")
        #expect(b.id > a.id)
        #expect(try Workspaces.list(conn).map(\.name) == ["Clínica Norte", "Clínica Sur"])
        #expect(try Workspaces.list(conn).map(\.timezone) == ["America/Mexico_City", "Europe/Madrid"])
        // Default reminder settings come with the workspace.
        let settings = try conn.query("SELECT enabled, hours_before FROM reminder_settings WHERE workspace_id = \(a.id)")
        #expect(settings.count == 1)
        #expect(settings[0].int("hours_before") == 24)
    }

    @Test func workspaceRefusesUnknownTimezoneAndEmptyName() throws {
        let conn = try PGConnection(try TestDatabase.create())
        for tz in ["Mars/Olympus", "", "america/mexico city"] {
            let error = try #require(throws: AppError.self) { try Workspaces.create(conn, name: "X", timezone: tz) }
            #expect(error.code.rawValue == "invalid_timezone")
            // Answered 400: ErrorCatalogueTests holds every code's status.
        }
        let error = try #require(throws: AppError.self) { try Workspaces.create(conn, name: "   ", timezone: "UTC") }
        #expect(error.code.rawValue == "invalid_name")
        #expect(try Workspaces.list(conn).isEmpty)
    }

    @Test func userCreateNormalizesEmailAndReusesTheUser() throws {
        let conn = try PGConnection(try TestDatabase.create())
        let ws1 = try Workspaces.create(conn, name: "Uno", timezone: "UTC").id
        let ws2 = try Workspaces.create(conn, name: "Dos", timezone: "UTC").id
        let hash = PasswordHash.hash("correct horse", iterations: 1000)
        let user = try Users.create(conn, email: " Ana@Clinic.MX ", name: "Ana", passwordHash: hash, workspaceID: ws1, role: .owner)
        #expect(user.email == "ana@clinic.mx")
        // The same person added to another workspace (any case) is the same user.
        let again = try Users.create(conn, email: "ANA@clinic.mx", workspaceID: ws2, role: .staff)
        #expect(again.id == user.id)
        #expect(again.name == "Ana")
        #expect(try Memberships.role(conn, userID: user.id, workspaceID: ws1) == .owner)
        #expect(try Memberships.role(conn, userID: user.id, workspaceID: ws2) == .staff)
        #expect(try Memberships.list(conn, userID: user.id).map(\.workspaceID) == [ws1, ws2])
        // Role changes on re-create; the password is kept when none is given.
        _ = try Users.create(conn, email: "ana@clinic.mx", workspaceID: ws2, role: .doctor)
        #expect(try Memberships.role(conn, userID: user.id, workspaceID: ws2) == .doctor)
        let stored = try #require(try Users.passwordHash(conn, email: "ANA@CLINIC.MX"))
        #expect(stored.user.id == user.id)
        #expect(PasswordHash.verify("correct horse", against: stored.hash ?? ""))
        #expect(try Users.find(conn, idOrEmail: "\(user.id)")?.email == "ana@clinic.mx")
        #expect(try Users.find(conn, idOrEmail: "nobody@clinic.mx") == nil)
    }

    @Test func userCreateRefusesBadInput() throws {
        let conn = try PGConnection(try TestDatabase.create())
        let ws = try Workspaces.create(conn, name: "Uno", timezone: "UTC").id
        for email in ["not-an-email", "a@b", "two@@x.com", "sp ace@x.com", ""] {
            let error = try #require(throws: AppError.self) { try Users.create(conn, email: email, workspaceID: ws, role: .staff) }
            #expect(error.code.rawValue == "invalid_email")
        }
        let missing = try #require(throws: AppError.self) { try Users.create(conn, email: "a@b.co", workspaceID: ws + 999, role: .staff) }
        #expect(missing.code.rawValue == "workspace_not_found")
        #expect(try conn.query("SELECT count(*) AS n FROM users")[0].int("n") == 0)
    }

    @Test func tokenRoundTripAndStoredOnlyHashed() throws {
        let conn = try PGConnection(try TestDatabase.create())
        let ws = try Workspaces.create(conn, name: "Uno", timezone: "UTC").id
        let user = try Users.create(conn, email: "ana@clinic.mx", workspaceID: ws, role: .owner)
        let token = try Tokens.create(conn, userID: user.id, name: "cli")
        #expect(token.hasPrefix("msk_"))
        #expect(token.count == 68)
        #expect(token.dropFirst(4).allSatisfy { "0123456789abcdef".contains($0) })
        #expect(try Tokens.authenticate(conn, token: token) == user.id)

        // Only sha256(token) is in the table: no column holds the token or its random part.
        let row = try conn.query("SELECT token_hash, row_to_json(t)::text AS everything FROM api_tokens t")[0]
        #expect(row.bytes("token_hash") == Crypto.sha256(token))
        #expect(!(row.string("everything") ?? "").contains(String(token.dropFirst(4))))
        #expect(try conn.query("SELECT last_used_at FROM api_tokens")[0].date("last_used_at") != nil)

        // Wrong, malformed and revoked tokens authenticate nobody.
        let other = try Tokens.create(conn, userID: user.id)
        #expect(other != token)
        for bad in ["", "msk_", "Bearer " + token, token.uppercased(), "msk_" + String(repeating: "0", count: 64), String(token.dropLast())] {
            #expect(try Tokens.authenticate(conn, token: bad) == nil)
        }
        #expect(try Tokens.revoke(conn, token: token))
        #expect(try Tokens.authenticate(conn, token: token) == nil)
        #expect(try Tokens.authenticate(conn, token: other) == user.id)
        #expect(try !Tokens.revoke(conn, token: token))

        let missing = try #require(throws: AppError.self) { try Tokens.create(conn, userID: user.id + 1000) }
        #expect(missing.code.rawValue == "user_not_found")
    }
}
