import Domain
import FastCGI
import Foundation
import MedsyncLog
import Testing
import TestSupport
@testable import FCGIApp
import MedsyncCrypto
import MedsyncConfig
import Postgres

/// One fresh database, the real router and a worker context, plus helpers to seed rows and call the
/// API in-process as a given user.
final class StaffWorld {
    let url: String
    let conn: PGConnection
    let config: Config
    let ctx: AppContext
    let router = Router.medsync()
    static let fernetKey = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="

    init(environment extra: [String: String] = [:], hashGate: HashGate? = nil, logger: Logger = Logger(label: "medsync.app")) throws {
        url = try TestDatabase.create()
        conn = try PGConnection(url)
        var env = ["DATABASE_URL": url, "MEDSYNC_FERNET_KEY": StaffWorld.fernetKey,
                   "TWILIO_WEBHOOK_BASE_URL": "https://clinic.example", "TWILIO_ACCOUNT_SID": "AC" + String(repeating: "0", count: 32),
                   "TWILIO_AUTH_TOKEN": "master-token", "TWILIO_API_BASE_URL": "http://127.0.0.1:9"]
        env.merge(extra) { $1 }
        config = try Config.load(environment: env, dotEnvPath: nil)
        ctx = AppContext(config: config, hashGate: hashGate, logger: logger)
    }

    struct Answer {
        let status: Int
        let body: [UInt8]
        var headers: [(String, String)] = []
        func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
        var text: String { String(decoding: body, as: UTF8.self) }
        var json: [String: Any] { (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] ?? [:] }
        var errorCode: String? { (json["error"] as? [String: Any])?["code"] as? String }
        var errorMessage: String { ((json["error"] as? [String: Any])?["message"] as? String) ?? "" }
        var items: [[String: Any]] { json["items"] as? [[String: Any]] ?? [] }
    }

    func call(_ method: String, _ uri: String, token: String? = nil, account: Int64? = nil, json: Any? = nil,
              body: [UInt8]? = nil, headers: [String: String] = [:], remote: String = "10.0.0.7") -> Answer {
        var h = headers
        if let token { h["Authorization"] = "Bearer \(token)" }
        if let account { h["X-Account-Id"] = String(account) }
        var bytes = body ?? []
        if let json {
            bytes = Array(try! JSONSerialization.data(withJSONObject: json))
            h["Content-Type"] = "application/json"
        }
        let r = router.handle(Request(method: method, uri: uri, headers: h, remoteAddress: remote, body: bytes), ctx)
        return Answer(status: r.status, body: r.body, headers: r.headers)
    }

    func workspace(_ name: String, timezone: String = "UTC") throws -> Int64 {
        try Workspaces.create(conn, name: name, timezone: timezone).id
    }

    /// A member with a token.
    func member(_ email: String, workspace: Int64, role: Role, password: String? = nil) throws -> (id: Int64, token: String) {
        let user = try Users.create(conn, email: email, name: email.split(separator: "@").first.map(String.init),
                                    passwordHash: password.map { PasswordHash.hash($0, iterations: 1000) }, workspaceID: workspace, role: role)
        return (user.id, try Tokens.create(conn, userID: user.id))
    }

    @discardableResult
    func sender(_ workspace: Int64, _ phone: String) throws -> Int64 {
        // Straight into the table (the trigger makes the first active sender primary): the API's
        // link asks Twilio, which these in-process tests do not run.
        let row = try conn.query("INSERT INTO whatsapp_senders (workspace_id, phone_number, display_name) VALUES (\(workspace), \(phone), 'S') RETURNING id").first
        guard let id = row?.int64("id") else { throw TestSetupError("no sender row") }
        return id
    }

    func patient(_ workspace: Int64, name: String, phone: String, language: String = "en", consent: Bool = true) throws -> Int64 {
        try conn.query("""
            INSERT INTO patients (workspace_id, name, phone, preferred_language, consent_whatsapp) VALUES (\(workspace), \(name), \(phone), \(language), \(consent)) RETURNING id
            """).first!.int64("id")!
    }

