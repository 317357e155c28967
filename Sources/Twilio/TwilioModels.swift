/// A Message resource as Twilio answers it (the fields the app uses).
public struct TwilioMessage: Sendable, Equatable, Decodable {
    public let sid: String
    public let accountSID: String
    /// queued, sent, delivered, read, failed, undelivered, …
    public let status: String
    public let to: String
    public let from: String
    public let body: String?
    public let numMedia: String?
    public let direction: String?
    public let errorCode: Int?
    public let errorMessage: String?
    /// RFC 2822, as Twilio writes it.
    public let dateCreated: String?
    public let dateSent: String?
    public let uri: String?

    enum CodingKeys: String, CodingKey {
        case sid, status, to, from, body, direction, uri
        case accountSID = "account_sid"
        case numMedia = "num_media"
        case errorCode = "error_code"
        case errorMessage = "error_message"
        case dateCreated = "date_created"
        case dateSent = "date_sent"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        sid = try c.decode(String.self, forKey: .sid)
        accountSID = try c.decode(String.self, forKey: .accountSID)
        status = try c.decode(String.self, forKey: .status)
        to = try c.decode(String.self, forKey: .to)
        from = try c.decode(String.self, forKey: .from)
        body = try c.decodeIfPresent(String.self, forKey: .body)
        numMedia = try c.decodeIfPresent(String.self, forKey: .numMedia)
        direction = try c.decodeIfPresent(String.self, forKey: .direction)
        // Twilio has sent error_code both as a number and as a string over the years.
        if let i = try? c.decodeIfPresent(Int.self, forKey: .errorCode) {
            errorCode = i
        } else {
            errorCode = (try? c.decodeIfPresent(String.self, forKey: .errorCode)).flatMap { $0.flatMap(Int.init) }
        }
        errorMessage = try c.decodeIfPresent(String.self, forKey: .errorMessage)
        dateCreated = try c.decodeIfPresent(String.self, forKey: .dateCreated)
        dateSent = try? c.decodeIfPresent(String.self, forKey: .dateSent)
        uri = try c.decodeIfPresent(String.self, forKey: .uri)
    }
}

/// An Account resource (a subaccount after `createSubaccount`).
public struct TwilioAccount: Sendable, Equatable, Decodable, CustomStringConvertible {
    public let sid: String
    /// The subaccount's own auth token: store it encrypted (Fernet), never log it.
    public let authToken: String
    public let friendlyName: String
    public let status: String
    public let ownerAccountSID: String?

    enum CodingKeys: String, CodingKey {
        case sid, status
        case authToken = "auth_token"
        case friendlyName = "friendly_name"
        case ownerAccountSID = "owner_account_sid"
    }

    public var description: String { "TwilioAccount(\(sid), \(friendlyName), \(status))" }
}

/// One entry of AvailablePhoneNumbers/{Country}/Local.json.
public struct TwilioAvailableNumber: Sendable, Equatable, Decodable {
    public let phoneNumber: String
    public let friendlyName: String
    public let isoCountry: String?
    public let region: String?

    enum CodingKeys: String, CodingKey {
        case region
        case phoneNumber = "phone_number"
        case friendlyName = "friendly_name"
        case isoCountry = "iso_country"
    }
}

/// An IncomingPhoneNumber resource (a number the account owns) and its webhooks.
public struct TwilioIncomingNumber: Sendable, Equatable, Decodable {
    public let sid: String
    public let accountSID: String
    public let phoneNumber: String
    public let friendlyName: String?
    public let smsURL: String?
    public let statusCallback: String?

    enum CodingKeys: String, CodingKey {
        case sid
        case accountSID = "account_sid"
        case phoneNumber = "phone_number"
        case friendlyName = "friendly_name"
        case smsURL = "sms_url"
        case statusCallback = "status_callback"
    }
}
