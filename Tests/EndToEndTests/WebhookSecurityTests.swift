import Domain
import Foundation
import TestSupport
import Testing
import MedsyncCrypto
import HTTPClient
import Postgres

/// Posts a form to the app through nginx, signed with `token` for `signedURL` (nil: no signature header).
func postWebhook(_ env: StackEnvironment, path: String = "/api/webhooks/whatsapp", params: [(String, String)],
                 token: String?, signedURL: String? = nil, rawBody: [UInt8]? = nil) throws -> HTTPResponse {
    let url = try env.appURL + path
    var headers: [(String, String)] = [("Content-Type", "application/x-www-form-urlencoded")]
    if let token {
        headers.append(("X-Twilio-Signature", TwilioSignature.compute(authToken: token, url: signedURL ?? url, params: params)))
    }
    let body = rawBody ?? Array(HTTPRequest.formEncode(params).utf8)
    return try http(HTTPRequest(method: "POST", url: url, headers: headers, body: body))
}

@Suite("Webhook signatures and malformed bodies, end to end through nginx", .needsStack)
struct WebhookSecurityTests {
    func stored(_ clinic: StackClinic) throws -> Int {
        try clinic.count("""
            SELECT (SELECT count(*) FROM patients WHERE workspace_id = $1) + (SELECT count(*) FROM whatsapp_messages WHERE workspace_id = $1) AS n
            """, [PGValue(clinic.workspaceID)])
    }

    @Test("wrong signature, wrong token, http-vs-https URL → 403 and nothing stored")
    func rejected() throws {
        let clinic = try StackClinic()
        let patient = StackClinic.patient()
        let params = [("MessageSid", "SM" + Crypto.hex(Crypto.randomBytes(16))), ("From", "whatsapp:\(patient)"),
                      ("To", "whatsapp:\(clinic.phone)"), ("Body", "hello")]
        let forged = try http(HTTPRequest(method: "POST", url: try clinic.appURL + "/api/webhooks/whatsapp",
                                          headers: [("Content-Type", "application/x-www-form-urlencoded"), ("X-Twilio-Signature", "bm90IGEgc2lnbmF0dXJl")],
                                          body: Array(HTTPRequest.formEncode(params).utf8)))
        #expect(forged.status == 403)
        #expect(errorCode(forged) == "invalid_signature")
        #expect(try postWebhook(clinic.env, params: params, token: nil).status == 403)
        let wrongToken = try clinic.say(patient, "hello", ["auth_token": "ffffffffffffffffffffffffffffffff"])
        #expect(wrongToken.status == 403)
        let https = try clinic.appURL.replacingOccurrences(of: "http://", with: "https://") + "/api/webhooks/whatsapp"
        let mismatch = try clinic.say(patient, "hello", ["signature_url": https])
        #expect(mismatch.status == 403)
        #expect(try stored(clinic) == 0)
        // The same request correctly signed goes through.
        #expect(try clinic.say(patient, "hello").status == 200)
        #expect(try stored(clinic) == 3)
    }

