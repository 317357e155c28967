import Domain
import Foundation
import HTTPClient
import MedsyncCrypto
import Postgres
import Synchronization
import TestSupport
import Testing

/// Sign-ins through nginx and the worker pool of the test stack: a room of people signing in at
/// once, and the headers every answer carries.
@Suite("Sign-in and headers, end to end", .needsStack)
struct SignInEndToEndTests {
    @Test("20 concurrent correct sign-ins (PBKDF2 600k) all get 200: the hash budget waits in line instead of answering 503")
    func twentyConcurrentSignIns() throws {
        let env = try StackEnvironment.shared()
        let conn = try PGConnection(try env.databaseURL)
        let tag = Crypto.hex(Crypto.randomBytes(4))
        let ws = try Workspaces.create(conn, name: "Room \(tag)", timezone: "UTC").id
        let password = "a room of doctors \(tag)"
        let hash = PasswordHash.hash(password)
        #expect(PasswordHash.iterations(of: hash) == 600_000)
        let emails = (0..<20).map { "room-\(tag)-\($0)@e2e.test" }
        for email in emails { _ = try Users.create(conn, email: email, passwordHash: hash, workspaceID: ws, role: .staff) }
        let url = try env.appURL + "/api/auth/login"

        let results = Mutex<[(status: Int, seconds: Double, code: String)]>([])
        let start = DispatchSemaphore(value: 0)
        let group = DispatchGroup()
        for email in emails {
            group.enter()
            Thread {
                defer { group.leave() }
                let body = try? JSONSerialization.data(withJSONObject: ["email": email, "password": password])
                start.wait()
                let t0 = Date()
                let r = try? http(HTTPRequest(method: "POST", url: url, headers: [("Content-Type", "application/json")], body: Array(body ?? Data())))
                let seconds = Date().timeIntervalSince(t0)
                let code = r.flatMap { (try? JSONSerialization.jsonObject(with: Data($0.body))) as? [String: Any] }
                    .flatMap { ($0["error"] as? [String: Any])?["code"] as? String } ?? ""
                results.withLock { $0.append((r?.status ?? 0, seconds, code)) }
            }.start()
        }
        let t0 = Date()
        for _ in emails { start.signal() }
        group.wait()
        let wall = Date().timeIntervalSince(t0)
        let all = results.withLock { $0 }
        let times = all.map(\.seconds).sorted()
        print(String(format: "20 concurrent sign-ins: wall %.2f s, fastest %.2f s, median %.2f s, slowest %.2f s; statuses %@",
                     wall, times.first ?? 0, times[times.count / 2], times.last ?? 0, "\(all.map(\.status).sorted())"))
        #expect(all.count == 20)
        #expect(all.allSatisfy { $0.status == 200 }, "\(all.map { "\($0.status) \($0.code)" })")
    }

    @Test("through nginx: API answers are Cache-Control: no-store; the CSP has base-uri, form-action and object-src; Permissions-Policy is sent")
    func headersThroughNginx() throws {
        let env = try StackEnvironment.shared()
        let api = try httpGet(try env.appURL + "/api/health")
        func header(_ r: HTTPResponse, _ name: String) -> String? { r.headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
        #expect(header(api, "Cache-Control") == "no-store")
        let page = try httpGet(try env.appURL + "/")
        for r in [api, page] {
            let csp = try #require(header(r, "Content-Security-Policy"))
            for directive in ["default-src 'self'", "frame-ancestors 'none'", "base-uri 'none'", "form-action 'self'", "object-src 'none'"] {
                #expect(csp.contains(directive), "\(csp)")
            }
            #expect(header(r, "Permissions-Policy")?.contains("camera=()") == true)
        }
    }
}
