import Foundation
import MedsyncConfig
import HTTPClient
import Twilio

/// Sends for people who will retry (staff sends, appointment notices): an ambiguous Twilio failure
/// (a 5xx, or no usable answer once the request went out) is settled against Twilio's Messages list
/// at once, as the jobs do (`SentCheck`), and the message is stored as it really ended: sent with
/// Twilio's SID, or failed (nothing went out: safe to retry). When even the list cannot be read, the
/// message is stored `sending` without a SID, and the next send of the same text to the same
/// conversation settles it first — a retry never delivers twice.
extension Outbound {
    static let unsettledNote = "Twilio did not confirm this message; whether it was sent is checked before it is sent again."

    /// `since`: a run of this same request (same Idempotency-Key) that died may have sent it since then.
    static func sendOnce(_ store: some MessageStore, http: HTTPClient, config: Config, _ p: PreparedOutbound,
                         since: Date? = nil) throws -> OutboundResult {
        if let earlier = try settleEarlier(store, http: http, config: config, p) { return earlier }
        if let since {
            switch SentCheck.run(http: http, config: config, p, since: since) {
            case .sent(let m): return try recordSettled(store, p, m)
            case .notSent: break
            case .unknown: throw undecided
            }
        }
        let started = Date()
        do {
            return try deliver(store, http: http, config: config, p, recordRetryable: false)
        } catch let error where SentCheck.isAmbiguous(error) {
            switch SentCheck.run(http: http, config: config, p, since: started) {
            case .sent(let m):
                return try recordSettled(store, p, m)
            case .notSent:
                try record(store, p, sid: nil, status: "failed", errorCode: (error as? TwilioError)?.code,
                           errorMessage: "Twilio failed and did not send it; it is safe to send again.")
            case .unknown:
                try record(store, p, sid: nil, status: "sending", errorCode: nil, errorMessage: unsettledNote)
            }
            throw error
        } catch let error as TwilioError {
            // 429 (not sent): stored as failed, as `deliver` stores the others.
            if error.isRetryable { try record(store, p, sid: nil, status: "failed", errorCode: error.code, errorMessage: error.explanation) }
            throw error
        } catch let error as TwilioTransportError {
            try record(store, p, sid: nil, status: "failed", errorCode: nil, errorMessage: "Twilio could not be reached (\(error.code.rawValue)); nothing was sent.")
            throw error
        }
    }

    static let undecided = AppError(.twilioUnavailable, "Twilio did not confirm an earlier attempt of this message and its message list cannot be read now; "
        + "nothing was sent. Retry later.", retryAfter: 30)

    /// Earlier sends of the same content to this conversation whose outcome is unknown: asked of
    /// Twilio. One it has is the answer (no new send); ones it has not are failed.
    static func settleEarlier(_ store: some MessageStore, http: HTTPClient, config: Config, _ p: PreparedOutbound) throws -> OutboundResult? {
        guard let conversationID = p.conversationID else { return nil }
        let unsettled = try store.unsettledSends(workspaceID: p.workspaceID, conversationID: conversationID, body: p.body, templateKey: p.templateKey)
        for earlier in unsettled {
            let id = earlier.messageID
            switch SentCheck.run(http: http, config: config, p, since: earlier.createdAt) {
            case .sent(let m):
                let status = storedStatus(m.status, else: "sent")
                let updated = try store.settleSent(messageID: id, sid: m.sid, status: status, errorCode: m.errorCode, errorMessage: m.errorMessage)
                return OutboundResult(messageID: id, twilioSID: m.sid, status: updated ?? status,
                                      conversationID: conversationID, contentSid: p.contentSid)
            case .notSent:
                try store.settleNotSent(messageID: id)
            case .unknown:
                throw undecided
            }
        }
        return nil
    }

    /// Records the message Twilio sent after all, as `deliver` would have — once: a run that recorded
    /// it and died before answering (its key taken over later) left the row with this SID, which is
    /// the answer (a second row would break the SID's unique key, and the retry would send again).
    public static func recordSettled(_ store: some MessageStore, _ p: PreparedOutbound, _ m: TwilioMessage) throws -> OutboundResult {
        let recorded = try store.recordSettled(message(p, sid: m.sid, status: storedStatus(m.status), errorCode: m.errorCode, errorMessage: m.errorMessage))
        return OutboundResult(messageID: recorded.messageID, twilioSID: m.sid, status: recorded.status, conversationID: recorded.conversationID,
                              contentSid: p.contentSid)
    }
}
