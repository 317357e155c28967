import Domain
import FastCGI
import Foundation
import Testing
import TestSupport
@testable import FCGIApp
import MedsyncConfig
import MedsyncCrypto
import Postgres

/// Issue 22 (review L11): MultiFernet keys and `medsync-jobs fernet rotate`.
@Suite(.needsStack) struct FernetRotationTests {
    @Test("a subaccount's webhook verifies with the old key listed second; `fernet rotate` re-encrypts, so the old key can go")
    func subaccountWebhookAcrossAKeyRotation() throws {
        let oldKey = StaffWorld.fernetKey, newKey = Fernet.generateKey()
        let w = try StaffWorld(environment: ["MEDSYNC_FERNET_KEYS": "\(newKey),\(oldKey)"])
        let a = try w.workspace("A")
        let number = "+1415" + String(format: "%07d", Int.random(in: 0..<10_000_000))
        let subSID = "AC" + Crypto.hex(Crypto.randomBytes(16)), subToken = Crypto.hex(Crypto.randomBytes(16))
        let stored = try Fernet(key: oldKey).encrypt(subToken)
        try w.conn.execute("""
            INSERT INTO whatsapp_senders (workspace_id, phone_number, display_name, twilio_subaccount_sid, twilio_subaccount_token_enc)
            VALUES (\(a), \(number), 'Desk', \(subSID), \(stored))
            """)
        func webhook(_ ctx: AppContext) -> Response {
            let params = [("From", "whatsapp:+5215512345678"), ("To", "whatsapp:" + number), ("AccountSid", subSID),
                          ("MessageSid", "SM" + Crypto.hex(Crypto.randomBytes(16))), ("Body", "hola")]
            let signature = TwilioSignature.compute(authToken: subToken, url: "https://clinic.example/api/webhooks/whatsapp", params: params)
            let form = params.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")
            return w.router.handle(Request(method: "POST", uri: "/api/webhooks/whatsapp",
                                           headers: ["Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature],
                                           body: Array(form.utf8)), ctx)
        }
        // The new key encrypts, the old one (second) still decrypts what it encrypted.
        #expect(webhook(w.ctx).status == 200)

        // Only the new key, before rotating: not a silent 403 but the configuration error, logged without secrets.
        let log = CapturedLog()
        let onlyNew = try Config.load(environment: [
            "DATABASE_URL": w.url, "MEDSYNC_FERNET_KEYS": newKey, "TWILIO_WEBHOOK_BASE_URL": "https://clinic.example",
            "TWILIO_ACCOUNT_SID": "AC" + String(repeating: "0", count: 32), "TWILIO_AUTH_TOKEN": "master-token"], dotEnvPath: nil)
        let newOnly = AppContext(config: onlyNew, logger: log.logger())
        let refused = webhook(newOnly)
        #expect(refused.status == 500)
        #expect(String(decoding: refused.body, as: UTF8.self).contains("sender_credentials_invalid"))
        #expect(log.text.contains(subSID) && log.text.contains("MEDSYNC_FERNET_KEYS"), "\(log.text)")
        #expect(!log.text.contains(subToken) && !log.text.contains(stored) && !log.text.contains(newKey) && !log.text.contains(oldKey))

        let bin = (ProcessInfo.processInfo.environment["BIN_DIR"] ?? "\(projectRoot)/.build/debug") + "/medsync-jobs"
        // Rotating with only the new key cannot read the token: it says so and changes nothing.
        let blind = try runCommand([bin, "fernet", "rotate"], environment: ["DATABASE_URL": w.url, "MEDSYNC_FERNET_KEYS": newKey])
        #expect(blind.status == 65, "\(blind.stdout) \(blind.stderr)")
        #expect(blind.stdout.contains("undecryptable 1"), "\(blind.stdout)")
        let rotate = try runCommand([bin, "fernet", "rotate", "--batch", "1"],
                                    environment: ["DATABASE_URL": w.url, "MEDSYNC_FERNET_KEYS": "\(newKey),\(oldKey)"])
        #expect(rotate.status == 0, "\(rotate.stderr)")
        #expect(rotate.stdout.contains("rewritten 1,"), "\(rotate.stdout)")
        let again = try runCommand([bin, "fernet", "rotate"], environment: ["DATABASE_URL": w.url, "MEDSYNC_FERNET_KEYS": "\(newKey),\(oldKey)"])
        #expect(again.stdout.contains("rewritten 0, already current 1"), "\(again.stdout)")
        let rewritten = try #require(try w.conn.query("SELECT twilio_subaccount_token_enc AS t FROM whatsapp_senders WHERE phone_number = \(number)").first?.string("t"))
        #expect(rewritten != stored)
        #expect(try Fernet(key: newKey).decryptString(rewritten) == subToken)

        // The old key removed: the webhook still verifies.
        #expect(webhook(AppContext(config: onlyNew)).status == 200)
    }

    @Test("MEDSYNC_FERNET_KEYS: the first encrypts, every one decrypts; MEDSYNC_FERNET_KEY alone still works; a bad key is named, never shown")
    func configuration() throws {
        let k1 = Fernet.generateKey(), k2 = Fernet.generateKey()
        let both = try Config.load(environment: ["MEDSYNC_FERNET_KEYS": " \(k1) , \(k2) "], dotEnvPath: nil)
        #expect(both.fernetKey?.value == k1)
        #expect(both.fernetKeys.map(\.value) == [k1, k2])
        #expect(try both.fernet?.decryptString(Fernet(key: k2).encrypt("x")) == "x")
        #expect(try Fernet(key: k1).decryptString(#require(both.fernet).encrypt("y")) == "y")
        try both.require(.fernetKey)
        #expect(!both.description.contains(k1) && !both.description.contains(k2))
        let single = try Config.load(environment: ["MEDSYNC_FERNET_KEY": k2], dotEnvPath: nil)
        #expect(single.fernetKeys.map(\.value) == [k2])
        let mixed = try Config.load(environment: ["MEDSYNC_FERNET_KEYS": k1, "MEDSYNC_FERNET_KEY": k2], dotEnvPath: nil)
        #expect(mixed.fernetKeys.map(\.value) == [k1, k2])
        let bad = #expect(throws: ConfigError.self) { try Config.load(environment: ["MEDSYNC_FERNET_KEYS": "\(k1),not-a-key"], dotEnvPath: nil) }
        #expect(bad?.message.contains("MEDSYNC_FERNET_KEYS") == true && bad?.message.contains("not-a-key") == false)
    }
}
