import Domain
import Foundation
import TestSupport
import MedsyncCrypto
import MedsyncConfig
import HTTPClient
import Postgres
import Twilio

/// Shared by the jobs tests of DomainTests and EndToEndTests.
/// A fresh database plus the running sandbox (the stack's env), with helpers to create clinics,
/// senders (registered in the sandbox), patients, appointments and open 24-hour windows.
/// Every phone number is random, so tests sharing the sandbox never see each other's messages.
public struct JobsWorld {
    public let databaseURL: String
    public let conn: PGConnection
    public let sandboxURL: String
    public let masterSID: String
    public let masterToken: String
    public let fernetKey = "bWVkc3luYy1kZXYtZmVybmV0LWtleS1ub3QtcHJvZCE="

    public init() throws {
        databaseURL = try TestDatabase.create()
        conn = try PGConnection(databaseURL)
        let env = try StackEnvironment.shared()
        sandboxURL = try env.sandboxURL
        masterSID = try env["TWILIO_ACCOUNT_SID"]
        masterToken = try env["TWILIO_AUTH_TOKEN"]
    }

    /// What the jobs read (the environment a systemd unit would give them).
    public func environment(rate: Int = 80) -> [String: String] {
        ["DATABASE_URL": databaseURL, "TWILIO_ACCOUNT_SID": masterSID, "TWILIO_AUTH_TOKEN": masterToken,
         "TWILIO_API_BASE_URL": sandboxURL, "MEDSYNC_FERNET_KEY": fernetKey, "MEDSYNC_SEND_RATE": String(rate),
         "TWILIO_WEBHOOK_BASE_URL": "http://127.0.0.1:9"]
    }

    public func config(rate: Int = 80) throws -> Config { try Config.load(environment: environment(rate: rate), dotEnvPath: nil) }

    public static func randomPhone(_ prefix: String = "+1999") -> String { prefix + String(Int.random(in: 1_000_000...9_999_999)) }

    public func workspace(timezone: String = "UTC", reminders: (hours: Int, template: String, custom: String?)? = (24, "appt_reminder", nil),
                   contentSids: String = "{}") throws -> Int64 {
        let name = "Clinic \(UUID().uuidString.prefix(6))"
        let id = try conn.query("""
            INSERT INTO workspaces (name, timezone, clinic_name, content_sids) VALUES (\(name), \(timezone), \(name), \(PGJSON(contentSids))::jsonb)
            RETURNING id
            """).one().decode(Int64.self, "id")
        if let r = reminders {
            try conn.execute("""
                INSERT INTO reminder_settings (workspace_id, enabled, hours_before, template_key, custom_message)
                VALUES (\(id), true, \(r.hours), \(r.template), \(r.custom))
                """)
        }
        return id
    }

    public struct Sender: Sendable {
        public let id: Int64
        public let phone: String
        public let accountSID: String
        public init(id: Int64, phone: String, accountSID: String) { self.id = id; self.phone = phone; self.accountSID = accountSID }
    }

