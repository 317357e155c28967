@preconcurrency import CLibPQ
import Foundation

/// One connection to PostgreSQL. Owns its `PGconn` (`PQconnectdb`, `PQfinish` in `deinit`).
///
/// Not `Sendable`: libpq allows one thread per connection, so each worker thread owns one.
/// Every value is a `$n` parameter of `PQexecParams` (text format). When the server went away the
/// connection is reset (`PQreset`) before the next statement, and a statement that failed because
/// the connection was lost outside a transaction is retried once on the fresh connection.
/// The session runs in UTC (`TimeZone`), so `timestamptz` text is always `...+00`.
public final class PGConnection {
    private let conninfo: String
    private var conn: OpaquePointer?
    /// 0 outside a transaction; 1 inside BEGIN; n > 1 inside nested savepoints.
    public private(set) var transactionDepth = 0
    /// How many times the connection was re-established after the server went away.
    public private(set) var reconnects = 0

    /// Connects now; throws a `.connectionFailure` PGError when the server is unreachable.
    public init(_ conninfo: String) throws {
        self.conninfo = conninfo
        try ensureConnected()
    }

    /// Connects on the first statement (for a worker that must start while the database is down).
    public init(lazy conninfo: String) {
        self.conninfo = conninfo
    }

    deinit {
        if let conn { PQfinish(conn) }
    }

    /// The server process id of this session (`pg_backend_pid()`), nil when not connected.
    public var backendPID: Int32? {
        guard let conn, PQstatus(conn) == CONNECTION_OK else { return nil }
        return PQbackendPID(conn)
    }

    public var isConnected: Bool {
        guard let conn else { return false }
        return PQstatus(conn) == CONNECTION_OK
    }

    // MARK: statements

    /// Runs one statement with `$1...$n` parameters and returns its rows.
    @discardableResult
    public func query(_ sql: String, _ params: [PGValue] = []) throws -> PGResult {
        try ensureConnected()
        do {
            return try run(sql, params)
        } catch let error as PGError where error.isConnectionFailure && transactionDepth == 0 && !isConnected {
            // The server went away (restart, pg_terminate_backend, network): nothing of this
            // statement can have been kept by a dead session, so one retry on a fresh connection.
            try ensureConnected()
            return try run(sql, params)
        }
    }

    /// Runs one statement and returns the number of rows it affected.
    @discardableResult
    public func execute(_ sql: String, _ params: [PGValue] = []) throws -> Int {
        try query(sql, params).rowsAffected
    }

    /// Runs a script of several statements without parameters (`PQexec`); for migration files only.
    public func executeScript(_ sql: String) throws {
        try ensureConnected()
        guard let conn else { throw PGConnection.notConnected }
        let result = try checked(PQexec(conn, sql), statement: "script")
        _ = result
    }

