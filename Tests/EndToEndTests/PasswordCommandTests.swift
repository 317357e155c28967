import Domain
import Foundation
import TestSupport
import Testing
import MedsyncCrypto
import HTTPClient
import Postgres

@Suite("medsync-jobs user set-password", .needsStack)
struct PasswordCommandTests {
    @Test("sets the password, revokes every token of the user (prints how many); the new password signs in through nginx")
    func setPasswordRevokes() throws {
        let env = try StackEnvironment.shared()
        let conn = try PGConnection(try env.databaseURL)
        let tag = Crypto.hex(Crypto.randomBytes(4))
        let ws = try Workspaces.create(conn, name: "Pw \(tag)", timezone: "UTC").id
        let email = "pw-\(tag)@e2e.test"
        let user = try Users.create(conn, email: email, passwordHash: PasswordHash.hash("old password", iterations: 1000),
                                    workspaceID: ws, role: .staff)
        let first = try Tokens.create(conn, userID: user.id, name: "a")
        let second = try Tokens.create(conn, userID: user.id, name: "b")
        let bystander = try Users.create(conn, email: "by-\(tag)@e2e.test", workspaceID: ws, role: .staff)
        let untouched = try Tokens.create(conn, userID: bystander.id)

        let bin = (ProcessInfo.processInfo.environment["BIN_DIR"] ?? "\(projectRoot)/.build/debug") + "/medsync-jobs"
        let settings = ["DATABASE_URL": try env.databaseURL, "NEW_PW": "a new password"]
        let weak = try runCommand([bin, "user", "set-password", "--user", email, "--password", "short"], environment: settings)
        #expect(weak.status == 65)
        #expect(weak.stderr.contains("weak_password"))
        #expect(try Tokens.authenticate(conn, token: first) == user.id)

        let r = try runCommand([bin, "user", "set-password", "--user", email, "--password-env", "NEW_PW"], environment: settings)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "revoked 2 tokens")
        #expect(try Tokens.authenticate(conn, token: first) == nil)
        #expect(try Tokens.authenticate(conn, token: second) == nil)
        #expect(try Tokens.authenticate(conn, token: untouched) == bystander.id)

