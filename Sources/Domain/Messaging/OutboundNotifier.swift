import Foundation
import HTTPClient
import MedsyncConfig

/// Staff's appointment notices through `Outbound` on the request's message store: an ambiguous
/// Twilio failure is settled against its Messages list, so the notice is stored as it really ended.
public struct OutboundNotifier<Messages: MessageStore>: PatientNotifier {
    let store: Messages
    let http: HTTPClient
    let config: Config

    public init(_ store: Messages, http: HTTPClient, config: Config) {
        self.store = store
        self.http = http
        self.config = config
    }

    public func send(_ request: OutboundRequest, now: Date) throws -> (messageID: Int64, conversationID: Int64) {
        let r = try Outbound.sendOnce(store, http: http, config: config, try Outbound.prepare(store, request, now: now))
        return (r.messageID, r.conversationID)
    }
}