    /// Issue 9: a clinic that knows its own subaccount token must not move another clinic's messages.
    @Test("a status callback signed with a subaccount's token moves only that subaccount's messages")
    func statusCallbackScopedToThePostingAccount() throws {
        let a = try StackClinic(subaccount: true)
        let b = try StackClinic()   // B's sender belongs to the master account
        let master = try a.env["TWILIO_ACCOUNT_SID"]
        let sub = try #require(try a.conn.query("SELECT twilio_subaccount_sid, twilio_subaccount_token_enc FROM whatsapp_senders WHERE workspace_id = \(a.workspaceID)").first)
        let subSID = try #require(sub.string("twilio_subaccount_sid"))
        let subToken = try Fernet(key: try a.env["MEDSYNC_FERNET_KEY"]).decryptString(try #require(sub.string("twilio_subaccount_token_enc")))
        let patient = StackClinic.patient()
        try b.say(patient, "hello")
        let conversation = try #require(try b.conn.query("SELECT id FROM whatsapp_conversations WHERE workspace_id = \(b.workspaceID)").first?.int64("id"))
        let sid = "SM" + Crypto.hex(Crypto.randomBytes(16))
        try b.conn.execute("""
            INSERT INTO whatsapp_messages (workspace_id, conversation_id, direction, body, twilio_sid, status)
            VALUES (\(b.workspaceID), \(conversation), 'outbound', 'B''s message', \(sid), 'queued')
            """)
        func callback(account: String, token: String) throws -> Int {
            try postWebhook(a.env, path: "/api/webhooks/whatsapp/status", params: [
                ("MessageSid", sid), ("MessageStatus", "failed"), ("ErrorCode", "30008"), ("AccountSid", account),
                ("From", "whatsapp:\(a.phone)"), ("To", "whatsapp:\(patient)")], token: token).status
        }
        func status() throws -> String? {
            try b.conn.query("SELECT status FROM whatsapp_messages WHERE twilio_sid = \(sid)").first?.string("status")
        }
        // Signed with A's subaccount token, naming the master account or A's subaccount: acknowledged, nothing moves.
        #expect(try callback(account: master, token: subToken) == 200)
        #expect(try callback(account: subSID, token: subToken) == 200)
        #expect(try status() == "queued")
        // Twilio's own callback for B's message (master account, master token) does.
        #expect(try callback(account: master, token: try a.env["TWILIO_AUTH_TOKEN"]) == 200)
        #expect(try status() == "failed")
    }

    @Test("a number owned by a subaccount verifies with the subaccount's own token")
    func subaccount() throws {
        let clinic = try StackClinic(subaccount: true)
        let r = try clinic.say(StackClinic.patient(), "hello")
        #expect(r.status == 200)
        #expect(r.replies.first?.contains("Available times") == true)
        // Signed with the master token it verifies too (the master account owns its subaccounts).
        let master = try clinic.say(StackClinic.patient(), "hello", ["auth_token": try clinic.env["TWILIO_AUTH_TOKEN"]])
        #expect(master.status == 200)
    }

    @Test("an unknown number: 200 with an empty <Response/>")
    func unknownNumber() throws {
        let env = try StackEnvironment.shared()
        let params = [("MessageSid", "SM" + Crypto.hex(Crypto.randomBytes(16))), ("From", "whatsapp:+5215512345678"),
                      ("To", "whatsapp:+15559990000"), ("Body", "hello")]
        let r = try postWebhook(env, params: params, token: try env["TWILIO_AUTH_TOKEN"])
        #expect(r.status == 200)
        #expect(r.text == "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>")
    }

    @Test("malformed bodies: no From, not E.164, 100 kB, invalid UTF-8 → clear 4xx or a polite reply; never 500; nothing stored")
    func malformed() throws {
        let clinic = try StackClinic()
        let token = try clinic.env["TWILIO_AUTH_TOKEN"]
        func params(_ from: String?, _ body: String) -> [(String, String)] {
            var p = [("MessageSid", "SM" + Crypto.hex(Crypto.randomBytes(16))), ("To", "whatsapp:\(clinic.phone)"), ("Body", body)]
            if let from { p.append(("From", from)) }
            return p
        }
        let noFrom = try postWebhook(clinic.env, params: params(nil, "hi"), token: token)
        #expect(noFrom.status == 400)
        #expect(errorCode(noFrom) == "missing_from")
        let notE164 = try postWebhook(clinic.env, params: params("whatsapp:0044 7700", "hi"), token: token)
        #expect(notE164.status == 400)
        #expect(errorCode(notE164) == "invalid_from")
        let big = try postWebhook(clinic.env, params: params("whatsapp:\(StackClinic.patient())", String(repeating: "x", count: 100_000)), token: token)
        #expect(big.status == 200)
        #expect(big.text.contains("too long"))
        let badUTF8 = try postWebhook(clinic.env, params: [], token: token,
                                      rawBody: Array("MessageSid=SM1&From=whatsapp%3A%2B5215512345678&To=whatsapp%3A%2B15550001000&Body=%FF%FE".utf8))
        #expect(badUTF8.status == 400)
        #expect(errorCode(badUTF8) == "invalid_utf8")
        #expect(try stored(clinic) == 0)
    }
}

@Suite("Status callbacks end to end", .needsStack)
struct WebhookStatusTests {
    @Test("1,000 status callbacks, shuffled and duplicated → every message at its most advanced status")
    func thousandCallbacks() throws {
        let clinic = try StackClinic()
        let env = clinic.env
        let master = try env["TWILIO_ACCOUNT_SID"], token = try env["TWILIO_AUTH_TOKEN"]
        let patient = StackClinic.patient()
        try clinic.say(patient, "hello")  // opens the 24-hour window and creates the conversation
        let conversation = try clinic.conn.query("SELECT id FROM whatsapp_conversations WHERE workspace_id = \(clinic.workspaceID)").first!.int64("id")!
        // 110 messages sent through the sandbox's Messages API, recorded as our outbound messages.
        var sids: [String] = []
        let client = try HTTPClient()
        for i in 0..<110 {
            let r = try client.send(.form(url: try env.sandboxURL + "/2010-04-01/Accounts/\(master)/Messages.json",
                                          pairs: [("To", "whatsapp:\(patient)"), ("From", "whatsapp:\(clinic.phone)"), ("Body", "note \(i)")],
                                          basicAuth: (master, token)))
            let o = try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any]
            let sid = try #require(o?["sid"] as? String, "sandbox send failed: \(r.status) \(r.text)")
            sids.append(sid)
            try clinic.conn.execute("""
                INSERT INTO whatsapp_messages (workspace_id, conversation_id, direction, body, twilio_sid, status)
                VALUES (\(clinic.workspaceID), \(conversation), 'outbound', \("note \(i)"), \(sid), 'queued')
                """)
        }
        let callbackURL = try env.appURL + "/api/webhooks/whatsapp/status"
        let delivered = try clinic.sandbox("POST", "/sandbox/callbacks/deliver", [
            "message_sids": Array(sids[0..<100]), "statuses": ["sent", "delivered", "read"], "duplicate": 3,
            "shuffle": true, "seed": 7, "concurrency": 8, "url": callbackURL,
        ])
        let failed = try clinic.sandbox("POST", "/sandbox/callbacks/deliver", [
            "message_sids": Array(sids[100...]), "statuses": ["sent", "failed", "delivered"], "error_code": 63016,
            "duplicate": 3, "shuffle": true, "seed": 8, "concurrency": 8, "url": callbackURL,
        ])
        var total = 0
        for r in [delivered, failed] {
            let o = try #require(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any], "\(r.text)")
            #expect(o["failed"] as? Int == 0, "callbacks refused: \(r.text)")
            total += o["delivered"] as? Int ?? 0
        }
        #expect(total == 990)
        let rows = try clinic.conn.query("""
            SELECT twilio_sid, status, error_code, error_message FROM whatsapp_messages WHERE twilio_sid = ANY(\("{" + sids.joined(separator: ",") + "}")::text[])
            """)
        let bySid = Dictionary(uniqueKeysWithValues: rows.map { ($0.string("twilio_sid")!, $0) })
        #expect(sids[0..<100].allSatisfy { bySid[$0]?.string("status") == "read" })
        for sid in sids[100...] {
            #expect(bySid[sid]?.string("status") == "failed")
            #expect(bySid[sid]?.int("error_code") == 63016)
            #expect(bySid[sid]?.string("error_message")?.contains("24 hours") == true)
        }
        // Unknown SID: 200, nothing changes. Bad signature: 403.
        let unknown = [("MessageSid", "SMffffffffffffffffffffffffffffffff"), ("MessageStatus", "delivered"), ("AccountSid", master)]
        #expect(try postWebhook(env, path: "/api/webhooks/whatsapp/status", params: unknown, token: token).status == 200)
        #expect(try postWebhook(env, path: "/api/webhooks/whatsapp/status", params: unknown, token: "wrong").status == 403)
    }
}

