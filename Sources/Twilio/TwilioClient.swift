import Foundation
import MedsyncConfig
import HTTPClient

/// Twilio's REST API 2010-04-01 for one account (the master or a subaccount), over the caller's
/// `HTTPClient`. Like the HTTP client it is used by one thread only (a worker makes its own).
///
/// Every call throws `TwilioError` (Twilio answered with an error: its HTTP status and code) or
/// `TwilioTransportError` (no usable answer: timeout, connection, not Twilio's JSON).
public final class TwilioClient {
    public let accountSID: String
    private let authToken: String
    /// Without a trailing slash, e.g. https://api.twilio.com.
    public let baseURL: String
    private let http: HTTPClient
    /// Per-request total timeout; nil uses the HTTP client's.
    public let timeoutMS: Int?

    public init(accountSID: String, authToken: String, baseURL: String = "https://api.twilio.com", http: HTTPClient,
                timeoutMS: Int? = nil) {
        self.accountSID = accountSID
        self.authToken = authToken
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        self.baseURL = base
        self.http = http
        self.timeoutMS = timeoutMS
    }

    /// The master account of the configuration (TWILIO_ACCOUNT_SID / TWILIO_AUTH_TOKEN / TWILIO_API_BASE_URL).
    public convenience init(config: Config, http: HTTPClient, timeoutMS: Int? = nil) throws(ConfigError) {
        try config.require(.twilioAccountSID, .twilioAuthToken)
        self.init(accountSID: try config.string(.twilioAccountSID), authToken: try config.string(.twilioAuthToken),
                  baseURL: config.twilioAPIBaseURL, http: http, timeoutMS: timeoutMS)
    }

    /// The same API, acting as another account (e.g. a subaccount) through the same HTTP client.
    public func acting(as accountSID: String, authToken: String) -> TwilioClient {
        TwilioClient(accountSID: accountSID, authToken: authToken, baseURL: baseURL, http: http, timeoutMS: timeoutMS)
    }

    /// "+E164" becomes "whatsapp:+E164"; anything else is sent as given.
    public static func whatsappAddress(_ number: String) -> String {
        number.hasPrefix("+") ? "whatsapp:\(number)" : number
    }

    // MARK: Messages

    /// A freeform message (only inside the patient's 24-hour window; Twilio answers 63016 otherwise).
    public func sendMessage(to: String, from: String, body: String, mediaURLs: [String] = [],
                            statusCallback: String? = nil) throws -> TwilioMessage {
        var form: [(String, String)] = [("To", Self.whatsappAddress(to)), ("From", Self.whatsappAddress(from)), ("Body", body)]
        for url in mediaURLs { form.append(("MediaUrl", url)) }
        if let statusCallback { form.append(("StatusCallback", statusCallback)) }
        return try request("POST", "/Accounts/\(accountSID)/Messages.json", form: form, expect: TwilioMessage.self)
    }

    /// An approved template (Content API `HX…` SID) with its variables ({"1": "Ana", …}); allowed outside the window.
    public func sendTemplate(to: String, from: String, contentSid: String, variables: [String: String],
                             statusCallback: String? = nil) throws -> TwilioMessage {
        var form: [(String, String)] = [
            ("To", Self.whatsappAddress(to)), ("From", Self.whatsappAddress(from)),
            ("ContentSid", contentSid), ("ContentVariables", Self.jsonObject(variables)),
        ]
        if let statusCallback { form.append(("StatusCallback", statusCallback)) }
        return try request("POST", "/Accounts/\(accountSID)/Messages.json", form: form, expect: TwilioMessage.self)
    }

    public func fetchMessage(sid: String) throws -> TwilioMessage {
        try request("GET", "/Accounts/\(accountSID)/Messages/\(sid).json", expect: TwilioMessage.self)
    }

    /// The account's messages from `from` to `to` (E.164 or whatsapp: addresses) sent since `since`,
    /// newest first (one page of at most `limit`): Messages.json?To=&From=&DateSent>=.
    /// Twilio's DateSent filter may be coarse (a day), so the answer is filtered by date here too.
    public func listMessages(to: String, from: String, since: Date, limit: Int = 20) throws -> [TwilioMessage] {
        struct Page: Decodable { let messages: [TwilioMessage] }
        let query: [(String, String)] = [("To", Self.whatsappAddress(to)), ("From", Self.whatsappAddress(from)),
                                         ("DateSent>", Self.iso8601(since)), ("PageSize", String(limit))]
        let page = try request("GET", "/Accounts/\(accountSID)/Messages.json?" + HTTPRequest.formEncode(query), expect: Page.self)
        return page.messages.filter { m in
            guard let sent = (m.dateSent ?? m.dateCreated).flatMap(Self.parseRFC2822) else { return true }
            return sent >= since.addingTimeInterval(-1)
        }
    }

