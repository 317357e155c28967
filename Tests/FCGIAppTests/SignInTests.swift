import Domain
import FastCGI
import Foundation
import Testing
import TestSupport
@testable import FCGIApp
import MedsyncCrypto
import Postgres

/// Issue 22, item 4 and the session bullets: one normalization of emails, soft lockout, IPv6 /64
/// address keys, stronger hashes (rehash on sign-in), the password policy, absolute session
/// lifetime, the session list and "sign out everywhere", no-store on API answers.
@Suite(.needsStack) struct SignInTests {
    static func login(_ w: StaffWorld, _ email: String, _ password: String, remote: String = "203.0.113.9",
                      agent: String? = nil) -> StaffWorld.Answer {
        w.call("POST", "/api/auth/login", json: ["email": email, "password": password],
               headers: agent.map { ["User-Agent": $0] } ?? [:], remote: remote)
    }

    static func lock(_ w: StaffWorld, _ email: String, remote: String, failures: Int = 5) {
        for i in 0..<failures { _ = login(w, email, "wrong \(i)", remote: remote) }
    }

    @Test("İ: a locked admin@ is not reached by admİn@ with the right password; there is one spelling of an email")
    func dottedCapitalI() throws {
        let w = try StaffWorld(environment: ["MEDSYNC_LOGIN_MAX_FAILURES": "5", "MEDSYNC_LOGIN_MAX_FAILURES_PER_ADDRESS": "100"])
        let ws = try w.workspace("A")
        _ = try w.member("admin@demo.example", workspace: ws, role: .owner, password: "correct horse")
        Self.lock(w, "admin@demo.example", remote: "198.51.100.7")
        #expect(Self.login(w, "admin@demo.example", "correct horse", remote: "198.51.100.7").status == 429)
        // The old code answered 200 with a token here: Swift's lowercased() keyed the throttle, PostgreSQL's lower() found the row.
        for spelling in ["admİn@demo.example", "ADMİN@DEMO.EXAMPLE", "admİn@demo.example "] {
            let r = Self.login(w, spelling, "correct horse", remote: "198.51.100.7")
            #expect(r.status != 200, "\(spelling): \(r.text)")
            #expect(["invalid_credentials", "too_many_attempts"].contains(r.errorCode ?? ""), "\(r.text)")
            #expect(r.json["token"] == nil)
        }
        // The one function: storage, lookup and the throttle agree on every spelling.
        #expect(Users.emailKey(" ADMİN@Demo.Example") == Users.emailKey("admİn@demo.example"))
        #expect(Users.emailKey("ＡＤＭＩＮ@demo.example") == "admin@demo.example")
        #expect(try Users.find(w.conn, email: "ＡＤＭＩＮ@DEMO.example")?.email == "admin@demo.example")
        #expect(try Users.find(w.conn, email: "admİn@demo.example") == nil)
    }

