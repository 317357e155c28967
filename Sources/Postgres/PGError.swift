/// An error from PostgreSQL or libpq.
///
/// As postgres-nio's `PSQLError`: `description` is generic so server details (table names, values
/// in a `DETAIL`) never reach a user; `debugDescription` is what the logs get: SQLSTATE, the
/// server's primary message, constraint, column and statement — never the DETAIL or HINT, which
/// quote row values (`Key (phone)=(+52…) already exists`), and no primary message of a data
/// exception (SQLSTATE class 22 quotes the input: `invalid input syntax for type integer: "…"`).
public struct PGError: Error, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    /// Stable codes, one per kind of failure.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public init(_ rawValue: String) { self.rawValue = rawValue }
        public var description: String { rawValue }

        /// The server could not be reached, or went away (SQLSTATE class 08, 57P01..57P03, or libpq lost
        /// it), or no longer takes writes (25006: a standby after a failover).
        public static let connectionFailure = Code("connection_failure")
        /// A unique index or constraint refused the row (SQLSTATE 23505).
        public static let uniqueViolation = Code("unique_violation")
        /// Another integrity constraint: foreign key, check, not null, exclusion (SQLSTATE class 23).
        public static let constraintViolation = Code("constraint_violation")
        /// Serialization failure or deadlock (40001, 40P01): the transaction may be retried.
        public static let transactionConflict = Code("transaction_conflict")
        /// The statement ran past `statement_timeout` or was cancelled (SQLSTATE 57014).
        public static let statementTimeout = Code("statement_timeout")
        /// Any other error the server reported for a statement.
        public static let queryFailed = Code("query_failed")
        /// A value could not be decoded the way the caller asked.
        public static let decodeFailed = Code("decode_failed")
    }

    public let code: Code
    /// Five-character SQLSTATE when the server reported one (`PG_DIAG_SQLSTATE`).
    public let sqlState: String?
    /// The server's or libpq's primary message (logs only: may contain names and values).
    public let serverMessage: String
    /// The server's DETAIL (may contain row values: never logged, never shown).
    public let detail: String?
    /// The constraint that failed, when the server named it (`PG_DIAG_CONSTRAINT_NAME`).
    public let constraint: String?
    /// The statement that failed, first line, for the logs.
    public let statement: String?
    /// The column a `decode_failed` error is about.
    public internal(set) var column: String?

    public init(code: Code, sqlState: String? = nil, serverMessage: String, detail: String? = nil,
                constraint: String? = nil, statement: String? = nil) {
        self.code = code
        self.sqlState = sqlState
        self.serverMessage = serverMessage
        self.detail = detail
        self.constraint = constraint
        self.statement = statement
    }

    /// Builds the error for a SQLSTATE, choosing the stable code from it.
    init(sqlState: String?, serverMessage: String, detail: String?, constraint: String?, statement: String?, connectionLost: Bool) {
        let code: Code
        switch sqlState {
        case "23505"?: code = .uniqueViolation
        case let s? where s.hasPrefix("23"): code = .constraintViolation
        case "40001"?, "40P01"?: code = .transactionConflict
        case "57014"?: code = .statementTimeout
        // 25006 (read_only_sql_transaction): the server is a standby now (a failover); the session
        // moves to the primary (PGConnection), and the request is answered as the database being away.
        case let s? where s.hasPrefix("08") || s == "57P01" || s == "57P02" || s == "57P03" || s == "25006": code = .connectionFailure
        case nil where connectionLost: code = .connectionFailure
        default: code = connectionLost ? .connectionFailure : .queryFailed
        }
        self.init(code: code, sqlState: sqlState, serverMessage: serverMessage, detail: detail,
                  constraint: constraint, statement: statement)
    }

    /// A column that could not be decoded: names the column and what was wrong, never the value.
    static func decodeFailure(column: String, _ problem: String) -> PGError {
        var error = PGError(code: .decodeFailed, serverMessage: "column \"\(column)\": \(problem)")
        error.column = column
        return error
    }

    /// A statement expected to return a row returned none.
    static func noRow(statement: String?) -> PGError {
        PGError(code: .decodeFailed, serverMessage: "the statement returned no row", statement: statement)
    }

    public var isUniqueViolation: Bool { code == .uniqueViolation }
    public var isConnectionFailure: Bool { code == .connectionFailure }

    /// A generic message, safe to show to anyone.
    public var message: String {
        switch code {
        case .connectionFailure: return "the database is unavailable"
        case .uniqueViolation: return "a record with the same key already exists"
        case .constraintViolation: return "the data violates a database constraint"
        case .transactionConflict: return "the operation conflicted with another one; try again"
        case .decodeFailed: return "a database value could not be read"
        case .statementTimeout: return "the database did not answer in time (statement timeout)"
        default: return "a database operation failed"
        }
    }

    public var description: String {
        sqlState.map { "PGError(\(code), SQLSTATE \($0)): \(message)" } ?? "PGError(\(code)): \(message)"
    }

    public var debugDescription: String {
        var s = "PGError(\(code)"
        if let sqlState { s += ", SQLSTATE \(sqlState)" }
        s += "): \(logSafeMessage)"
        if let constraint { s += " CONSTRAINT: \(constraint)" }
        if let column { s += " COLUMN: \(column)" }
        if let statement { s += " STATEMENT: \(statement)" }
        return s
    }

    /// The server's primary message, first line only (libpq's full message text puts DETAIL and
    /// HINT on the lines after it); for a data exception (class 22) the generic message instead.
    var logSafeMessage: String {
        if sqlState?.hasPrefix("22") == true { return message }
        return serverMessage.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false).first.map(String.init) ?? ""
    }
}
