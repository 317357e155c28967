import Foundation

/// Twilio's inbound-message webhook (`POST /api/webhooks/whatsapp`), decoded once at the edge from its
/// form into typed, bounded fields. The use case (`InboundService`) reads only this value, never the
/// raw form pairs (the signature is checked over those before decoding).
public struct InboundWebhook: Sendable, Equatable {
    /// One attachment Twilio lists (`MediaUrl<i>`, `MediaContentType<i>`).
    public struct Media: Sendable, Equatable, Encodable {
        public var url: String
        public var contentType: String

        public init(url: String, contentType: String) {
            self.url = url
            self.contentType = contentType
        }

        enum CodingKeys: String, CodingKey {
            case url
            case contentType = "content_type"
        }
    }

    /// The message body as the patient wrote it, or a body too long to read here.
    public enum Body: Sendable, Equatable {
        case text(String)
        /// More than `maxBodyCharacters` characters: answered with a polite refusal, not recorded.
        case tooLong(characters: Int)
    }

    public static let maxBodyCharacters = 4096
    public static let maxSIDLength = 64
    public static let maxMedia = 10
    public static let maxProfileNameCharacters = 200
    public static let maxMediaURLLength = 2048
    public static let maxContentTypeLength = 255

    /// `MessageSid` (or the older `SmsMessageSid`): one row per SID, the idempotency key.
    public var messageSID: String
    public var accountSID: String?
    /// The patient's number (E.164, without `whatsapp:`).
    public var from: String
    /// Our sender number the message was sent to (E.164), nil when absent or not a number.
    public var to: String?
    public var body: Body
    /// WhatsApp's profile name, at most `maxProfileNameCharacters` characters ("" when none).
    public var profileName: String
    public var media: [Media]

    public init(messageSID: String, accountSID: String? = nil, from: String, to: String?, body: Body,
                profileName: String = "", media: [Media] = []) {
        self.messageSID = messageSID
        self.accountSID = accountSID
        self.from = from
        self.to = to
        self.body = body
        self.profileName = profileName
        self.media = media
    }

    /// Decodes Twilio's form. Throws `AppError` (400) for what Twilio never sends: no `From`, a `From`
    /// that is not an E.164 number, no `MessageSid` (or one longer than 64 characters).
    public init(form params: [(String, String)]) throws {
        func value(_ name: String) -> String? { params.first { $0.0 == name }?.1 }
        guard let rawFrom = value("From"), !rawFrom.isEmpty else {
            throw AppError(.missingFrom, "The webhook has no From field.")
        }
        guard let from = InboundWebhook.e164(rawFrom) else {
            throw AppError(.invalidFrom, "From must be a WhatsApp address with an E.164 number (whatsapp:+14155550100).")
        }
        guard let sid = value("MessageSid") ?? value("SmsMessageSid"), !sid.isEmpty, sid.count <= InboundWebhook.maxSIDLength else {
            throw AppError(.missingMessageSid, "The webhook has no MessageSid field.")
        }
        let text = value("Body") ?? ""
        let count = text.count
        var media: [Media] = []
        let numMedia = min(max(Int(value("NumMedia") ?? "0") ?? 0, 0), InboundWebhook.maxMedia)
        for i in 0..<numMedia {
            guard let url = value("MediaUrl\(i)"), !url.isEmpty, url.utf8.count <= InboundWebhook.maxMediaURLLength else { continue }
            media.append(Media(url: url, contentType: String((value("MediaContentType\(i)") ?? "").prefix(InboundWebhook.maxContentTypeLength))))
        }
        self.init(messageSID: sid, accountSID: value("AccountSid").flatMap { $0.isEmpty || $0.count > 64 ? nil : $0 },
                  from: from, to: InboundWebhook.e164(value("To")),
                  body: count > InboundWebhook.maxBodyCharacters ? .tooLong(characters: count) : .text(text),
                  profileName: String((value("ProfileName") ?? "").prefix(InboundWebhook.maxProfileNameCharacters)), media: media)
    }

    /// The text, "" for a body too long to read.
    public var text: String {
        if case .text(let t) = body { return t }
        return ""
    }

    /// Neither text nor media: nothing to read.
    public var isEmpty: Bool {
        ASCIIText.trimmingWhitespacesAndNewlines(text).isEmpty && media.isEmpty
    }

    /// The media list as the `whatsapp_messages.media` JSON array.
    public var mediaJSON: String {
        if media.isEmpty { return "[]" }  // what JSONEncoder writes for an empty array
        return String(decoding: (try? JSONEncoder().encode(media)) ?? Data("[]".utf8), as: UTF8.self)
    }

    /// `whatsapp:+15550001000` or `+15550001000` → `+15550001000`; nil when not E.164.
    public static func e164(_ address: String?) -> String? {
        guard var s = address.map(ASCIIText.trimmingWhitespaces) else { return nil }
        if s.lowercased().hasPrefix("whatsapp:") { s = String(s.dropFirst("whatsapp:".count)) }
        let u = Array(s.utf8)
        guard u.count >= 8, u.count <= 16, u[0] == UInt8(ascii: "+"), u[1] >= UInt8(ascii: "1"), u[1] <= UInt8(ascii: "9"),
              u.dropFirst().allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return s
    }
}
