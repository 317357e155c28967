import Foundation
import HTTPClient
import MedsyncConfig
import Postgres

/// Staff's appointment notices through `Outbound` on the request's connection: an ambiguous Twilio
/// failure is settled against its Messages list, so the notice is stored as it really ended.
public struct OutboundNotifier: PatientNotifier {
    let conn: PGConnection
    let http: HTTPClient
    let config: Config

    public init(_ conn: PGConnection, http: HTTPClient, config: Config) {
        self.conn = conn
        self.http = http
        self.config = config
    }

    public func send(_ request: OutboundRequest, now: Date) throws -> (messageID: Int64, conversationID: Int64) {
        let r = try Outbound.sendOnce(conn, http: http, config: config, try Outbound.prepare(conn, request, now: now))
        return (r.messageID, r.conversationID)
    }
}
