import Foundation
import HTTPClient
import MedsyncConfig
import Twilio

/// Outbound on a message store, Twilio through `http`: the jobs' messenger (`JobMessenger`) and staff's
/// appointment notices (`PatientNotifier`: an ambiguous Twilio failure is settled against its
/// Messages list, so the notice is stored as it really ended).
public struct OutboundMessenger<Messages: MessageStore>: JobMessenger, PatientNotifier {
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

    public func send(_ request: OutboundRequest, now: Date) throws -> (messageID: Int64, conversationID: Int64) {
        let r = try Outbound.sendOnce(store, http: http, config: config, try Outbound.prepare(store, request, now: now))
        return (r.messageID, r.conversationID)
    }
}
