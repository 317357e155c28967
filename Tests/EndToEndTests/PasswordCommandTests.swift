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
