import HTTPClient
/// An error answer from Twilio's REST API: `{"code":…, "message":…, "more_info":…, "status":…}`.
/// `code` is Twilio's own error code (e.g. 63016); `explanation` says in plain words what it means
/// for a clinic and what to do.
public struct TwilioError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The HTTP status Twilio answered.
    public let httpStatus: Int
    /// Twilio's error code; nil only when the answer carried none (e.g. a bare 502 from a proxy).
    public let code: Int?
    /// Twilio's message, as it sent it.
    public let message: String
    /// Twilio's documentation link (`https://www.twilio.com/docs/errors/<code>`).
    public let moreInfo: String?

    public init(httpStatus: Int, code: Int?, message: String, moreInfo: String?) {
        self.httpStatus = httpStatus
        self.code = code
        self.message = message
        self.moreInfo = moreInfo
    }

    /// A human explanation of the code (falls back to Twilio's message).
    public var explanation: String {
        if let text = code.flatMap(TwilioError.explanation(for:)) { return text }
        // A 401 without Twilio's code (e.g. from a proxy in front of the API) means the same as 20003.
        if httpStatus == 401, let text = TwilioError.explanation(for: 20003) { return text }
        return message
    }

    /// Worth retrying later with backoff: rate limits (429 / 20429) and Twilio's 5xx answers.
    public var isRetryable: Bool { httpStatus == 429 || code == 20429 || (500..<600).contains(httpStatus) }

    public var description: String {
        "TwilioError(HTTP \(httpStatus), code \(code.map(String.init) ?? "none")): \(message)"
    }

    /// Plain-words explanations of the codes a WhatsApp clinic meets; nil for others.
    public static func explanation(for code: Int) -> String? {
        switch code {
        case 63016:
            return "The patient has not written in the last 24 hours, so WhatsApp only allows an approved template "
                + "(not free text). Send a template message instead."
        case 63112:
            return "Meta has disabled the WhatsApp Business Account of this sender, often after a billing lapse "
                + "(an unpaid or zero Twilio balance). Recharge the Twilio account, then open a ticket with Twilio support "
                + "to have the account enabled again; check the sender in WhatsApp Manager before sending again."
        case 63024:
            return "The recipient cannot receive WhatsApp messages (the number has no WhatsApp account or is not "
                + "a valid recipient)."
        case 21211:
            return "The patient's phone number is not valid: it must be in international E.164 form, e.g. +14155550100."
        case 21408:
            return "Sending to this country is not enabled for the Twilio account (its geographic permissions)."
        case 63007:
            return "The sending number is not a WhatsApp sender of this Twilio account (or subaccount)."
        case 20003:
            return "Twilio rejected the account credentials (HTTP 401): the account SID or auth token is wrong, "
                + "or the account has a zero balance (Twilio suspends an account that runs out of credit: recharge it) "
                + "or is suspended."
        case 20429:
            return "Twilio's rate limit was reached (too many requests). The message can be retried shortly."
        case 21610:
            return "The patient has blocked messages from this sender (replied STOP)."
        default:
            return nil
        }
    }
}

/// No usable answer from Twilio at all: a timeout, a refused connection, or an answer that is not
/// Twilio's JSON. Kept apart from `TwilioError` because nobody knows whether Twilio acted.
public struct TwilioTransportError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Code: String, Sendable, Equatable {
        case timeout, connect, transport
        /// A 2xx answer whose body is not the resource's JSON.
        case invalidResponse = "invalid_response"
    }

    public let code: Code
    public let message: String

    public init(code: Code, message: String) {
        self.code = code
        self.message = message
    }

    init(_ error: HTTPClientError) {
        switch error.code {
        case .timeout: self.init(code: .timeout, message: error.message)
        case .connect: self.init(code: .connect, message: error.message)
        case .transport: self.init(code: .transport, message: error.message)
        }
    }

    /// Timeouts and failed connections may be retried (a timed-out send may have gone out: callers
    /// that must not send twice check Twilio's records first).
    public var isRetryable: Bool { code != .invalidResponse }

    public var description: String { "TwilioTransportError(\(code.rawValue)): \(message)" }
}