    /// A sender number in the database and in the sandbox; with `subaccount` it belongs to a fresh
    /// Twilio subaccount whose token is stored Fernet-encrypted.
    public func sender(_ workspaceID: Int64, subaccount: Bool = false) throws -> Sender {
        let phone = JobsWorld.randomPhone("+1555")
        var accountSID = masterSID
        var tokenEnc: String? = nil
        var subSID: String? = nil
        if subaccount {
            let client = try HTTPClient()
            let account = try TwilioClient(accountSID: masterSID, authToken: masterToken, baseURL: sandboxURL, http: client)
                .createSubaccount(friendlyName: "jobs test \(phone)")
            accountSID = account.sid
            subSID = account.sid
            tokenEnc = try Fernet(key: fernetKey).encrypt(account.authToken)
        }
        _ = try control("POST", "/sandbox/numbers", #"{"phone_number":"\#(phone)","account_sid":"\#(accountSID)"}"#)
        let id = try conn.query("""
            INSERT INTO whatsapp_senders (workspace_id, phone_number, display_name, twilio_subaccount_sid, twilio_subaccount_token_enc)
            VALUES (\(workspaceID), \(phone), 'Front desk', \(subSID), \(tokenEnc)) RETURNING id
            """).one().decode(Int64.self, "id")
        return Sender(id: id, phone: phone, accountSID: accountSID)
    }

    public func doctor(_ workspaceID: Int64, name: String) throws -> Int64 {
        let email = "dr-\(UUID().uuidString.prefix(8))@example.com"
        let id = try conn.query("INSERT INTO users (email, name) VALUES (\(email), \(name)) RETURNING id").one().decode(Int64.self, "id")
        try conn.execute("INSERT INTO memberships (user_id, workspace_id, role) VALUES (\(id), \(workspaceID), 'doctor')")
        return id
    }

    /// consent: true, false (never given) or nil = opted out (given, then withdrawn).
    public func patient(_ workspaceID: Int64, phone: String = JobsWorld.randomPhone(), name: String, language: String = "en",
                 consent: Bool? = true) throws -> Int64 {
        let consentUpdatedAt: Date? = consent == false ? nil : Date()
        return try conn.query("""
            INSERT INTO patients (workspace_id, phone, name, preferred_language, consent_whatsapp, consent_updated_at)
            VALUES (\(workspaceID), \(phone), \(name), \(language), \(consent ?? false), \(consentUpdatedAt)) RETURNING id
            """).one().decode(Int64.self, "id")
    }

    public func appointment(_ workspaceID: Int64, patient: Int64, doctor: Int64?, startsAt: Date, status: String = "confirmed") throws -> Int64 {
        try conn.query("""
            INSERT INTO appointments (workspace_id, patient_id, doctor_id, starts_at, ends_at, status)
            VALUES (\(workspaceID), \(patient), \(doctor), \(startsAt), \(startsAt.addingTimeInterval(1800)), \(status)) RETURNING id
            """).one().decode(Int64.self, "id")
    }

    /// The patient wrote to the sender at `at` (our database) and `sandboxHoursAgo` hours ago (the sandbox's clock).
    public func window(_ workspaceID: Int64, patient: Int64, phone: String, sender: Sender, at: Date, sandboxHoursAgo: Double = 1) throws {
        try conn.execute("""
            INSERT INTO whatsapp_conversations (workspace_id, patient_id, sender_id, last_inbound_at)
            VALUES (\(workspaceID), \(patient), \(sender.id), \(at))
            ON CONFLICT (patient_id, sender_id) DO UPDATE SET last_inbound_at = EXCLUDED.last_inbound_at
            """)
        _ = try control("POST", "/sandbox/patients/window",
                        #"{"patient":"\#(phone)","sender":"\#(sender.phone)","hours_ago":\#(sandboxHoursAgo)}"#)
    }

    @discardableResult
    public func control(_ method: String, _ path: String, _ body: String? = nil) throws -> [String: Any] {
        let response = try http(HTTPRequest(method: method, url: sandboxURL + path,
                                            headers: body == nil ? [] : [("Content-Type", "application/json")],
                                            body: Array((body ?? "").utf8)))
        guard (200..<300).contains(response.status),
              let object = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        else { throw TestSetupError("sandbox \(method) \(path) answered \(response.status): \(response.text)") }
        return object
    }

    /// Every message the sandbox accepted from this sender number.
    public func sent(from sender: Sender) throws -> [[String: Any]] {
        try control("GET", "/sandbox/messages?from=\(sender.phone.replacingOccurrences(of: "+", with: "%2B"))")["messages"] as? [[String: Any]] ?? []
    }

    public func logRows(_ appointment: Int64) throws -> [(status: String, reason: String?)] {
        try conn.query("SELECT status, reason FROM reminder_log WHERE appointment_id = \(appointment) ORDER BY id")
            .map { (try $0.decode(String.self, "status"), try $0.decode(String?.self, "reason")) }
    }
}
