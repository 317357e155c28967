import Foundation
import Postgres
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

    /// The subaccount this callback names (by AccountSid, else by the sender number in From) and its
    /// encrypted token, for signature checks.
    public static func subaccountToken(_ conn: PGConnection, accountSID: String?, from: String?) throws -> SubaccountCredential? {
        let rows = try conn.query("""
            SELECT twilio_subaccount_sid, twilio_subaccount_token_enc FROM medsync_subaccount_token(\(accountSID ?? ""), \(from ?? ""))
            """)
        guard let row = rows.first, let sid = try row.decode(String?.self, "twilio_subaccount_sid"),
              let enc = try row.decode(String?.self, "twilio_subaccount_token_enc") else { return nil }
        return SubaccountCredential(sid: sid, tokenEnc: enc)
    }

    /// Applies a verified callback. Only a message sent through a sender of the posting account moves:
    /// the form's AccountSid must be the sender's subaccount, or the master account (`masterAccountSID`)
    /// for a sender without one. Anything else is acknowledged without change (and logged).
    public static func apply(_ conn: PGConnection, params: [(String, String)], masterAccountSID: String,
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
        let final = status == "failed" || status == "undelivered"
        // Row-level security: the session's workspace is the message's (sql/0021); the account check
        // below still decides whether it moves.
        conn.workspace = .message(sid: sid)
        let rows = try conn.query("""
            UPDATE whatsapp_messages m
               SET status = \(status),
                   error_code = CASE WHEN \(final)::bool THEN COALESCE(\(code)::int, m.error_code) ELSE m.error_code END,
                   error_message = CASE WHEN \(final)::bool AND \(code)::int IS NOT NULL THEN \(code.map(explanation(for:))) ELSE m.error_message END
              FROM whatsapp_conversations c JOIN whatsapp_senders s ON s.id = c.sender_id
             WHERE m.twilio_sid = \(sid) AND c.id = m.conversation_id
               AND COALESCE(s.twilio_subaccount_sid, \(masterAccountSID)) = \(account)
            RETURNING m.status
            """)
        guard let row = rows.first else {
            log.warning("status callback for MessageSid \(sid) (\(status)) that account \(account) did not send: ignored")
            return Outcome(found: false, status: nil)
        }
        return Outcome(found: true, status: try row.decode(String?.self, "status"))
    }
}
