import Foundation
import MedsyncConfig
import HTTPClient
import Postgres
import Twilio

// Transitional, as `Audit.record(conn, …)`: the `PGConnection` signatures that callers outside the
// messaging use cases still call (the reminder and bundle jobs, the bundle send, the sender check,
// the appointment notices, some tests). Each forwards to the messages' PostgreSQL store; when the
// last caller passes a store, this file goes.

extension Outbound {
    public static func send(_ conn: PGConnection, http: HTTPClient, config: Config, _ request: OutboundRequest,
                            now: Date = Date()) throws -> OutboundResult {
        try send(PGMessageStore(conn), http: http, config: config, request, now: now)
    }

    public static func prepare(_ conn: PGConnection, _ request: OutboundRequest, now: Date = Date()) throws -> PreparedOutbound {
        try prepare(PGMessageStore(conn), request, now: now)
    }

    public static func deliver(_ conn: PGConnection, http: HTTPClient, config: Config, _ p: PreparedOutbound,
                               recordRetryable: Bool = true) throws -> OutboundResult {
        try deliver(PGMessageStore(conn), http: http, config: config, p, recordRetryable: recordRetryable)
    }

    static func sendOnce(_ conn: PGConnection, http: HTTPClient, config: Config, _ p: PreparedOutbound,
                         since: Date? = nil) throws -> OutboundResult {
        try sendOnce(PGMessageStore(conn), http: http, config: config, p, since: since)
    }

    public static func recordSettled(_ conn: PGConnection, _ p: PreparedOutbound, _ m: TwilioMessage) throws -> OutboundResult {
        try recordSettled(PGMessageStore(conn), p, m)
    }
}

extension Templates {
    public static func contentSid(_ conn: PGConnection, workspaceID: Int64, key: String, language: String) throws -> String? {
        try contentSid(PGMessageStore(conn), workspaceID: workspaceID, key: key, language: language)
    }
}

extension SenderAccount {
    /// The workspace's primary active sender, if it has one.
    public static func primary(_ conn: PGConnection, workspaceID: Int64) throws -> SenderAccount? {
        try PGMessageStore(conn).primarySender(workspaceID: workspaceID)
    }

    /// A sender of the workspace by id (active or not).
    public static func find(_ conn: PGConnection, workspaceID: Int64, id: Int64) throws -> SenderAccount? {
        try PGMessageStore(conn).sender(workspaceID: workspaceID, id: id)
    }
}

extension Idempotency {
    /// In the caller's open transaction (the store's statements are single statements).
    static func claim<Answer: Decodable>(_ conn: PGConnection, workspaceID: Int64, key: String, operation: String, hash: String,
                                         as: Answer.Type) throws -> (id: Int64?, replay: Answer?) {
        try claim(PGMessageStore(conn), workspaceID: workspaceID, key: key, operation: operation, hash: hash, as: Answer.self)
    }

    static func replay<Answer: Decodable>(_ conn: PGConnection, workspaceID: Int64, key: String, operation: String, hash: String,
                                          as: Answer.Type) throws -> Answer? {
        try replay(PGMessageStore(conn), workspaceID: workspaceID, key: key, operation: operation, hash: hash, as: Answer.self)
    }

    static func complete(_ conn: PGConnection, _ id: Int64, answer: some Encodable) throws {
        try complete(PGMessageStore(conn), id, answer: answer)
    }
}
