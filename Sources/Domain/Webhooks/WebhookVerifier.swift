import Foundation
import MedsyncCrypto
import MedsyncConfig
import MedsyncLog

/// Verifies Twilio's `X-Twilio-Signature` on a webhook: over the public URL Twilio called, with the
/// master token first, then the token of the subaccount that owns the number (decrypted with the
/// Fernet keys, `MEDSYNC_FERNET_KEYS`: any of them may have encrypted it).
public struct WebhookVerifier {
    public let masterAccountSID: String?
    public let masterToken: String?
    public let fernet: MultiFernet?
    public let baseURL: String?
    let log: Logger

    public init(masterAccountSID: String?, masterToken: String?, fernet: MultiFernet?, baseURL: String?,
                log: Logger = Logger(label: "medsync.webhook")) {
        self.masterAccountSID = masterAccountSID
        self.masterToken = masterToken
        self.fernet = fernet
        self.baseURL = baseURL
        self.log = log
    }

    public init(masterAccountSID: String?, masterToken: String?, fernet: Fernet, baseURL: String?) {
        self.init(masterAccountSID: masterAccountSID, masterToken: masterToken, fernet: MultiFernet(fernet), baseURL: baseURL)
    }

    public init(config: Config, log: Logger = Logger(label: "medsync.webhook")) {
        self.init(masterAccountSID: config.twilioAccountSID, masterToken: config.twilioAuthToken?.value,
                  fernet: config.fernet, baseURL: config.twilioWebhookBaseURL, log: log)
    }

    /// The URL Twilio called: `TWILIO_WEBHOOK_BASE_URL` + REQUEST_URI when set, else
    /// `X-Forwarded-Proto://X-Forwarded-Host` + REQUEST_URI (as our nginx sets them), else the Host header.
    /// `headers` has lower-cased names.
    public static func publicURL(requestURI: String, headers: [String: String], baseURL: String?) -> String? {
        let uri = requestURI.hasPrefix("/") ? requestURI : "/" + requestURI
        if var base = baseURL, !base.isEmpty {
            while base.hasSuffix("/") { base.removeLast() }
            return base + uri
        }
        func first(_ name: String) -> String? {
            headers[name].flatMap { $0.split(separator: ",").first }.map { ASCIIText.trimmingWhitespaces(String($0)) }
                .flatMap { $0.isEmpty ? nil : $0 }
        }
        guard let host = first("x-forwarded-host") ?? first("host") else { return nil }
        let proto = (first("x-forwarded-proto") ?? "http").lowercased()
        guard proto == "http" || proto == "https" else { return nil }
        return "\(proto)://\(host)\(uri)"
    }

    /// The one signature policy of both webhooks (inbound and status): the master token first; only
    /// when it does not match, the subaccount `subaccount()` names (looked up lazily, so a request the
    /// master token signed costs no query), its token decrypted with Fernet. nil: neither matches.
    /// A stored token that none of the keys decrypts (a key removed before `medsync-jobs fernet rotate`
    /// ran) is no bad signature but a broken configuration: logged as an error (the subaccount SID,
    /// never a key or token) and thrown as 500 `sender_credentials_invalid`, so the operator sees it
    /// and Twilio retries, instead of a 403 that looks like a forged request.
    public func signer(signature: String?, url: String, params: [(String, String)],
                       subaccount: () throws -> SubaccountCredential?) throws -> WebhookSigner? {
        guard let signature, !signature.isEmpty else { return nil }
        if let masterToken, !masterToken.isEmpty,
           TwilioSignature.isValid(signature: signature, authToken: masterToken, url: url, params: params) {
            return .master
        }
        guard let sub = try subaccount() else { return nil }
        let token: String
        do {
            guard let fernet else { throw FernetError.invalidKey }
            token = try fernet.decryptString(sub.tokenEnc)
        } catch {
            log.error("webhook: the stored auth token of subaccount \(sub.sid ?? "none") cannot be decrypted with any key of MEDSYNC_FERNET_KEYS (\(error)); its webhooks cannot be verified until the key that encrypted it is configured again")
            throw AppError(.senderCredentialsInvalid, "The stored Twilio credentials of this number cannot be decrypted with the configured keys.")
        }
        guard TwilioSignature.isValid(signature: signature, authToken: token, url: url, params: params) else { return nil }
        return .subaccount(sid: sub.sid)
    }
}

/// Whose token signed a webhook.
public enum WebhookSigner: Sendable, Equatable {
    case master
    /// A subaccount's token: it speaks for that subaccount only.
    case subaccount(sid: String?)
}