    /// Runs `body` in a transaction: COMMIT when it returns, ROLLBACK when it throws.
    /// Nested calls use savepoints, so an inner failure can be caught without losing the outer work.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        if transactionDepth > 0 {
            let name = "medsync_sp\(transactionDepth)"
            try execute("SAVEPOINT \(name)")
            transactionDepth += 1
            do {
                let value = try body()
                transactionDepth -= 1
                try execute("RELEASE SAVEPOINT \(name)")
                return value
            } catch {
                transactionDepth -= 1
                _ = try? execute("ROLLBACK TO SAVEPOINT \(name)")
                _ = try? execute("RELEASE SAVEPOINT \(name)")
                throw error
            }
        }
        try execute("BEGIN")
        transactionDepth = 1
        let value: T
        do {
            value = try body()
        } catch {
            transactionDepth = 0
            if isConnected { _ = try? execute("ROLLBACK") }
            throw error
        }
        do {
            let result = try query("COMMIT")
            transactionDepth = 0
            // COMMIT of a transaction in which a statement failed (and the error was swallowed)
            // is silently a ROLLBACK: report it instead of pretending the work was saved.
            if let tag = PQcmdStatus(result.handle), String(cString: tag) == "ROLLBACK" {
                throw PGError(code: .queryFailed, sqlState: "25P02",
                              serverMessage: "transaction was aborted by an earlier error and rolled back")
            }
        } catch {
            transactionDepth = 0
            throw error
        }
        return value
    }

    // MARK: connection

    private static let notConnected = PGError(code: .connectionFailure, serverMessage: "not connected")

    /// Connects, or resets a connection the server dropped.
    private func ensureConnected() throws {
        if let conn, PQstatus(conn) == CONNECTION_OK { return }
        if let conn {
            // Inside a transaction the work so far died with the session: never reconnect
            // silently and run the rest outside it.
            guard transactionDepth == 0 else { throw connectionError(conn) }
            PQreset(conn)
            guard PQstatus(conn) == CONNECTION_OK else { throw connectionError(conn) }
            reconnects += 1
            transactionDepth = 0
        } else {
            guard let fresh = PQconnectdb(conninfo) else {
                throw PGError(code: .connectionFailure, serverMessage: "PQconnectdb: out of memory")
            }
            guard PQstatus(fresh) == CONNECTION_OK else {
                let error = connectionError(fresh)
                PQfinish(fresh)
                throw error
            }
            conn = fresh
        }
        try prepareSession()
    }

    private func connectionError(_ conn: OpaquePointer) -> PGError {
        PGError(code: .connectionFailure, serverMessage: PGConnection.errorMessage(conn))
    }

    private func prepareSession() throws {
        guard let conn else { throw PGConnection.notConnected }
        // Server notices (e.g. "relation already exists, skipping") are not errors; keep stderr clean.
        PQsetNoticeProcessor(conn, { _, _ in }, nil)
        _ = try checked(PQexec(conn, "SET TimeZone TO 'UTC'"), statement: "SET TimeZone")
    }

    private static func errorMessage(_ conn: OpaquePointer) -> String {
        guard let p = PQerrorMessage(conn) else { return "unknown libpq error" }
        return String(cString: p).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    // MARK: execution

    private func run(_ sql: String, _ params: [PGValue]) throws -> PGResult {
        guard let conn else { throw PGConnection.notConnected }
        let cParams: [UnsafeMutablePointer<CChar>?] = params.map { $0.text.flatMap { strdup($0) } }
        defer { for p in cParams { free(p) } }
        let raw: OpaquePointer? = cParams.withUnsafeBufferPointer { buffer in
            buffer.withMemoryRebound(to: UnsafePointer<CChar>?.self) { values in
                PQexecParams(conn, sql, Int32(params.count), nil, values.baseAddress, nil, nil, 0)
            }
        }
        return try checked(raw, statement: sql)
    }

    /// Wraps a `PGresult` in its owner, then turns an error status into a `PGError`.
    private func checked(_ raw: OpaquePointer?, statement: String) throws -> PGResult {
        guard let conn else { throw PGConnection.notConnected }
        let firstLine = statement.split(separator: "\n", maxSplits: 1).first.map(String.init)
        guard let raw else {
            throw PGError(sqlState: nil, serverMessage: PGConnection.errorMessage(conn), detail: nil, constraint: nil,
                          statement: firstLine, connectionLost: PQstatus(conn) != CONNECTION_OK)
        }
        let result = PGResult(owning: raw)
        let status = PQresultStatus(raw)
        if status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK || status == PGRES_EMPTY_QUERY {
            return result
        }
        func field(_ code: Character) -> String? {
            guard let p = PQresultErrorField(raw, Int32(code.asciiValue!)) else { return nil }
            return String(cString: p)
        }
        let message = field("M") ?? PQresultErrorMessage(raw).map { String(cString: $0) } ?? PGConnection.errorMessage(conn)
        throw PGError(sqlState: field("C"), serverMessage: message.trimmingCharacters(in: .whitespacesAndNewlines),
                      detail: field("D"), constraint: field("n"), statement: firstLine,
                      connectionLost: PQstatus(conn) != CONNECTION_OK)
    }

    // MARK: connection strings

    /// The same connection settings with another database name; accepts both
    /// `key=value` strings and `postgresql://` URIs (parsed by libpq's `PQconninfoParse`).
    public static func conninfo(_ base: String, database: String) throws -> String {
        var errorMessage: UnsafeMutablePointer<CChar>?
        guard let options = PQconninfoParse(base, &errorMessage) else {
            let message = errorMessage.map { String(cString: $0) } ?? "invalid connection string"
            if let errorMessage { PQfreemem(errorMessage) }
            throw PGError(code: .connectionFailure, serverMessage: message.trimmingCharacters(in: .whitespacesAndNewlines))
        }
        defer { PQconninfoFree(options) }
        func quote(_ s: String) -> String {
            "'" + s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "'", with: "\\'") + "'"
        }
        var parts: [String] = []
        var option = options
        while let keyword = option.pointee.keyword {
            let key = String(cString: keyword)
            if key != "dbname", let value = option.pointee.val {
                parts.append("\(key)=\(quote(String(cString: value)))")
            }
            option += 1
        }
        parts.append("dbname=\(quote(database))")
        return parts.joined(separator: " ")
    }
}
