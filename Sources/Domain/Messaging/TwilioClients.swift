import Foundation
import MedsyncCrypto
import MedsyncConfig
import HTTPClient
import Twilio

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
