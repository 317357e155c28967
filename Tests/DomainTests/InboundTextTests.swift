import Domain
import Foundation
import Testing
import MedsyncCrypto
import TestSupport

@Suite("Inbound: keyword rules and TwiML")
struct InboundTextTests {
    @Test("slot shortcuts", arguments: [
        ("1", InboundText.Shortcut.number(1)), ("2.", .number(2)), ("#3", .number(3)), (" 12 ", .number(12)),
        ("9:00", .time(minutes: 540, meridiem: false)), ("09:00", .time(minutes: 540, meridiem: false)),
        ("9h", .time(minutes: 540, meridiem: false)), ("9 am", .time(minutes: 540, meridiem: true)),
        ("2:30 pm", .time(minutes: 870, meridiem: true)), ("14:30", .time(minutes: 870, meridiem: false)),
        ("opción 2", .number(2)),
    ])
    func shortcuts(text: String, expected: InboundText.Shortcut) {
        #expect(InboundText.shortcut(text) == expected)
    }

    @Test("not shortcuts", arguments: ["0", "hello", "25:00", "9:5", "1 please", "", "123", "9:00 tomorrow"])
    func notShortcuts(text: String) {
        #expect(InboundText.shortcut(text) == nil)
    }

    @Test("opt-out and opt-in keywords, whole message only")
    func consent() {
        #expect(InboundText.consentKeyword("STOP") == .optOut(language: nil))
        #expect(InboundText.consentKeyword("  Baja ") == .optOut(language: .es))
        #expect(InboundText.consentKeyword("CANCELAR SUSCRIPCIÓN") == .optOut(language: .es))
        #expect(InboundText.consentKeyword("unsubscribe") == .optOut(language: .en))
        #expect(InboundText.consentKeyword("START") == .optIn(language: nil))
        #expect(InboundText.consentKeyword("ALTA") == .optIn(language: .es))
        #expect(InboundText.consentKeyword("please don't stop the reminders") == nil)
        #expect(InboundText.consentKeyword("cancelar") == nil)  // cancelling an appointment is not an opt-out
    }

    @Test("handoff phrases")
    func handoff() {
        #expect(InboundText.asksForHuman("Can I talk to a human?"))
        #expect(InboundText.asksForHuman("quiero hablar con alguien"))
        #expect(InboundText.asksForHuman("AGENT"))
        #expect(!InboundText.asksForHuman("I want an appointment"))
        #expect(!InboundText.asksForHuman("hola"))
    }

    @Test("language detection")
    func language() {
        #expect(InboundText.detectLanguage("Hola, quiero una cita") == .es)
        #expect(InboundText.detectLanguage("¿mañana?") == .es)
        #expect(InboundText.detectLanguage("Hello, I want to book") == .en)
        #expect(InboundText.detectLanguage("2") == nil)
        #expect(InboundText.detectLanguage("ok") == nil)  // says nothing: the remembered language stays
    }

    @Test("TwiML escapes text and drops characters XML cannot carry")
    func twiml() {
        #expect(TwiML.message("a < b & \"c\" 'd' > e\u{1}") ==
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>a &lt; b &amp; &quot;c&quot; &apos;d&apos; &gt; e</Message></Response>")
        #expect(TwiML.empty == "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>")
    }

