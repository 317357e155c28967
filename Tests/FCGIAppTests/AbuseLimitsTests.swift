import Domain
import FastCGI
import Foundation
import Testing
import TestSupport
@testable import FCGIApp
import MedsyncCrypto
import Postgres

/// Sign-in throttling, the cap on concurrent password hashes, token expiry and revocation, the
/// bounded metrics label.
@Suite(.needsStack) struct AbuseLimitsTests {
    static func login(_ w: StaffWorld, _ email: String, _ password: String, remote: String = "203.0.113.9") -> StaffWorld.Answer {
        w.call("POST", "/api/auth/login", json: ["email": email, "password": password], remote: remote)
    }

    @Test("50 wrong passwords for one account from one address: 429 with Retry-After after the threshold; the right password works once the lock passes")
    func fiftyWrongPasswords() throws {
        let w = try StaffWorld(environment: ["MEDSYNC_LOGIN_WINDOW_SECONDS": "2", "MEDSYNC_LOGIN_MAX_FAILURES": "5",
                                             "MEDSYNC_LOGIN_MAX_FAILURES_PER_ADDRESS": "100"])
        let ws = try w.workspace("A")
        let doc = try w.member("doc@a.example", workspace: ws, role: .doctor, password: "correct horse")

        var answers: [StaffWorld.Answer] = []
        for i in 0..<50 { answers.append(Self.login(w, "Doc@A.example", "wrong \(i)")) }
        // The threshold: five wrong passwords are 401; the sixth attempt is refused before any hash.
        for a in answers.prefix(5) {
            #expect(a.status == 401)
            #expect(a.errorCode == "invalid_credentials")
        }
        let sixth = answers[5]
        #expect(sixth.status == 429, "\(sixth.text)")
        #expect(sixth.errorCode == "too_many_attempts")
        let retry = try #require(sixth.header("Retry-After").flatMap(Int.init))
        #expect((1...2).contains(retry))
        // Nothing got in; each lockout let exactly five wrong passwords be checked (the loop is far
        // shorter than a lock, so normally one lockout: 5 × 401 then 45 × 429).
        #expect(answers.allSatisfy { $0.status == 401 || $0.status == 429 })
        let row = try #require(try w.conn.query("SELECT lockouts, failures FROM login_throttle WHERE scope = 'account' AND key = \("user:\(doc.id)")").first)
        let lockouts = try #require(row.int("lockouts"))
        #expect(lockouts >= 1)
        #expect(answers.filter { $0.status == 401 }.count == 5 * lockouts + (row.int("failures") ?? 0))
        #expect(answers.filter { $0.status == 429 }.allSatisfy { $0.header("Retry-After").flatMap(Int.init).map { $0 >= 1 } == true })

        // Locked: from the address that failed, even the right password is refused, and a locked attempt does not count.
        let locked = Self.login(w, "doc@a.example", "correct horse")
        if locked.status != 200 {
            #expect(locked.status == 429)
            #expect(locked.errorCode == "too_many_attempts")
        }
        // Once the lock passes, the right password signs in (waiting out each Retry-After).
        var last = locked
        var tries = 0
        while last.status == 429, tries < 4 {
            let seconds = last.header("Retry-After").flatMap(Int.init) ?? 1
            Thread.sleep(forTimeInterval: Double(seconds) + 0.3)
            last = Self.login(w, "doc@a.example", "correct horse")
            tries += 1
        }
        #expect(last.status == 200, "\(last.text)")
        #expect(last.json["token"] is String)
        // Success clears the account's count: one wrong password later is a plain 401 again.
        #expect(Self.login(w, "doc@a.example", "wrong again").status == 401)
        #expect(try w.conn.query("SELECT failures FROM login_throttle WHERE scope = 'account' AND key = \("user:\(doc.id)")")
            .first?.int("failures") == 1)
    }

    @Test("one address trying many accounts is locked after its own limit, for every account; other addresses are not")
    func addressLimit() throws {
        let w = try StaffWorld(environment: ["MEDSYNC_LOGIN_MAX_FAILURES": "5", "MEDSYNC_LOGIN_MAX_FAILURES_PER_ADDRESS": "8"])
        let ws = try w.workspace("A")
        _ = try w.member("real@a.example", workspace: ws, role: .staff, password: "correct horse")
        for i in 0..<8 {
            #expect(Self.login(w, "user\(i)@a.example", "guess", remote: "198.51.100.4").status == 401)
        }
        let refused = Self.login(w, "real@a.example", "correct horse", remote: "198.51.100.4")
        #expect(refused.status == 429)
        #expect(refused.errorCode == "too_many_attempts")
        #expect(refused.header("Retry-After") != nil)
        // The account itself is not locked: from another address it signs in.
        #expect(Self.login(w, "real@a.example", "correct horse", remote: "198.51.100.5").status == 200)
        // A forged X-Real-IP / X-Forwarded-For changes nothing: only REMOTE_ADDR counts.
        let forged = w.call("POST", "/api/auth/login", json: ["email": "real@a.example", "password": "correct horse"],
                            headers: ["X-Real-IP": "192.0.2.77", "X-Forwarded-For": "192.0.2.77"], remote: "198.51.100.4")
        #expect(forged.status == 429)
    }

    @Test("more password hashes at once than the cap: 503 auth_busy with Retry-After; fine once a slot frees")
    func hashCap() throws {
        let gate = HashGate(limit: 1, wait: 0.05)
        let w = try StaffWorld(hashGate: gate)
        let ws = try w.workspace("A")
        _ = try w.member("doc@a.example", workspace: ws, role: .doctor, password: "correct horse")

        // Another sign-in holds the only slot until we release it.
        let holding = DispatchSemaphore(value: 0)
        let release = DispatchSemaphore(value: 0)
        let done = DispatchSemaphore(value: 0)
        Thread {
            _ = try? gate.run { holding.signal(); release.wait() }
            done.signal()
        }.start()
        holding.wait()
        let busy = Self.login(w, "doc@a.example", "correct horse")
        #expect(busy.status == 503)
        #expect(busy.errorCode == "auth_busy")
        #expect(busy.header("Retry-After") == "1")
        // A busy answer is not a failed sign-in.
        #expect(try w.conn.query("SELECT count(*) AS n FROM login_throttle").first?.int("n") == 0)
        release.signal()
        done.wait()
        #expect(Self.login(w, "doc@a.example", "correct horse").status == 200)
    }

    @Test("tokens expire: each use slides expires_at forward by the TTL; an expired token is 401 token_expired")
    func tokenExpiry() throws {
        let w = try StaffWorld(environment: ["MEDSYNC_TOKEN_TTL_SECONDS": "3600"])
        let ws = try w.workspace("A")
        _ = try w.member("doc@a.example", workspace: ws, role: .doctor, password: "correct horse")
        let login = Self.login(w, "doc@a.example", "correct horse")
        let token = try #require(login.json["token"] as? String)
        func secondsLeft() throws -> Double {
            let row = try #require(try w.conn.query("""
                SELECT extract(epoch FROM expires_at - now())::float8 AS left FROM api_tokens WHERE token_hash = \(PGBytea(Tokens.hash(token)))
                """).first)
            return try #require(row.double("left"))
        }
        // Created with the configured TTL (one hour here).
        #expect((3500...3600).contains(try secondsLeft()))

        // Nearly expired, then used: the use extends it by the TTL again.
        try w.conn.execute("UPDATE api_tokens SET expires_at = now() + interval '20 seconds', last_used_at = NULL WHERE token_hash = \(PGBytea(Tokens.hash(token)))")
        #expect(w.call("GET", "/api/me", token: token).status == 200)
        #expect((3500...3600).contains(try secondsLeft()))
        #expect(w.call("GET", "/api/whatsapp/senders", token: token, account: ws).status == 200)

        // Past its expiry: 401 token_expired everywhere, and using it does not revive it.
        try w.conn.execute("UPDATE api_tokens SET expires_at = now() - interval '1 second', last_used_at = NULL WHERE token_hash = \(PGBytea(Tokens.hash(token)))")
        let me = w.call("GET", "/api/me", token: token)
        #expect(me.status == 401)
        #expect(me.errorCode == "token_expired")
        let staff = w.call("GET", "/api/whatsapp/senders", token: token, account: ws)
        #expect(staff.status == 401)
        #expect(staff.errorCode == "token_expired")
        #expect(try secondsLeft() < 0)
        // A revoked token stays plain unauthorized.
        let other = try #require(Self.login(w, "doc@a.example", "correct horse").json["token"] as? String)
        #expect(w.call("POST", "/api/auth/logout", token: other).status == 204)
        #expect(w.call("GET", "/api/me", token: other).errorCode == "unauthorized")
    }

    @Test("the default token lifetimes: 12 hours idle, 30 days absolute")
    func defaultTTL() throws {
        let w = try StaffWorld()
        let ws = try w.workspace("A")
        let member = try w.member("doc@a.example", workspace: ws, role: .doctor)
        let row = try #require(try w.conn.query("""
            SELECT extract(epoch FROM expires_at - now())::float8 AS left, extract(epoch FROM absolute_expires_at - now())::float8 AS absolute
              FROM api_tokens WHERE token_hash = \(PGBytea(Tokens.hash(member.token)))
            """).first)
        let left = try #require(row.double("left"))
        #expect(left > 11.9 * 3600 && left <= 12 * 3600)
        let absolute = try #require(row.double("absolute"))
        #expect(absolute > 29.9 * 86400 && absolute <= 30 * 86400)
    }

    @Test("POST /api/auth/password: the current password is checked, every token of the user is revoked, a new one is returned")
    func passwordChangeRevokesEveryToken() throws {
        let w = try StaffWorld()
        let ws = try w.workspace("A")
        let member = try w.member("doc@a.example", workspace: ws, role: .doctor, password: "correct horse")
        let other = try w.member("other@a.example", workspace: ws, role: .doctor, password: "other horse")
        let session = try #require(Self.login(w, "doc@a.example", "correct horse").json["token"] as? String)

        let wrong = w.call("POST", "/api/auth/password", token: session,
                           json: ["current_password": "nope", "new_password": "battery staple"])
        #expect(wrong.status == 403)
        #expect(wrong.errorCode == "wrong_password")
        let weak = w.call("POST", "/api/auth/password", token: session, json: ["current_password": "correct horse", "new_password": "short"])
        #expect(weak.status == 400)
        #expect(weak.errorCode == "weak_password")
        #expect(w.call("POST", "/api/auth/password", json: ["current_password": "correct horse", "new_password": "battery staple"]).status == 401)
        // Nothing changed so far.
        #expect(w.call("GET", "/api/me", token: member.token).status == 200)

        let changed = w.call("POST", "/api/auth/password", token: session,
                             json: ["current_password": "correct horse", "new_password": "battery staple"])
        #expect(changed.status == 200, "\(changed.text)")
        #expect(changed.json["revoked_tokens"] as? Int == 2)
        let fresh = try #require(changed.json["token"] as? String)
        for old in [session, member.token] {
            let r = w.call("GET", "/api/me", token: old)
            #expect(r.status == 401)
            #expect(r.errorCode == "unauthorized")
        }
        #expect(w.call("GET", "/api/me", token: fresh).status == 200)
        #expect(w.call("GET", "/api/me", token: other.token).status == 200)
        #expect(Self.login(w, "doc@a.example", "correct horse").status == 401)
        #expect(Self.login(w, "doc@a.example", "battery staple").status == 200)
    }

    @Test("a password set any other way (user create over an existing user) revokes the tokens too: the database does it")
    func passwordSetByUpsertRevokes() throws {
        let w = try StaffWorld()
        let ws = try w.workspace("A")
        let member = try w.member("doc@a.example", workspace: ws, role: .doctor, password: "correct horse")
        // Same email, no password: the hash is kept, the token lives.
        _ = try Users.create(w.conn, email: "doc@a.example", workspaceID: ws, role: .doctor)
        #expect(w.call("GET", "/api/me", token: member.token).status == 200)
        _ = try Users.create(w.conn, email: "doc@a.example", passwordHash: PasswordHash.hash("new one!", iterations: 1000),
                             workspaceID: ws, role: .doctor)
        #expect(w.call("GET", "/api/me", token: member.token).status == 401)
    }

    @Test("the /metrics method label is bounded: unknown methods are counted as other")
    func metricsMethodLabel() throws {
        let w = try StaffWorld()
        let metrics = Metrics()
        for method in ["GET", "get", "BREW", "X" + String(repeating: "Y", count: 300), "P\"OST"] {
            let request = Request(method: method, uri: "/api/health", remoteAddress: "127.0.0.1")
            let response = w.router.handle(request, w.ctx)
            metrics.observe(method: request.method, route: w.router.routeLabel(for: request.path), status: response.status, seconds: 0.001)
        }
        let text = metrics.render()
        let methods = Set(text.split(separator: "\n").filter { $0.hasPrefix("medsync_http_requests_total{") }.compactMap { line in
            line.range(of: "method=\"").map { String(line[$0.upperBound...].prefix { $0 != "\"" }) }
        })
        #expect(methods == ["GET", "other"])
        #expect(!text.contains("BREW"))
        #expect(!text.contains("YYYY"))
    }
}
