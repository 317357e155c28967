import Domain
import FastCGI
import Foundation
import MedsyncConfig
import MedsyncLog
import Testing
import TestSupport
@testable import FCGIApp
import Postgres

/// What the workers write to the journal: one line per event with its metadata, and never a row
/// value from PostgreSQL's DETAIL or a secret from the configuration.
@Suite(.needsStack) struct LogSafetyTests {
    static let authToken = "tok-9f8e7d6c5b4a39281706f5e4d3c2b1a0"
    static let phone = "+5215512345678"

    func context(_ log: CapturedLog) throws -> AppContext {
        let config = try Config.load(environment: [
            "DATABASE_URL": try TestDatabase.create(),
            "TWILIO_ACCOUNT_SID": "AC" + String(repeating: "1", count: 32),
            "TWILIO_AUTH_TOKEN": Self.authToken,
            "TWILIO_WEBHOOK_BASE_URL": "https://app.example.com",
        ], dotEnvPath: nil)
        return AppContext(config: config, logger: log.logger())
    }

    @Test func aUniqueViolationIsLoggedWithoutTheRowValuesOfItsDetail() throws {
        let log = CapturedLog()
        let ctx = try context(log)
        var router = Router()
        router.post("/api/dup") { _, ctx in
            let db = ctx.db()
            let workspace = try db.query("INSERT INTO workspaces (name) VALUES ('Clinica') RETURNING id").one().decode(Int64.self, "id")
            for _ in 0..<2 {
                try db.execute("INSERT INTO patients (workspace_id, phone) VALUES (\(workspace), \(LogSafetyTests.phone))")
            }
            return .json(200, ["ok": true])
        }
        var request = Request(method: "POST", uri: "/api/dup")
        request.requestID = "0123456789abcdef"
        let response = router.handle(request, ctx)
        #expect(response.status == 500)
        #expect(try errorBody(response).error.code == "internal_error")
        // PostgreSQL's DETAIL said: Key (workspace_id, phone)=(1, +5215512345678) already exists.
        let line = try #require(log.lines.first { $0.contains("23505") }, "\(log.lines)")
        #expect(line.hasPrefix("medsync: error: POST /api/dup: PGError(unique_violation, SQLSTATE 23505)"), "\(line)")
        #expect(line.contains("patients_workspace_id_phone_key"), "\(line)")
        #expect(line.hasSuffix(" request_id=0123456789abcdef"), "\(line)")
        #expect(!log.text.contains("5215512345678"), "\(log.text)")
        #expect(!log.text.contains("DETAIL"), "\(log.text)")
        #expect(!String(decoding: response.body, as: UTF8.self).contains("5215512345678"))
    }

    @Test func aForgedWebhookIsLoggedWithItsIdsAndWithoutTheAuthToken() throws {
        let log = CapturedLog()
        let ctx = try context(log)
        let form = "From=whatsapp%3A%2B5215512345678&To=whatsapp%3A%2B14155550100&MessageSid=SM0123&Body=hola"
        var request = Request(method: "POST", uri: "/api/webhooks/whatsapp",
                              headers: ["Content-Type": "application/x-www-form-urlencoded",
                                        "X-Twilio-Signature": "bm90IHRoZSBzaWduYXR1cmU="],
                              body: Array(form.utf8))
        request.requestID = "req42"
        let response = Router.medsync().handle(request, ctx)
        #expect(response.status == 403)
        #expect(try errorBody(response).error.code == "invalid_signature")
        #expect(log.lines == ["medsync: warning: inbound webhook with an invalid signature for https://app.example.com/api/webhooks/whatsapp "
                              + "(To +14155550100) message_sid=SM0123 request_id=req42"])
        #expect(!log.text.contains(Self.authToken))
    }

    @Test func aStaffRequestThatFailsIsLoggedWithItsWorkspace() throws {
        let log = CapturedLog()
        let w = try StaffWorld(logger: log.logger())   // Twilio at 127.0.0.1:9: nothing answers
        let a = try w.workspace("A")
        let owner = try w.member("o@a.example", workspace: a, role: .owner)
        let r = w.call("POST", "/api/whatsapp/provision", token: owner.token, account: a, json: ["clinic_name": "A", "country": "US"])
        #expect(r.status == 504, "\(r.text)")
        #expect(r.errorCode == "twilio_unavailable")
        let line = try #require(log.lines.first { $0.contains("POST /api/whatsapp/provision") }, "\(log.lines)")
        #expect(line.hasPrefix("medsync: error: POST /api/whatsapp/provision: AppError(twilio_unavailable)"), "\(line)")
        #expect(line.contains(" workspace_id=\(a)"), "\(line)")
        #expect(!log.text.contains("master-token"), "\(log.text)")
    }
}
