import Foundation
import MedsyncConfig
import HTTPClient
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

/// The jobs' messenger in production: Outbound on the job's message store, Twilio through `http`.
public struct OutboundMessenger<Messages: MessageStore>: JobMessenger {
    let store: Messages
    let http: HTTPClient
    let config: Config

    public init(_ store: Messages, http: HTTPClient, config: Config) {
        self.store = store
        self.http = http
        self.config = config
    }

    public func prepare(_ request: OutboundRequest, now: Date) throws -> PreparedOutbound {
        try Outbound.prepare(store, request, now: now)
    }

    public func contentSid(workspaceID: Int64, key: String, language: String) throws -> String? {
        try Templates.contentSid(store, workspaceID: workspaceID, key: key, language: language)
    }

    public func deliver(_ p: PreparedOutbound) throws -> OutboundResult {
        try Outbound.deliver(store, http: http, config: config, p, recordRetryable: false)
    }

    public func sentCheck(_ p: PreparedOutbound, since: Date) -> SentCheck {
        SentCheck.run(http: http, config: config, p, since: since)
    }

    public func recordSettled(_ p: PreparedOutbound, _ m: TwilioMessage) throws -> Int64 {
        try Outbound.recordSettled(store, p, m).messageID
    }
}