@Suite("TWILIO_WEBHOOK_BASE_URL overrides the forwarded headers (a private stack)", .needsStack)
struct WebhookBaseURLTests {
    @Test("signed for the public base URL → 200; signed for the URL nginx saw → 403")
    func override() throws {
        let dir = "\(projectRoot)/.run/test-webhook-base"
        let binDir = ProcessInfo.processInfo.environment["BIN_DIR"] ?? "\(projectRoot)/.build/debug"
        let settings = ["STACK_DIR": dir, "MEDSYNC_HTTP_PORT": "18460", "SANDBOX_HTTP_PORT": "18461", "BIN_DIR": binDir,
                        "MEDSYNC_WORKERS": "2", "TWILIO_WEBHOOK_BASE_URL": "https://clinic.example.com"]
        _ = stackCommand("down", settings)
        try? FileManager.default.removeItem(atPath: dir)
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let status = stackCommand("up", settings, log: "\(dir)/up.log")
        defer { _ = stackCommand("down", settings) }
        guard status == 0 else {
            throw TestSetupError("scripts/stack up failed (\(status)): \((try? String(contentsOfFile: "\(dir)/up.log", encoding: .utf8)) ?? "")")
        }
        let env = try StackEnvironment(path: "\(dir)/env")
        let clinic = try StackClinic(stack: env)
        let publicURL = "https://clinic.example.com/api/webhooks/whatsapp"
        let ok = try clinic.say(StackClinic.patient(), "hello", ["signature_url": publicURL])
        #expect(ok.status == 200)
        #expect(ok.replies.first?.contains("Available times") == true)
        let local = try clinic.say(StackClinic.patient(), "hello")  // signed for http://127.0.0.1:18460/…
        #expect(local.status == 403)
    }
}

/// Runs `scripts/stack <command>` with extra settings; its output goes to `log`.
func stackCommand(_ command: String, _ settings: [String: String], log: String = "/dev/null") -> Int32 {
    guard let r = try? runCommand(["\(projectRoot)/scripts/stack", command], environment: settings) else { return -1 }
    if log != "/dev/null" { try? (r.stdout + r.stderr).write(toFile: log, atomically: true, encoding: .utf8) }
    return r.status
}