    @Test("soft lockout: a locked account's owner signs in from a clean address with the right password (200); the failing address stays refused")
    func lockedAccountCleanAddress() throws {
        let w = try StaffWorld(environment: ["MEDSYNC_LOGIN_MAX_FAILURES": "5", "MEDSYNC_LOGIN_MAX_FAILURES_PER_ADDRESS": "100"])
        let ws = try w.workspace("A")
        let doc = try w.member("doc@a.example", workspace: ws, role: .doctor, password: "correct horse")
        Self.lock(w, "doc@a.example", remote: "198.51.100.66")
        let attacker = Self.login(w, "doc@a.example", "correct horse", remote: "198.51.100.66")
        #expect(attacker.status == 429)
        #expect(attacker.errorCode == "too_many_attempts")
        #expect(try w.conn.query("SELECT locked_until > now() AS locked FROM login_throttle WHERE scope = 'account' AND key = \("user:\(doc.id)")")
            .first?.string("locked") == "t")
        // The owner, elsewhere: the password is checked, and it is right.
        let owner = Self.login(w, "Doc@A.example", "correct horse", remote: "192.0.2.10")
        #expect(owner.status == 200, "\(owner.text)")
        #expect(owner.json["token"] is String)
        // A wrong guess from another clean address is a plain 401 (checked), and that address is then refused too.
        let w2 = try StaffWorld(environment: ["MEDSYNC_LOGIN_MAX_FAILURES": "5"])
        let ws2 = try w2.workspace("B")
        _ = try w2.member("doc@b.example", workspace: ws2, role: .doctor, password: "correct horse")
        Self.lock(w2, "doc@b.example", remote: "198.51.100.66")
        #expect(Self.login(w2, "doc@b.example", "guess", remote: "192.0.2.11").status == 401)
        #expect(Self.login(w2, "doc@b.example", "correct horse", remote: "192.0.2.11").status == 429)
    }

    @Test("IPv6: addresses in one /64 share the per-address limit; the next /64 does not; IPv4-mapped counts as IPv4")
    func ipv6Prefix() throws {
        let w = try StaffWorld(environment: ["MEDSYNC_LOGIN_MAX_FAILURES": "50", "MEDSYNC_LOGIN_MAX_FAILURES_PER_ADDRESS": "3"])
        let ws = try w.workspace("A")
        _ = try w.member("real@a.example", workspace: ws, role: .staff, password: "correct horse")
        for (i, host) in ["2001:db8:1:2::a", "2001:db8:1:2:ffff::1", "2001:DB8:1:2:0:0:0:c"].enumerated() {
            #expect(Self.login(w, "user\(i)@a.example", "guess", remote: host).status == 401)
        }
        let same = Self.login(w, "real@a.example", "correct horse", remote: "2001:db8:1:2:abcd::99")
        #expect(same.status == 429, "\(same.text)")
        #expect(same.errorCode == "too_many_attempts")
        #expect(Self.login(w, "real@a.example", "correct horse", remote: "2001:db8:1:3::1").status == 200)
        #expect(LoginThrottle.addressKey("2001:db8:1:2::a") == "2001:db8:1:2::/64")
        #expect(LoginThrottle.addressKey("::ffff:198.51.100.4") == "198.51.100.4")
        #expect(LoginThrottle.addressKey("198.51.100.4") == "198.51.100.4")
        #expect(LoginThrottle.addressKey("fe80::1%eth0") == "fe80:0:0:0::/64")
    }

    @Test("locks do not double forever: at most 16 windows and an hour")
    func lockCap() throws {
        let w = try StaffWorld(environment: ["MEDSYNC_LOGIN_WINDOW_SECONDS": "600", "MEDSYNC_LOGIN_MAX_FAILURES": "1"])
        let ws = try w.workspace("A")
        let doc = try w.member("doc@a.example", workspace: ws, role: .doctor, password: "correct horse")
        try w.conn.execute("""
            INSERT INTO login_throttle (scope, key, failures, window_start, lockouts, locked_until)
            VALUES ('account', \("user:\(doc.id)"), 0, now(), 30, now() - interval '1 second')
            """)
        _ = Self.login(w, "doc@a.example", "wrong", remote: "192.0.2.50")
        let seconds = try #require(try w.conn.query("""
            SELECT extract(epoch FROM locked_until - now())::float8 AS s FROM login_throttle WHERE scope = 'account' AND key = \("user:\(doc.id)")
            """).first?.double("s"))
        #expect(seconds > 3500 && seconds <= 3600, "\(seconds)")
    }

    @Test("a stored 210k-iteration hash is replaced by a 600k one at sign-in, without revoking the user's sessions")
    func rehashOnSignIn() throws {
        let w = try StaffWorld()
        let ws = try w.workspace("A")
        let user = try Users.create(w.conn, email: "old@a.example", passwordHash: PasswordHash.hash("an old password", iterations: 210_000),
                                    workspaceID: ws, role: .doctor)
        let earlier = try Tokens.create(w.conn, userID: user.id)
        func stored() throws -> String? { try w.conn.query("SELECT password_hash FROM users WHERE id = \(user.id)").first?.string("password_hash") }
        #expect(PasswordHash.iterations(of: try #require(try stored())) == 210_000)
        #expect(Self.login(w, "old@a.example", "wrong password!").status == 401)
        #expect(PasswordHash.iterations(of: try #require(try stored())) == 210_000)
        #expect(Self.login(w, "old@a.example", "an old password").status == 200)
        let now = try #require(try stored())
        #expect(PasswordHash.iterations(of: now) == 600_000)
        #expect(PasswordHash.verify("an old password", against: now))
        #expect(w.call("GET", "/api/me", token: earlier).status == 200)
        #expect(Self.login(w, "old@a.example", "an old password").status == 200)
        #expect(try stored() == now)
        #expect(PasswordHash.defaultIterations == 600_000)
        #expect(!PasswordHash.needsRehash(now))
    }

    @Test("a new password of 11 characters is weak_password, a breached one breached_password: password change and a new account by invitation")
    func passwordPolicy() throws {
        let w = try StaffWorld()
        let ws = try w.workspace("A")
        let owner = try w.member("owner@a.example", workspace: ws, role: .owner, password: "correct horse")
        let session = try #require(Self.login(w, "owner@a.example", "correct horse").json["token"] as? String)
        for (new, code) in [("elevenchars", "weak_password"), ("password1234", "breached_password"), ("PassWord1234", "breached_password"),
                            ("iloveyou2010", "breached_password"), ("123456789012", "breached_password")] {
            let r = w.call("POST", "/api/auth/password", token: session, json: ["current_password": "correct horse", "new_password": new])
            #expect(r.status == 400, "\(new): \(r.text)")
            #expect(r.errorCode == code, "\(new): \(r.text)")
            // An invitee choosing the password of a new account meets the same policy.
            let invited = w.call("POST", "/api/members", token: owner.token, account: ws,
                                 json: ["email": "new-\(new.count)@a.example", "role": "staff"])
            let link = try #require(invited.json["token"] as? String, "\(invited.text)")
            let m = w.call("POST", "/api/invitations/accept", json: ["token": link, "password": new, "name": "New"])
            #expect(m.status == 400, "\(new): \(m.text)")
            #expect(m.errorCode == code, "\(new): \(m.text)")
        }
        #expect(w.call("GET", "/api/me", token: session).status == 200)
        let ok = w.call("POST", "/api/auth/password", token: session, json: ["current_password": "correct horse", "new_password": "twelve chars"])
        #expect(ok.status == 200, "\(ok.text)")
        #expect(PasswordPolicy.minimumLength == 12)
    }

    @Test("a session older than its absolute lifetime is refused even though it was used a moment ago")
    func absoluteLifetime() throws {
        let w = try StaffWorld(environment: ["MEDSYNC_TOKEN_TTL_SECONDS": "3600", "MEDSYNC_TOKEN_MAX_AGE_SECONDS": "7200"])
        let ws = try w.workspace("A")
        _ = try w.member("doc@a.example", workspace: ws, role: .doctor, password: "correct horse")
        let token = try #require(Self.login(w, "doc@a.example", "correct horse").json["token"] as? String)
        let hash = PGBytea(Tokens.hash(token))
        let row = try #require(try w.conn.query("""
            SELECT extract(epoch FROM absolute_expires_at - created_at)::float8 AS age, extract(epoch FROM expires_at - now())::float8 AS idle
              FROM api_tokens WHERE token_hash = \(hash)
            """).first)
        #expect(row.double("age").map { abs($0 - 7200) < 2 } == true)
        #expect(row.double("idle").map { $0 > 3500 && $0 <= 3600 } == true)
        // Near the absolute end, a use slides the idle expiry only up to it.
        try w.conn.execute("UPDATE api_tokens SET absolute_expires_at = now() + interval '10 minutes', last_used_at = NULL WHERE token_hash = \(hash)")
        #expect(w.call("GET", "/api/me", token: token).status == 200)
        #expect(try w.conn.query("SELECT expires_at <= absolute_expires_at AS ok FROM api_tokens WHERE token_hash = \(hash)").first?.string("ok") == "t")
        // Made 31 days ago, used a minute ago, idle expiry still ahead: refused.
        try w.conn.execute("""
            UPDATE api_tokens SET created_at = now() - interval '31 days', absolute_expires_at = now() - interval '1 day',
                   last_used_at = now() - interval '1 minute', expires_at = now() + interval '1 hour' WHERE token_hash = \(hash)
            """)
        let r = w.call("GET", "/api/me", token: token)
        #expect(r.status == 401)
        #expect(r.errorCode == "token_expired")
        #expect(w.call("GET", "/api/auth/sessions", token: token).status == 401)
    }

    @Test("GET /api/auth/sessions lists one's own sessions (never a token); DELETE ends one; logout-all ends every one")
    func sessionsAndSignOutEverywhere() throws {
        let w = try StaffWorld()
        let ws = try w.workspace("A")
        let doc = try w.member("doc@a.example", workspace: ws, role: .doctor, password: "correct horse")
        let other = try w.member("other@a.example", workspace: ws, role: .doctor, password: "other horse!")
        let phone = try #require(Self.login(w, "doc@a.example", "correct horse", remote: "203.0.113.77", agent: "Phone\u{7}Browser/1.0").json["token"] as? String)
        let laptop = try #require(Self.login(w, "doc@a.example", "correct horse", remote: "2001:db8:5:6::7", agent: "Laptop/2.0").json["token"] as? String)

        let list = w.call("GET", "/api/auth/sessions", token: laptop)
        #expect(list.status == 200, "\(list.text)")
        #expect(list.header("Cache-Control") == "no-store")
        let items = list.items
        #expect(items.count == 3)
        #expect(!list.text.contains(phone) && !list.text.contains(laptop) && !list.text.contains(doc.token) && !list.text.contains("msk_"))
        let current = items.filter { $0["current"] as? Bool == true }
        #expect(current.count == 1)
        #expect(current.first?["user_agent"] as? String == "Laptop/2.0")
        #expect(current.first?["address_prefix"] as? String == "2001:db8:5:6::/64")
        let phoneItem = try #require(items.first { $0["user_agent"] as? String == "PhoneBrowser/1.0" })
        #expect(phoneItem["address_prefix"] as? String == "203.0.113.0/24")
        #expect(phoneItem["created_at"] is String)
        #expect(Set(items.flatMap { $0.keys }) == ["id", "created_at", "last_used_at", "expires_at", "user_agent", "address_prefix", "current"])

        // Another user's session id is not found (and stays alive).
        let otherID = try #require(try w.conn.query("SELECT id FROM api_tokens WHERE user_id = \(other.id)").first?.int("id"))
        let foreign = w.call("DELETE", "/api/auth/sessions/\(otherID)", token: laptop)
        #expect(foreign.status == 404)
        #expect(foreign.errorCode == "session_not_found")
        #expect(w.call("GET", "/api/me", token: other.token).status == 200)
        let malformed = w.call("DELETE", "/api/auth/sessions/abc", token: laptop)
        #expect([400, 404].contains(malformed.status), "\(malformed.text)")

        let phoneID = try #require(phoneItem["id"] as? Int)
        #expect(w.call("DELETE", "/api/auth/sessions/\(phoneID)", token: laptop).status == 204)
        #expect(w.call("GET", "/api/me", token: phone).errorCode == "unauthorized")
        #expect(w.call("DELETE", "/api/auth/sessions/\(phoneID)", token: laptop).status == 404)
        #expect(w.call("GET", "/api/auth/sessions", token: laptop).items.count == 2)

        let all = w.call("POST", "/api/auth/logout-all", token: laptop)
        #expect(all.status == 200, "\(all.text)")
        #expect(all.json["revoked_tokens"] as? Int == 2)
        for t in [laptop, doc.token] { #expect(w.call("GET", "/api/me", token: t).status == 401) }
        #expect(w.call("GET", "/api/me", token: other.token).status == 200)
        #expect(w.call("GET", "/api/auth/sessions").status == 401)
        #expect(w.call("POST", "/api/auth/logout-all").status == 401)
    }

    @Test("every API answer carries Cache-Control: no-store (success, error, unknown route)")
    func noStore() throws {
        let w = try StaffWorld()
        let ws = try w.workspace("A")
        let doc = try w.member("doc@a.example", workspace: ws, role: .doctor)
        for r in [w.call("GET", "/api/me", token: doc.token), w.call("GET", "/api/health"),
                  w.call("GET", "/api/patients", token: doc.token, account: ws), w.call("GET", "/api/patients"),
                  w.call("GET", "/api/nothing-here"), w.call("PUT", "/api/me", token: doc.token)] {
            #expect(r.header("Cache-Control") == "no-store", "\(r.status) \(r.text)")
        }
    }
}
