import Foundation
import MedsyncCrypto
import MedsyncConfig
import HTTPClient
import Postgres
import Twilio

/// A WhatsApp sender as the outbound path needs it: its number and, when it belongs to a Twilio
/// subaccount, that subaccount's SID and Fernet-encrypted auth token.
public struct SenderAccount: Sendable, Equatable {
    public let id: Int64
    public let workspaceID: Int64
    public let phoneNumber: String
    public let isPrimary: Bool
    public let isActive: Bool
    public let subaccountSID: String?
    public let subaccountTokenEncrypted: String?

    public init(id: Int64, workspaceID: Int64, phoneNumber: String, isPrimary: Bool, isActive: Bool,
                subaccountSID: String?, subaccountTokenEncrypted: String?) {
        self.id = id
        self.workspaceID = workspaceID
        self.phoneNumber = phoneNumber
        self.isPrimary = isPrimary
        self.isActive = isActive
        self.subaccountSID = subaccountSID
        self.subaccountTokenEncrypted = subaccountTokenEncrypted
    }

    static let columns: SQLFragment = "id, workspace_id, phone_number, is_primary, is_active, twilio_subaccount_sid, twilio_subaccount_token_enc"

    init(row: PGRow) throws {
        id = try row.decode(Int64.self, "id")
        workspaceID = try row.decode(Int64.self, "workspace_id")
        phoneNumber = try row.decode(String.self, "phone_number")
        isPrimary = try row.decode(Bool?.self, "is_primary") ?? false
        isActive = try row.decode(Bool?.self, "is_active") ?? false
        subaccountSID = try row.decode(String?.self, "twilio_subaccount_sid")
        subaccountTokenEncrypted = try row.decode(String?.self, "twilio_subaccount_token_enc")
    }

    /// The workspace's primary active sender, if it has one.
    public static func primary(_ conn: PGConnection, workspaceID: Int64) throws -> SenderAccount? {
        try conn.query("SELECT \(unescaped: columns) FROM whatsapp_senders WHERE workspace_id = \(workspaceID) AND is_active AND is_primary")
            .first.map(SenderAccount.init(row:))
    }

    /// A sender of the workspace by id (active or not).
    public static func find(_ conn: PGConnection, workspaceID: Int64, id: Int64) throws -> SenderAccount? {
        try conn.query("SELECT \(unescaped: columns) FROM whatsapp_senders WHERE workspace_id = \(workspaceID) AND id = \(id)")
            .first.map(SenderAccount.init(row:))
    }
}

public enum TwilioClients {
    /// The client a sender sends through: its subaccount (auth token decrypted with MEDSYNC_FERNET_KEY)
    /// when it has one, else the master account of the configuration.
    /// Throws `ConfigError` (missing master credentials or Fernet key) or `AppError`
    /// `sender_credentials_invalid` when the stored token does not decrypt.
    public static func forSender(_ sender: SenderAccount, config: Config, http: HTTPClient, timeoutMS: Int? = nil) throws -> TwilioClient {
        guard let sid = sender.subaccountSID, let encrypted = sender.subaccountTokenEncrypted else {
            return try TwilioClient(config: config, http: http, timeoutMS: timeoutMS)
        }
        try config.require(.fernetKey)
        let token: String
        do {
            guard let fernet = config.fernet else { throw FernetError.invalidKey }
            token = try fernet.decryptString(encrypted)
        } catch {
            throw AppError(.senderCredentialsInvalid, "The stored Twilio subaccount credentials of \(sender.phoneNumber) cannot be decrypted with any key of MEDSYNC_FERNET_KEYS / MEDSYNC_FERNET_KEY.")
        }
        return TwilioClient(accountSID: sid, authToken: token, baseURL: config.twilioAPIBaseURL, http: http, timeoutMS: timeoutMS)
    }

    /// The URL Twilio posts status callbacks to: the public base URL (TWILIO_WEBHOOK_BASE_URL, else the
    /// first ALLOWED_ORIGINS entry) + /api/webhooks/whatsapp/status; nil when neither is configured.
    public static func statusCallbackURL(_ config: Config) -> String? {
        guard let base = config.twilioWebhookBaseURL ?? config.allowedOrigins.first else { return nil }
        return base + "/api/webhooks/whatsapp/status"
    }
}
