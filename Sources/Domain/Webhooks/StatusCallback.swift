import Foundation
import Twilio
import MedsyncLog

/// `POST /api/webhooks/whatsapp/status`: a forward-only status update by MessageSid.
/// The schema's trigger keeps the order (queued < sending < sent < delivered < read; failed and
/// undelivered final), so late and duplicated callbacks never move a status back, even when they race.
public enum StatusCallback {
    public static let statuses: Set<String> = ["queued", "sending", "sent", "delivered", "read", "failed", "undelivered"]

    public struct Outcome: Sendable, Equatable {
        /// false when no message has this SID (logged; Twilio still gets 200).
        public var found: Bool
        /// The message's status after the update.
        public var status: String?
    }

    /// A plain explanation of a Twilio/WhatsApp error code.
    public static func explanation(for code: Int) -> String {
        TwilioError.explanation(for: code) ?? "Twilio reported error \(code) (https://www.twilio.com/docs/errors/\(code))."
    }

    /// Applies a verified callback. Only a message sent through a sender of the posting account moves:
    /// the form's AccountSid must be the sender's subaccount, or the master account (`masterAccountSID`)
    /// for a sender without one. Anything else is acknowledged without change (and logged).
    public static func apply(_ store: some ConversationStore, params: [(String, String)], masterAccountSID: String,
                             log: Logger = Logger(label: "medsync.status")) throws -> Outcome
    {
        func value(_ n: String) -> String? { params.first { $0.0 == n }?.1.trimmingCharacters(in: .whitespaces) }
        guard let sid = value("MessageSid") ?? value("SmsSid"), !sid.isEmpty else {
            throw AppError(.missingMessageSid, "The status callback has no MessageSid.")
        }
        guard let status = (value("MessageStatus") ?? value("SmsStatus"))?.lowercased(), !status.isEmpty else {
            throw AppError(.missingStatus, "The status callback has no MessageStatus.")
        }
        // Other statuses Twilio may report (accepted, scheduled, canceled, receiving…) say nothing our
        // messages track: acknowledged so Twilio does not retry, and logged.
        guard statuses.contains(status) else {
            log.info("status callback \(sid): status \(status) ignored")
            return Outcome(found: false, status: nil)
        }
        guard let account = value("AccountSid"), !account.isEmpty else {
            log.warning("status callback \(sid) without AccountSid: ignored")
            return Outcome(found: false, status: nil)
        }
        let code = value("ErrorCode").flatMap { Int($0) }.flatMap { $0 == 0 ? nil : $0 }
        let updated = try store.updateStatus(sid: sid, status: status, errorCode: code, errorMessage: code.map(explanation(for:)),
                                             account: account, masterAccountSID: masterAccountSID)
        guard updated.found else {
            log.warning("status callback for MessageSid \(sid) (\(status)) that account \(account) did not send: ignored")
            return Outcome(found: false, status: nil)
        }
        return Outcome(found: true, status: updated.status)
    }
}