    @Test("public URL: TWILIO_WEBHOOK_BASE_URL wins, else the forwarded headers")
    func publicURL() {
        let h = ["x-forwarded-proto": "https", "x-forwarded-host": "clinic.example.com", "host": "127.0.0.1:8080"]
        #expect(WebhookVerifier.publicURL(requestURI: "/api/webhooks/whatsapp?x=1", headers: h, baseURL: "https://app.example.com/")
            == "https://app.example.com/api/webhooks/whatsapp?x=1")
        #expect(WebhookVerifier.publicURL(requestURI: "/api/webhooks/whatsapp", headers: h, baseURL: nil)
            == "https://clinic.example.com/api/webhooks/whatsapp")
        #expect(WebhookVerifier.publicURL(requestURI: "/api/webhooks/whatsapp", headers: ["host": "127.0.0.1:8080"], baseURL: nil)
            == "http://127.0.0.1:8080/api/webhooks/whatsapp")
        #expect(WebhookVerifier.publicURL(requestURI: "/x", headers: [:], baseURL: nil) == nil)
    }

    @Test("signature: master token, then the subaccount token decrypted with Fernet; anything else fails")
    func signature() throws {
        let key = Fernet.generateKey()
        let fernet = try Fernet(key: key)
        let verifier = WebhookVerifier(masterAccountSID: "ACmaster", masterToken: "master-token", fernet: fernet, baseURL: nil)
        let url = "https://clinic.example.com/api/webhooks/whatsapp"
        let params = [("Body", "hola"), ("From", "whatsapp:+5215512345678"), ("MediaUrl0", "b"), ("MediaUrl0", "a")]
        let master = TwilioSignature.compute(authToken: "master-token", url: url, params: params)
        let sub = TwilioSignature.compute(authToken: "sub-token", url: url, params: params)
        let enc = fernet.encrypt(Array("sub-token".utf8))
        let credential = SubaccountCredential(sid: "ACsub", tokenEnc: enc)
        func signer(_ signature: String?, _ url: String, _ params: [(String, String)], _ sub: SubaccountCredential?) throws -> WebhookSigner? {
            try verifier.signer(signature: signature, url: url, params: params) { sub }
        }
        #expect(try signer(master, url, params, nil) == .master)
        #expect(try signer(sub, url, params, credential) == .subaccount(sid: "ACsub"))
        #expect(try signer(sub, url, params, nil) == nil)
        #expect(try signer(master, url.replacingOccurrences(of: "https", with: "http"), params, credential) == nil)
        #expect(try signer(master, url, params + [("Body", "x")], credential) == nil)
        #expect(try signer(nil, url, params, credential) == nil)
        #expect(try signer(master, "https://clinic.example.com:443/api/webhooks/whatsapp", params, nil) == .master)
        // The master token signed: the subaccount is not even looked up (no query for the common case).
        var lookedUp = false
        #expect(try verifier.signer(signature: master, url: url, params: params, subaccount: { lookedUp = true; return credential }) == .master)
        #expect(!lookedUp)
    }

    /// Several Fernet keys, the first encrypting. A subaccount token encrypted
    /// with the old key still verifies while the old key is listed second; once no listed key decrypts
    /// it, the webhook is no silent 403 (nil) but `sender_credentials_invalid`, logged without secrets.
    @Test("signature with rotated Fernet keys: the old key second still verifies; no key that decrypts is an error, logged")
    func signatureAcrossKeyRotation() throws {
        let oldKey = Fernet.generateKey(), newKey = Fernet.generateKey()
        let url = "https://clinic.example.com/api/webhooks/whatsapp"
        let params = [("Body", "hola"), ("From", "whatsapp:+5215512345678")]
        let sub = TwilioSignature.compute(authToken: "sub-token", url: url, params: params)
        let credential = SubaccountCredential(sid: "ACsub", tokenEnc: try Fernet(key: oldKey).encrypt("sub-token"))
        let rotated = WebhookVerifier(masterAccountSID: "ACmaster", masterToken: "master-token",
                                      fernet: try MultiFernet(keys: [newKey, oldKey]), baseURL: nil)
        #expect(try rotated.signer(signature: sub, url: url, params: params) { credential } == .subaccount(sid: "ACsub"))
        let log = CapturedLog()
        let dropped = WebhookVerifier(masterAccountSID: "ACmaster", masterToken: "master-token",
                                      fernet: try MultiFernet(keys: [newKey]), baseURL: nil, log: log.logger())
        let error = #expect(throws: AppError.self) { try dropped.signer(signature: sub, url: url, params: params) { credential } }
        #expect(error?.code == .senderCredentialsInvalid)
        let lines = log.lines.joined(separator: "\n")
        #expect(lines.contains("ACsub") && lines.contains("MEDSYNC_FERNET_KEYS"), "\(lines)")
        #expect(!lines.contains(newKey) && !lines.contains(oldKey) && !lines.contains("sub-token") && !lines.contains(credential.tokenEnc))
        // Rotating re-encrypts with the first key once; a second rotation has nothing to do.
        let keys = try MultiFernet(keys: [newKey, oldKey])
        let again = try #require(try keys.rotate(credential.tokenEnc))
        #expect(try Fernet(key: newKey).decryptString(again) == "sub-token")
        #expect(try keys.rotate(again) == nil)
    }
}
