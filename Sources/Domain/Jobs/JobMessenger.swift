import Foundation
import Twilio

/// How the jobs reach a patient: Outbound's checks (patient, consent, sender, window, template), one
/// Twilio call, and after an ambiguous failure Twilio's own records. A job claims before and records
/// after through its claim store; no transaction is open while a messenger runs.
public protocol JobMessenger {
    /// Outbound's checks, without calling Twilio.
    func prepare(_ request: OutboundRequest, now: Date) throws -> PreparedOutbound
    /// The workspace's Content SID for a template in a language, when one is mapped.
    func contentSid(workspaceID: Int64, key: String, language: String) throws -> String?
    /// One Twilio call, and the message recorded; a 429/5xx leaves no message row (the job tries again).
    func deliver(_ p: PreparedOutbound) throws -> OutboundResult
    /// Twilio's Messages list for this recipient since `since`.
    func sentCheck(_ p: PreparedOutbound, since: Date) -> SentCheck
    /// Records the message Twilio sent after all (as `deliver` would have); returns its id.
    func recordSettled(_ p: PreparedOutbound, _ m: TwilioMessage) throws -> Int64
}