    /// "2026-12-01T20:15:07Z", as Twilio's date filters take it.
    static func iso8601(_ date: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: date)
    }

    /// Twilio's "Wed, 25 Nov 2026 07:29:22 +0000".
    static func parseRFC2822(_ s: String) -> Date? {
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss Z"
        return f.date(from: s)
    }

    // MARK: Accounts and numbers

    /// A subaccount of this (master) account.
    public func createSubaccount(friendlyName: String) throws -> TwilioAccount {
        try request("POST", "/Accounts.json", form: [("FriendlyName", friendlyName)], expect: TwilioAccount.self)
    }

    /// This client's own account (Accounts/{Sid}.json): a 401 / 20003 means Twilio rejects its credentials.
    public func fetchAccount() throws -> TwilioAccount {
        try request("GET", "/Accounts/\(accountSID).json", expect: TwilioAccount.self)
    }

    /// Closes a subaccount (Status=closed): Twilio releases its numbers; it cannot be reopened.
    public func closeAccount(sid: String) throws {
        _ = try request("POST", "/Accounts/\(sid).json", form: [("Status", "closed")], expect: TwilioAccount.self)
    }

    /// The account's numbers matching `phoneNumber` (IncomingPhoneNumbers.json?PhoneNumber=; Twilio
    /// matches partial numbers, so callers compare the number exactly).
    public func incomingNumbers(phoneNumber: String) throws -> [TwilioIncomingNumber] {
        struct Page: Decodable {
            let numbers: [TwilioIncomingNumber]
            enum CodingKeys: String, CodingKey { case numbers = "incoming_phone_numbers" }
        }
        let path = "/Accounts/\(accountSID)/IncomingPhoneNumbers.json?" + HTTPRequest.formEncode([("PhoneNumber", phoneNumber)])
        return try request("GET", path, expect: Page.self).numbers
    }

    /// Releases a number the account owns (DELETE IncomingPhoneNumbers/{PN}.json, 204).
    public func releaseNumber(sid: String) throws {
        _ = try request("DELETE", "/Accounts/\(accountSID)/IncomingPhoneNumbers/\(sid).json", expect: NoContent.self)
    }

    public func searchAvailableNumbers(country: String = "US", areaCode: String? = nil, limit: Int = 5) throws -> [TwilioAvailableNumber] {
        struct Page: Decodable {
            let availablePhoneNumbers: [TwilioAvailableNumber]
            enum CodingKeys: String, CodingKey { case availablePhoneNumbers = "available_phone_numbers" }
        }
        var query: [(String, String)] = [("PageSize", String(limit))]
        if let areaCode { query.insert(("AreaCode", areaCode), at: 0) }
        let path = "/Accounts/\(accountSID)/AvailablePhoneNumbers/\(country)/Local.json?" + HTTPRequest.formEncode(query)
        return try request("GET", path, expect: Page.self).availablePhoneNumbers
    }

    public func buyNumber(phoneNumber: String, smsURL: String?, statusCallback: String? = nil,
                          friendlyName: String? = nil) throws -> TwilioIncomingNumber {
        var form: [(String, String)] = [("PhoneNumber", phoneNumber)]
        if let smsURL { form += [("SmsUrl", smsURL), ("SmsMethod", "POST")] }
        if let statusCallback { form.append(("StatusCallback", statusCallback)) }
        if let friendlyName { form.append(("FriendlyName", friendlyName)) }
        return try request("POST", "/Accounts/\(accountSID)/IncomingPhoneNumbers.json", form: form, expect: TwilioIncomingNumber.self)
    }

    public func updateNumberWebhooks(sid: String, smsURL: String?, statusCallback: String? = nil) throws -> TwilioIncomingNumber {
        var form: [(String, String)] = []
        if let smsURL { form += [("SmsUrl", smsURL), ("SmsMethod", "POST")] }
        if let statusCallback { form.append(("StatusCallback", statusCallback)) }
        return try request("POST", "/Accounts/\(accountSID)/IncomingPhoneNumbers/\(sid).json", form: form,
                           expect: TwilioIncomingNumber.self)
    }

    // MARK: plumbing

    private func request<T: Decodable>(_ method: String, _ path: String, form: [(String, String)]? = nil,
                                       expect: T.Type) throws -> T {
        let url = "\(baseURL)/2010-04-01\(path)"
        var req: HTTPRequest
        if let form {
            req = .form(url: url, pairs: form, method: method, headers: [("Accept", "application/json")],
                        basicAuth: (accountSID, authToken), timeoutMS: timeoutMS)
        } else {
            req = HTTPRequest(method: method, url: url, headers: [("Accept", "application/json")],
                              basicAuth: (accountSID, authToken), timeoutMS: timeoutMS)
        }
        req.headers.append(("User-Agent", "medsync-twilio/1.0"))
        let response: HTTPResponse
        do {
            response = try http.send(req)
        } catch {
            throw TwilioTransportError(error)
        }
        guard (200..<300).contains(response.status) else { throw Self.apiError(response) }
        if T.self == NoContent.self, let none = NoContent() as? T { return none }
        do {
            return try JSONDecoder().decode(T.self, from: Data(response.body))
        } catch {
            throw TwilioTransportError(
                code: .invalidResponse,
                message: "HTTP \(response.status) from \(HTTPClient.redactedURL(url)) is not a \(T.self): \(String(response.text.prefix(200)))")
        }
    }

    /// Twilio's error JSON, or the bare status when the body is something else.
    static func apiError(_ response: HTTPResponse) -> TwilioError {
        struct Body: Decodable {
            let code: Int?
            let message: String?
            let moreInfo: String?
            enum CodingKeys: String, CodingKey {
                case code, message
                case moreInfo = "more_info"
            }
        }
        let parsed = try? JSONDecoder().decode(Body.self, from: Data(response.body))
        var code = parsed?.code
        if code == nil && response.status == 429 { code = 20429 }
        let message = parsed?.message ?? "HTTP \(response.status) from Twilio"
        return TwilioError(httpStatus: response.status, code: code, message: message,
                           moreInfo: parsed?.moreInfo ?? code.map { "https://www.twilio.com/docs/errors/\($0)" })
    }

    /// The answer of a DELETE (204, no body).
    struct NoContent: Decodable {}

    /// {"1":"Ana","2":"tomorrow"} with keys in order (JSONEncoder would not guarantee it).
    static func jsonObject(_ variables: [String: String]) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(variables)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
    }
}
