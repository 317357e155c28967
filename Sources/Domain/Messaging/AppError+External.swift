import MedsyncConfig
import Twilio

/// The one mapping of the outside world's errors onto the API's: Twilio's refusals, no answer from
/// Twilio, and missing Twilio configuration. Every use case that calls Twilio throws these (or
/// records their code), so a clinic sees the same code for the same failure on every route.
extension AppError {
    /// Twilio's refusal: 63016 is `window_closed` (as our own precheck says it); 429 and 5xx are
    /// `twilio_unavailable` (retry later); anything else is `twilio_error` with Twilio's code and a
    /// plain explanation.
    public init(_ e: TwilioError) {
        if e.code == 63016 {
            // Twilio knows the window closed although our records said open: the same answer as the precheck.
            self = Outbound.windowClosed
        } else if e.isRetryable {
            self.init(.twilioUnavailable,
                      "Twilio is busy or failing (HTTP \(e.httpStatus)\(e.code.map { ", error \($0)" } ?? "")); retry later.")
        } else {
            self.init(.twilioError, "Twilio refused the request\(e.code.map { " (error \($0))" } ?? ""): \(e.explanation)")
        }
    }

    /// No answer from Twilio (timeout, connection, garbage): `twilio_unavailable`, saying what that
    /// means for what was asked (`consequence`: whether something may have happened anyway).
    public init(_ e: TwilioTransportError, consequence: String = "the message may or may not have been sent.") {
        self.init(.twilioNoAnswer, "Twilio did not answer (\(e.code.rawValue)); \(consequence)")
    }

    /// Twilio's credentials are not configured (ConfigError names the variables, never a value).
    public init(twilioConfiguration e: ConfigError) {
        self.init(.twilioNotConfigured, e.message)
    }
}
