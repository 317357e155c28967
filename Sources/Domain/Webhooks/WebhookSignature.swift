import Foundation
import MedsyncCrypto
import MedsyncConfig

/// Verifies Twilio's `X-Twilio-Signature` on a webhook: over the public URL Twilio called, with the
/// master token first, then the token of the subaccount that owns the number (decrypted with Fernet).
public struct WebhookVerifier {
    public let masterAccountSID: String?
    public let masterToken: String?
    public let fernet: Fernet?
    public let baseURL: String?

    public init(masterAccountSID: String?, masterToken: String?, fernet: Fernet?, baseURL: String?) {
        self.masterAccountSID = masterAccountSID
        self.masterToken = masterToken
        self.fernet = fernet
        self.baseURL = baseURL
    }

    public init(config: Config) {
        self.init(masterAccountSID: config.twilioAccountSID, masterToken: config.twilioAuthToken?.value,
                  fernet: config.fernetKey.flatMap { try? Fernet(key: $0.value) }, baseURL: config.twilioWebhookBaseURL)
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
    public func signer(signature: String?, url: String, params: [(String, String)],
                       subaccount: () throws -> SubaccountCredential?) rethrows -> WebhookSigner? {
        guard let signature, !signature.isEmpty else { return nil }
        if let masterToken, !masterToken.isEmpty,
           TwilioSignature.isValid(signature: signature, authToken: masterToken, url: url, params: params) {
            return .master
        }
        guard let fernet, let sub = try subaccount(), let token = try? fernet.decryptString(sub.tokenEnc),
              TwilioSignature.isValid(signature: signature, authToken: token, url: url, params: params) else { return nil }
        return .subaccount(sid: sub.sid)
    }
}

/// A subaccount's SID and its auth token as stored (Fernet-encrypted).
public struct SubaccountCredential: Sendable, Equatable {
    public var sid: String?
    public var tokenEnc: String

    public init(sid: String?, tokenEnc: String) {
        self.sid = sid
        self.tokenEnc = tokenEnc
    }
}

/// Whose token signed a webhook.
public enum WebhookSigner: Sendable, Equatable {
    case master
    /// A subaccount's token: it speaks for that subaccount only.
    case subaccount(sid: String?)
}