    /// A conversation with one inbound message `hoursAgo` hours ago (nil: none, window never opened).
    func conversation(_ workspace: Int64, patient: Int64, sender: Int64, inboundText: String? = "hello", hoursAgo: Double = 1) throws -> Int64 {
        let at = Date().addingTimeInterval(-hoursAgo * 3600)
        let id = try conn.query("""
            INSERT INTO whatsapp_conversations (workspace_id, patient_id, sender_id, last_inbound_at, last_message_at, unread_count)
            VALUES (\(workspace), \(patient), \(sender), \(inboundText == nil ? nil : at), \(inboundText == nil ? nil : at), \(inboundText == nil ? 0 : 1)) RETURNING id
            """).first!.int64("id")!
        if let inboundText {
            try message(workspace, conversation: id, body: inboundText, direction: "inbound", at: at)
        }
        return id
    }

    @discardableResult
    func message(_ workspace: Int64, conversation: Int64, body: String, direction: String = "inbound", at: Date = Date()) throws -> Int64 {
        try conn.query("""
            INSERT INTO whatsapp_messages (workspace_id, conversation_id, direction, body, status, twilio_sid, created_at, updated_at)
            VALUES (\(workspace), \(conversation), \(direction), \(body), \(direction == "inbound" ? "received" : "sent"), \("SM" + Crypto.hex(Crypto.randomBytes(16))), \(at), \(at)) RETURNING id
            """).first!.int64("id")!
    }

    func appointment(_ workspace: Int64, patient: Int64, doctor: Int64?, startsIn hours: Double = 48) throws -> Int64 {
        let start = Date().addingTimeInterval(hours * 3600)
        return try conn.query("""
            INSERT INTO appointments (workspace_id, patient_id, doctor_id, starts_at, ends_at) VALUES (\(workspace), \(patient), \(doctor), \(start), \(start.addingTimeInterval(1800))) RETURNING id
            """)
            .first!.int64("id")!
    }
}

@Suite(.needsStack) struct StaffAuthTests {
    @Test func loginMeLogout() throws {
        let w = try StaffWorld()
        let ws = try w.workspace("Clinic A")
        _ = try w.member("Doc@A.example", workspace: ws, role: .doctor, password: "correct horse")

        let bad = w.call("POST", "/api/auth/login", json: ["email": "doc@a.example", "password": "wrong"])
        #expect(bad.status == 401)
        #expect(bad.errorCode == "invalid_credentials")
        let unknown = w.call("POST", "/api/auth/login", json: ["email": "nobody@a.example", "password": "correct horse"])
        #expect(unknown.status == 401)
        #expect(unknown.errorCode == "invalid_credentials")
        let missing = w.call("POST", "/api/auth/login", json: ["email": "doc@a.example"])
        #expect(missing.status == 400)
        #expect(missing.errorMessage.contains("password"))

        let ok = w.call("POST", "/api/auth/login", json: ["email": "doc@a.example", "password": "correct horse"])
        #expect(ok.status == 200, "\(ok.text)")
        let token = try #require(ok.json["token"] as? String)
        let me = w.call("GET", "/api/me", token: token)
        #expect(me.status == 200)
        #expect((me.json["user"] as? [String: Any])?["email"] as? String == "doc@a.example")
        let workspaces = me.json["workspaces"] as? [[String: Any]] ?? []
        #expect(workspaces.count == 1)
        #expect(workspaces.first?["role"] as? String == "doctor")
        #expect(workspaces.first?["id"] as? Int == Int(ws))

        #expect(w.call("POST", "/api/auth/logout", token: token).status == 204)
        let after = w.call("GET", "/api/me", token: token)
        #expect(after.status == 401)
        #expect(after.errorCode == "unauthorized")
    }

