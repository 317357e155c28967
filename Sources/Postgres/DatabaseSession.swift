@preconcurrency import CLibPQ
import MedsyncConfig

/// Limits every database session of the binaries runs under, so that an unreachable server, a
/// statement stuck on a lock or a transaction left open cannot hold a worker for ever:
/// libpq's `connect_timeout`, and the server settings `statement_timeout` and
/// `idle_in_transaction_session_timeout` (sent at connection start with `options=-c ...`, so they
/// also hold after a reconnect).
public struct DatabaseSession: Sendable, Equatable {
    public var connectTimeoutS: Int
    /// 0: no limit.
    public var statementTimeoutMS: Int
    /// 0: no limit.
    public var idleInTransactionTimeoutMS: Int

    public init(connectTimeoutS: Int, statementTimeoutMS: Int, idleInTransactionTimeoutMS: Int) {
        self.connectTimeoutS = connectTimeoutS
        self.statementTimeoutMS = statementTimeoutMS
        self.idleInTransactionTimeoutMS = idleInTransactionTimeoutMS
    }

    /// `base` (a `key=value` string or a `postgresql://` URI) with these limits; they replace a
    /// `connect_timeout` of `base`, and are added after the `options` it may already carry.
    public func conninfo(_ base: String) throws -> String {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let parsed = PQconninfoParse(base, &errorMessage) else {
            let message = errorMessage.map { String(cString: $0) } ?? "invalid connection string"
            if let errorMessage { PQfreemem(errorMessage) }
            throw PGError(code: .connectionFailure, serverMessage: message.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        defer { PQconninfoFree(parsed) }
        func quote(_ s: String) -> String {
            "'" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
        }
        var parts: [String] = []
        var options = ""
        var option = parsed
        while let keyword = option.pointee.keyword {
            let key = String(cString: keyword)
            if let value = option.pointee.val.map({ String(cString: $0) }) {
                switch key {
                case "connect_timeout": break
                case "options": options = value
                default: parts.append("\(key)=\(quote(value))")
                }
            }
            option += 1
        }
        let settings = "-c statement_timeout=\(statementTimeoutMS) -c idle_in_transaction_session_timeout=\(idleInTransactionTimeoutMS)"
        parts.append("connect_timeout=\(connectTimeoutS)")
        parts.append("options=\(quote(options.isEmpty ? settings : options + " " + settings))")
        return parts.joined(separator: " ")
    }
}

extension Config {
    /// The session limits of MEDSYNC_DB_CONNECT_TIMEOUT_S, MEDSYNC_DB_STATEMENT_TIMEOUT_MS and
    /// MEDSYNC_DB_IDLE_TX_TIMEOUT_MS.
    public var databaseSession: DatabaseSession {
        DatabaseSession(connectTimeoutS: dbConnectTimeoutS, statementTimeoutMS: dbStatementTimeoutMS,
                        idleInTransactionTimeoutMS: dbIdleTxTimeoutMS)
    }
}