        func login(_ password: String) throws -> HTTPResponse {
            let body = try JSONSerialization.data(withJSONObject: ["email": email, "password": password])
            return try http(HTTPRequest(method: "POST", url: try env.appURL + "/api/auth/login",
                                        headers: [("Content-Type", "application/json")], body: Array(body)))
        }
        #expect(try login("old password").status == 401)
        #expect(try login("a new password").status == 200)
        let unknown = try runCommand([bin, "user", "set-password", "--user", "nobody-\(tag)@e2e.test", "--password", "long enough"], environment: settings)
        #expect(unknown.status == 65)
        #expect(unknown.stderr.contains("user_not_found"))
    }

    @Test("user create never silently keeps or replaces an existing user's hash: it fails unless --keep-password or --reset-password says which")
    func userCreateOverAnExistingUser() throws {
        let env = try StackEnvironment.shared()
        let conn = try PGConnection(try env.databaseURL)
        let tag = Crypto.hex(Crypto.randomBytes(4))
        let a = try Workspaces.create(conn, name: "Create A \(tag)", timezone: "UTC").id
        let b = try Workspaces.create(conn, name: "Create B \(tag)", timezone: "UTC").id
        let email = "exists-\(tag)@e2e.test"
        let bin = (ProcessInfo.processInfo.environment["BIN_DIR"] ?? "\(projectRoot)/.build/debug") + "/medsync-jobs"
        let settings = ["DATABASE_URL": try env.databaseURL, "PW": "the user's own password"]
        func create(_ args: String...) throws -> (status: Int32, stdout: String, stderr: String) {
            let r = try runCommand([bin, "user", "create", "--email", email, "--role", "staff"] + args, environment: settings)
            return (r.status, r.stdout, r.stderr)
        }
        func hash() throws -> String? {
            try conn.query("SELECT password_hash FROM users WHERE lower(email) = lower(\(email))").first?.decode(String?.self, "password_hash")
        }
        let made = try create("--workspace", String(a), "--password-env", "PW")
        #expect(made.status == 0, "\(made.stderr)")
        let original = try hash()
        let token = try Tokens.create(conn, userID: try #require(Int64(made.stdout.trimmingCharacters(in: .whitespacesAndNewlines))))

        // Without a password, and with one: refused, the hash and the token as they were, no membership in B.
        for args in [["--workspace", String(b)], ["--workspace", String(b), "--password", "someone else's password"]] {
            let r = try runCommand([bin, "user", "create", "--email", email.uppercased(), "--role", "owner"] + args, environment: settings)
            #expect(r.status == 65, "\(args): \(r.stderr)")
            #expect(r.stderr.contains("user_exists"), "\(r.stderr)")
            #expect(r.stderr.contains("--keep-password") && r.stderr.contains("--reset-password"))
            #expect(try hash() == original)
            #expect(try Tokens.authenticate(conn, token: token) != nil)
            #expect(try conn.query("SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id WHERE lower(u.email) = lower(\(email)) AND m.workspace_id = \(b)").isEmpty)
        }
        // --keep-password with a password is a contradiction; --reset-password without one too.
        #expect(try create("--workspace", String(b), "--keep-password", "--password", "x password y").status != 0)
        #expect(try create("--workspace", String(b), "--reset-password").status != 0)
        // Said on purpose: kept, and added to B.
        let kept = try create("--workspace", String(b), "--keep-password")
        #expect(kept.status == 0, "\(kept.stderr)")
        #expect(try hash() == original)
        #expect(try Tokens.authenticate(conn, token: token) != nil)
        // Replaced on purpose: a new hash, every token revoked.
        let reset = try create("--workspace", String(b), "--reset-password", "--password", "a brand new password")
        #expect(reset.status == 0, "\(reset.stderr)")
        #expect(try hash() != original)
        #expect(try Tokens.authenticate(conn, token: token) == nil)
    }

    @Test("user create and set-password refuse 11 characters (weak_password) and a breached password (breached_password)")
    func passwordPolicy() throws {
        let env = try StackEnvironment.shared()
        let conn = try PGConnection(try env.databaseURL)
        let tag = Crypto.hex(Crypto.randomBytes(4))
        let ws = try Workspaces.create(conn, name: "Pol \(tag)", timezone: "UTC").id
        let email = "pol-\(tag)@e2e.test"
        _ = try Users.create(conn, email: email, passwordHash: PasswordHash.hash("old password!", iterations: 1000), workspaceID: ws, role: .staff)
        let bin = (ProcessInfo.processInfo.environment["BIN_DIR"] ?? "\(projectRoot)/.build/debug") + "/medsync-jobs"
        let settings = ["DATABASE_URL": try env.databaseURL,
                        "MEDSYNC_COMMON_PASSWORDS": "\(projectRoot)/data/common-passwords.txt.gz"]
        for (password, code) in [("elevenchars", "weak_password"), ("Password1234", "breached_password")] {
            let set = try runCommand([bin, "user", "set-password", "--user", email, "--password", password], environment: settings)
            #expect(set.status == 65, "\(set.stderr)")
            #expect(set.stderr.contains(code), "\(set.stderr)")
            let create = try runCommand([bin, "user", "create", "--email", "new-\(tag)@e2e.test", "--workspace", String(ws),
                                         "--role", "staff", "--password", password], environment: settings)
            #expect(create.status == 65, "\(create.stderr)")
            #expect(create.stderr.contains(code), "\(create.stderr)")
        }
        #expect(try Users.find(conn, email: "new-\(tag)@e2e.test") == nil)
        let ok = try runCommand([bin, "user", "set-password", "--user", email, "--password", "twelve chars"], environment: settings)
        #expect(ok.status == 0, "\(ok.stderr)")
    }
}