    @Test func bearerAndAccountAreRequired() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A")
        let b = try w.workspace("B")
        let owner = try w.member("o@a.example", workspace: a, role: .owner)
        #expect(w.call("GET", "/api/whatsapp/senders").status == 401)
        #expect(w.call("GET", "/api/whatsapp/senders", headers: ["Authorization": "Basic eDp5"], ).status == 401)
        #expect(w.call("GET", "/api/whatsapp/senders", token: "msk_" + String(repeating: "0", count: 64), account: a).status == 401)
        let noAccount = w.call("GET", "/api/whatsapp/senders", token: owner.token)
        #expect(noAccount.status == 400)
        #expect(noAccount.errorCode == "missing_account")
        let other = w.call("GET", "/api/whatsapp/senders", token: owner.token, account: b)
        #expect(other.status == 403)
        #expect(other.errorCode == "forbidden")
        #expect(w.call("GET", "/api/whatsapp/senders", token: owner.token, account: 999_999).status == 403)
        #expect(w.call("GET", "/api/whatsapp/senders", token: owner.token, headers: ["X-Account-Id": "abc"]).status == 403)
        #expect(w.call("GET", "/api/whatsapp/senders", token: owner.token, account: a).status == 200)
    }

    /// doctor and staff → 403 on every owner/admin route; owner and admin_doctor get past the role check.
    @Test(arguments: [Role.doctor, .staff, .owner, .adminDoctor])
    func adminRoutesNeedOwnerOrAdmin(role: Role) throws {
        let w = try StaffWorld()
        let a = try w.workspace("A")
        let user = try w.member("u@a.example", workspace: a, role: role)
        let sender = try w.sender(a, "+14155550100")
        let calls: [(String, String, Any?)] = [
            ("POST", "/api/whatsapp/link-existing", ["phone_number": "+14155550111", "display_name": "x"]),
            ("POST", "/api/whatsapp/provision", ["clinic_name": "A", "country": "US", "area_code": "x"]),
            ("POST", "/api/whatsapp/senders/\(sender)/make-primary", nil),
            ("PUT", "/api/whatsapp/reminder-settings", ["hours_before": 12]),
            ("POST", "/api/whatsapp/bundle/send", ["body": "hi", "recipients": [["phone": "+14155550123"]], "consent_confirmed": true]),
            ("GET", "/api/whatsapp/audit-log", nil),
            ("PUT", "/api/clinic", ["clinic_name": "Renamed"]),
            ("PUT", "/api/whatsapp/templates/followup/content-sids", ["en": "HX" + String(repeating: "0", count: 32)]),
            ("POST", "/api/whatsapp/senders/\(sender)/deactivate", nil),
        ]
        for (method, path, json) in calls {
            let r = w.call(method, path, token: user.token, account: a, json: json)
            if role.isAdmin {
                #expect(r.status != 403, "\(role) \(method) \(path): \(r.text)")
            } else {
                #expect(r.status == 403, "\(role) \(method) \(path): \(r.text)")
                #expect(r.errorCode == "forbidden")
            }
        }
        // Everyone may read.
        #expect(w.call("GET", "/api/whatsapp/senders", token: user.token, account: a).status == 200)
        #expect(w.call("GET", "/api/whatsapp/reminder-settings", token: user.token, account: a).status == 200)
        for path in ["/api/clinic", "/api/doctors", "/api/patients", "/api/appointments", "/api/members"] {
            #expect(w.call("GET", path, token: user.token, account: a).status == 200, "\(role) GET \(path)")
        }
        // Members are managed by owners only (admin doctors included in the refusal).
        let add = w.call("POST", "/api/members", token: user.token, account: a, json: ["email": "n@a.example", "role": "staff"])
        #expect(add.status == (role == .owner ? 201 : 403), "\(role) POST /api/members: \(add.text)")
    }
}
