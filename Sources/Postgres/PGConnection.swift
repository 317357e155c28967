@preconcurrency import CLibPQ
import Foundation

/// One connection to PostgreSQL. Owns its `PGconn` (`PQconnectdb`, `PQfinish` in `deinit`).
///
/// Not `Sendable`: libpq allows one thread per connection, so each worker thread owns one.
/// Every value is a `$n` parameter (text format). When the server went away the
/// connection is reset (`PQreset`) before the next statement, and a statement that failed because
/// the connection was lost outside a transaction is retried once on the fresh connection.
/// The session runs in UTC (`TimeZone`), so `timestamptz` text is always `...+00`.
///
/// Prepared statements: a data statement (SELECT, INSERT, UPDATE, DELETE, WITH, VALUES) is prepared
/// once per session under a generated name (`PQprepare`) and then run by name (`PQexecPrepared`),
/// so PostgreSQL parses and plans it once instead of on every call. The cache is keyed by the SQL
/// text, bounded (`statementCacheCapacity`, least recently used evicted and `DEALLOCATE`d), emptied
/// when the session is re-established (the names die with it), and a statement the server no longer
/// knows (`26000`) or whose plan changed result type after a migration (`0A000`) is prepared again
/// once, outside a transaction. Transaction control and other utility statements run unnamed.
public final class PGConnection {
    private let conninfo: String
    private var conn: OpaquePointer?
    /// Most prepared statements one session keeps.
    public let statementCacheCapacity: Int
    private var statements: [String: PreparedStatement] = [:]
    private var statementSerial = 0
    private var useClock = 0
    /// Names of statements dropped from the cache inside a transaction, deallocated after it.
    private var pendingDeallocations: [String] = []
    /// How many statements this connection prepared (`PQprepare` calls that succeeded).
    public private(set) var preparations = 0
    /// How many statements this connection ran (query/execute calls that reached the server).
    public private(set) var statementsRun = 0

    private struct PreparedStatement {
        let name: String
        var lastUse: Int
    }
    /// 0 outside a transaction; 1 inside BEGIN; n > 1 inside nested savepoints.
    public private(set) var transactionDepth = 0
    /// `begin()` opened a transaction whose BEGIN goes with the next statement.
    private var beginPending = false
    /// `commit(with:)`'s statement is running: its COMMIT goes with it.
    private var commitPending = false
    /// How many times the connection was re-established after the server went away.
    public private(set) var reconnects = 0
    /// The server refused a write because it no longer takes any (SQLSTATE 25006: it is, or became,
    /// a standby): the session is re-established before the next statement, and libpq, given a
    /// multi-host string with `target_session_attrs=read-write`, finds the server that is primary now.
    private var onReadOnlyServer = false

    // MARK: the session's workspace (row-level security, sql/0021)

    /// Which workspace's rows this session may see: what `medsync.workspace_id` must say before the
    /// next statement runs. Not a statement of its own: the statement that sets it goes with the
    /// next one, in the same round trip (libpq's pipeline mode), and only when it changed.
    public enum Workspace: Hashable, Sendable {
        /// No workspace: every tenant table looks empty.
        case none
        case id(Int64)
        /// The workspace of the sender with this number (`medsync_enter_sender`): a webhook's `To`.
        case sender(phone: String)
        /// The workspace of the message with this MessageSid (`medsync_enter_message`): a status callback.
        case message(sid: String)
        /// The workspace of the invitation whose token has this SHA-256 (`medsync_enter_invitation`):
        /// the invitee's lookup and accept, before anyone is signed in.
        case invitation(tokenHash: [UInt8])

        var statement: PGQuery {
            switch self {
            case .none: return "SELECT set_config('medsync.workspace_id', '', false)"
            case .id(let id): return "SELECT set_config('medsync.workspace_id', \(String(id)), false)"
            case .sender(let phone): return "SELECT medsync_enter_sender(\(phone))"
            case .message(let sid): return "SELECT medsync_enter_message(\(sid))"
            case .invitation(let hash): return "SELECT medsync_enter_invitation(\(PGBytea(hash)))"
            }
        }
    }
    /// Set per request (`AuthMiddleware.staff`, the webhooks) and back to `.none` whenever the
    /// session changes hands (`ConnectionPool`), so no request inherits another's workspace.
    public var workspace: Workspace = .none
    /// What the server's session says (nil: not known, e.g. after a rollback undid a setting).
    /// A new session has no workspace.
    private var appliedWorkspace: Workspace? = Workspace.none
    /// A new request begins on this session (`ConnectionPool`): no workspace until it sets one. A
    /// sender's workspace found by routing stays in force on the server: the next request routed by
    /// the same number sends no statement for it (the webhook's hot path). A number can move to
    /// another workspace meanwhile, so a request that finds no active sender there calls
    /// `routeAgain()`. Other routed workspaces (a message's, an invitation's) are looked up again.
    /// Sends nothing by itself.
    public func resetWorkspace() {
        workspace = .none
        routedThisRequest = false
        switch appliedWorkspace {
        case .message?, .invitation?: appliedWorkspace = nil
        default: break
        }
    }
    /// Whether this request's routing statement was sent (so the workspace in force is fresh).
    private var routedThisRequest = false
    /// The sender's workspace in force was kept from an earlier request and may be stale (the request
    /// found no active sender in it): it is looked up again with the next statement. Returns false,
    /// and changes nothing, when it was looked up during this request already (asking again would
    /// answer the same).
    public func routeAgain() -> Bool {
        guard case .sender? = appliedWorkspace, appliedWorkspace == workspace, !routedThisRequest else { return false }
        appliedWorkspace = nil
        return true
    }
    /// The setting was sent inside the open transaction: a rollback undoes it.
    private var workspaceSentInTransaction = false
    /// A ROLLBACK is being sent: the setting never goes with it (it would be undone at once).
    private var holdingWorkspace = false
    private var workspacePending: Bool { appliedWorkspace != workspace && !holdingWorkspace }

    /// Connects now; throws a `.connectionFailure` PGError when the server is unreachable.
    public init(_ conninfo: String, statementCacheCapacity: Int = 256) throws {
        self.conninfo = conninfo
        self.statementCacheCapacity = max(0, statementCacheCapacity)
        try ensureConnected()
    }

    /// Connects on the first statement (for a worker that must start while the database is down).
    public init(lazy conninfo: String, statementCacheCapacity: Int = 256) {
        self.conninfo = conninfo
        self.statementCacheCapacity = max(0, statementCacheCapacity)
    }

    deinit {
        if let conn { PQfinish(conn) }
    }

    /// The server process id of this session (`pg_backend_pid()`), nil when not connected.
    public var backendPID: Int32? {
        guard let conn, PQstatus(conn) == CONNECTION_OK else { return nil }
        return PQbackendPID(conn)
    }

    /// No transaction open on this session (nor on a session never connected): it may serve another
    /// request as it is.
    public var isIdle: Bool {
        guard transactionDepth == 0 else { return false }
        guard let conn else { return true }
        return PQstatus(conn) != CONNECTION_OK || PQtransactionStatus(conn) == PQTRANS_IDLE
    }

    public var isConnected: Bool {
        guard let conn else { return false }
        return PQstatus(conn) == CONNECTION_OK
    }

    // MARK: statements

    /// Runs one statement and returns its rows: `try conn.query("SELECT id FROM t WHERE x = \(x)")`.
    @discardableResult
    public func query(_ query: PGQuery) throws -> PGResult {
        try ensureConnected()
        let opensTransaction = beginPending
        do {
            return try run(query.sql, query.binds)
        } catch let error as PGError where error.isConnectionFailure
                    && (opensTransaction || (transactionDepth == 0 && (!isConnected || onReadOnlyServer))) {
            // The server went away (restart, pg_terminate_backend, network, failover), or refused
            // the write as a standby: one retry on a fresh connection — with a multi-host string, to
            // the server that is primary now. (A pipeline's reading stops at its Sync, before libpq
            // sees the server close the session: that one is reset without waiting to notice.)
            // A statement whose COMMIT reached a server that died before answering may have been
            // kept there (and, with synchronous replication, on the standby that takes over): run
            // again it meets its own row — every write a retry can repeat has a unique key that
            // decides (a webhook's MessageSid, a job's claim), as Twilio's own retries need anyway.
            beginPending = opensTransaction
            try reconnect()
            return try run(query.sql, query.binds)
        }
    }

    /// Runs one statement and returns the number of rows it affected.
    @discardableResult
    public func execute(_ query: PGQuery) throws -> Int {
        try self.query(query).rowsAffected
    }

    /// The older entry point: SQL text with `$1...$n` and its parameters, through the same
    /// prepared-statement cache. Kept for callers not yet written with `PGQuery`.
    /// Disfavored, so that a string literal alone (`conn.query("... \(x)")`) is a `PGQuery` whose
    /// interpolations are binds, never text pasted into the SQL.
    @_disfavoredOverload
    @discardableResult
    public func query(_ sql: String, _ params: [PGValue]) throws -> PGResult {
        try query(PGQuery(unsafeSQL: sql, binds: params))
    }

    /// The older entry point of `execute`; see `query(_:_:)`.
    @_disfavoredOverload
    @discardableResult
    public func execute(_ sql: String, _ params: [PGValue]) throws -> Int {
        try query(PGQuery(unsafeSQL: sql, binds: params)).rowsAffected
    }

    /// Runs a script of several statements without parameters (`PQexec`); for migration files only.
    public func executeScript(_ sql: String) throws {
        try ensureConnected()
        guard let conn else { throw PGConnection.notConnected }
        if beginPending {
            beginPending = false
            _ = try checked(PQexec(conn, "BEGIN"), statement: "BEGIN")
        }
        let result = try checked(PQexec(conn, sql), statement: "script")
        _ = result
    }

    /// Runs `body` in a transaction: COMMIT when it returns, ROLLBACK when it throws.
    /// Nested calls use savepoints, so an inner failure can be caught without losing the outer work.
    public func transaction<T>(_ body: () throws -> T) throws -> T {
        if transactionDepth > 0 {
            let name = "medsync_sp\(transactionDepth)"
            try execute(PGQuery(unsafeSQL: "SAVEPOINT \(name)"))
            transactionDepth += 1
            do {
                let value = try body()
                transactionDepth -= 1
                try execute(PGQuery(unsafeSQL: "RELEASE SAVEPOINT \(name)"))
                return value
            } catch {
                transactionDepth -= 1
                // A workspace set inside the savepoint is undone with it: sent again if needed.
                if workspaceSentInTransaction { appliedWorkspace = nil }
                holdingWorkspace = true
                _ = try? execute(PGQuery(unsafeSQL: "ROLLBACK TO SAVEPOINT \(name)"))
                holdingWorkspace = false
                _ = try? execute(PGQuery(unsafeSQL: "RELEASE SAVEPOINT \(name)"))
                throw error
            }
        }
        try begin()
        let value: T
        do {
            value = try body()
        } catch {
            rollback()
            throw error
        }
        try commit()
        return value
    }

    /// Opens a transaction. Its BEGIN is not sent alone: it goes with the transaction's first
    /// statement, in one round trip (libpq's pipeline mode). End it with `commit()` or `rollback()`.
    public func begin() throws {
        guard transactionDepth == 0 else {
            throw PGError(code: .queryFailed, sqlState: "25001", serverMessage: "a transaction is already open on this session")
        }
        transactionDepth = 1
        beginPending = true
    }

    /// COMMITs the transaction `begin()` opened (nothing is sent when no statement ran in it).
    public func commit() throws {
        guard transactionDepth == 1 else {
            throw PGError(code: .queryFailed, sqlState: "25000", serverMessage: "no transaction to commit on this session")
        }
        if beginPending {
            beginPending = false
            transactionDepth = 0
            return
        }
        do {
            let result = try query("COMMIT")
            transactionDepth = 0
            deallocatePending()
            try PGConnection.committed(result)
            workspaceSentInTransaction = false
        } catch {
            transactionDepth = 0
            if workspaceSentInTransaction { appliedWorkspace = nil; workspaceSentInTransaction = false }
            throw error
        }
    }

    /// COMMIT of a transaction in which a statement failed (and the error was swallowed) is silently
    /// a ROLLBACK: reported instead of pretending the work was saved.
    private static func committed(_ result: PGResult) throws {
        if let tag = PQcmdStatus(result.handle), String(cString: tag) == "ROLLBACK" {
            throw PGError(code: .queryFailed, sqlState: "25P02",
                          serverMessage: "transaction was aborted by an earlier error and rolled back")
        }
    }

    /// Runs the transaction's last statement and COMMITs in the same round trip (libpq's pipeline
    /// mode). A statement that fails commits nothing and leaves the transaction open, aborted, for
    /// `rollback()`.
    @discardableResult
    public func commit(with last: PGQuery) throws -> PGResult {
        guard transactionDepth == 1 else {
            throw PGError(code: .queryFailed, sqlState: "25000", serverMessage: "no transaction to commit on this session")
        }
        commitPending = true
        defer { commitPending = false }
        return try query(last)
    }

    /// Rolls the open transaction back (if any); a failure to say so only leaves the session to be
    /// reset, never a transaction that could commit.
    public func rollback() {
        guard transactionDepth > 0 else { return }
        let sent = !beginPending
        beginPending = false
        transactionDepth = 0
        if workspaceSentInTransaction { appliedWorkspace = nil; workspaceSentInTransaction = false }
        holdingWorkspace = true
        if sent, isConnected { _ = try? execute("ROLLBACK") }
        holdingWorkspace = false
        deallocatePending()
    }

    // MARK: connection

    private static let notConnected = PGError(code: .connectionFailure, serverMessage: "not connected")

    /// Connects, or resets a connection the server dropped.
    private func ensureConnected() throws {
        if let conn, PQstatus(conn) == CONNECTION_OK, !onReadOnlyServer { return }
        if let conn {
            // Inside a transaction the work so far died with the session: never reconnect
            // silently and run the rest outside it (a transaction whose BEGIN is not sent yet has
            // done nothing).
            guard transactionDepth == 0 || beginPending else { throw connectionError(conn) }
            return try reconnect()
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
            forgetStatements()
        }
        try prepareSession()
    }

    /// A fresh session in place of this one (`PQreset`): its prepared statements are gone.
    private func reconnect() throws {
        guard let conn else { return try ensureConnected() }
        PQreset(conn)
        guard PQstatus(conn) == CONNECTION_OK else { throw connectionError(conn) }
        onReadOnlyServer = false
        reconnects += 1
        forgetStatements()
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

    /// Runs a statement by its prepared name when it is cacheable, else unnamed.
    private func run(_ sql: String, _ params: [PGValue]) throws -> PGResult {
        statementsRun += 1
        guard statementCacheCapacity > 0, PGConnection.isPreparable(sql) else { return try runUnnamed(sql, params) }
        let name = try preparedName(sql)
        do {
            return try runPrepared(name, sql, params)
        } catch let error as PGError where PGConnection.isStalePreparedStatement(error) {
            statements[sql] = nil
            if error.sqlState == "0A000" { forgetLater(name) }
            // Inside a transaction the error aborted it: the caller's transaction fails, the next
            // call prepares afresh. Outside one, prepare again and run once more.
            guard transactionDepth == 0 else { throw error }
            deallocatePending()
            return try runPrepared(try preparedName(sql), sql, params)
        }
    }

    /// 26000: the session no longer knows the name (someone ran DISCARD/DEALLOCATE ALL);
    /// 0A000 "cached plan must not change result type": a migration changed a table under a
    /// prepared `SELECT *`-like statement.
    static func isStalePreparedStatement(_ error: PGError) -> Bool {
        error.sqlState == "26000"
            || (error.sqlState == "0A000" && error.serverMessage.contains("cached plan must not change result type"))
    }

    /// Data statements are prepared; transaction control, SET, DDL and the like run unnamed.
    static func isPreparable(_ sql: String) -> Bool {
        var keyword = ""
        for ch in sql.utf8 {
            if ch == 32 || ch == 9 || ch == 10 || ch == 13 || ch == 40 {   // space, tab, newlines, "("
                if keyword.isEmpty { continue } else { break }
            }
            guard keyword.utf8.count < 8 else { return false }
            keyword.unicodeScalars.append(Unicode.Scalar(ch >= 97 && ch <= 122 ? ch - 32 : ch))
        }
        switch keyword {
        case "SELECT", "INSERT", "UPDATE", "DELETE", "WITH", "VALUES", "TABLE", "MERGE": return true
        default: return false
        }
    }

    /// The name of the session's prepared statement for `sql`, preparing it (and evicting the least
    /// recently used one when the cache is full) on first use.
    private func preparedName(_ sql: String) throws -> String {
        guard let conn else { throw PGConnection.notConnected }
        useClock += 1
        // One lookup (the SQL text is long: hashing it is the cost).
        if let i = statements.index(forKey: sql) {
            statements.values[i].lastUse = useClock
            return statements.values[i].name
        }
        if statements.count >= statementCacheCapacity,
           let (oldestSQL, oldest) = statements.min(by: { $0.value.lastUse < $1.value.lastUse }) {
            statements[oldestSQL] = nil
            forgetLater(oldest.name)
            if transactionDepth == 0 { deallocatePending() }
        }
        statementSerial += 1
        let name = "medsync_\(statementSerial)"
        _ = try checked(PQprepare(conn, name, sql, 0, nil), statement: sql)
        preparations += 1
        statements[sql] = PreparedStatement(name: name, lastUse: useClock)
        return name
    }

    private func runPrepared(_ name: String, _ sql: String, _ params: [PGValue]) throws -> PGResult {
        guard let conn else { throw PGConnection.notConnected }
        return try withCParams(params) { count, values in
            guard !beginPending && !commitPending && !workspacePending else {
                return try pipelined(sql) { PQsendQueryPrepared($0, name, count, values, nil, nil, 0) }
            }
            return try checked(PQexecPrepared(conn, name, count, values, nil, nil, 0), statement: sql)
        }
    }

    private func runUnnamed(_ sql: String, _ params: [PGValue]) throws -> PGResult {
        guard let conn else { throw PGConnection.notConnected }
        return try withCParams(params) { count, values in
            guard !beginPending && !commitPending && !workspacePending else {
                return try pipelined(sql) { PQsendQueryParams($0, sql, count, nil, values, nil, nil, 0) }
            }
            return try checked(PQexecParams(conn, sql, count, nil, values, nil, nil, 0), statement: sql)
        }
    }

    /// Sends a statement (`send`) with the BEGIN that `begin()` deferred before it and/or the COMMIT
    /// of `commit(with:)` after it, in one round trip: libpq's pipeline mode, one Sync. Every result
    /// is read before any is looked at, so the session leaves pipeline mode with nothing pending. A
    /// failed statement skips the COMMIT and leaves the transaction open and aborted, as it would
    /// have without the pipeline (`rollback()` ends it).
    private func pipelined(_ statement: String, _ send: (OpaquePointer) -> Int32) throws -> PGResult {
        guard let conn else { throw PGConnection.notConnected }
        let begins = beginPending, commits = commitPending
        let setting = workspacePending ? workspace : nil
        beginPending = false
        guard PQenterPipelineMode(conn) == 1 else { return try checked(nil, statement: statement) }
        var results: [OpaquePointer] = []
        // BEGIN, the workspace setting, the statement, COMMIT: the setting is inside the transaction
        // (and in the statement's implicit one without BEGIN), so whatever undoes it undoes the setting.
        func sendSetting() -> Bool {
            guard let setting else { return true }
            routedThisRequest = true
            let q = setting.statement
            let cParams: [UnsafeMutablePointer<CChar>?] = q.binds.map { $0.text.flatMap { strdup($0) } }
            defer { for p in cParams { free(p) } }
            return cParams.withUnsafeBufferPointer { buffer in
                buffer.withMemoryRebound(to: UnsafePointer<CChar>?.self) { values in
                    PQsendQueryParams(conn, q.sql, Int32(q.binds.count), nil, values.baseAddress, nil, nil, 0) == 1
                }
            }
        }
        if !begins || PQsendQueryParams(conn, "BEGIN", 0, nil, nil, nil, nil, 0) == 1, sendSetting(), send(conn) == 1,
           !commits || PQsendQueryParams(conn, "COMMIT", 0, nil, nil, nil, nil, 0) == 1, PQpipelineSync(conn) == 1 {
            // Each command's result then NULL, and the Sync last. A lost connection returns NULLs:
            // two in a row end the reading, and so does a bound on the count.
            var nulls = 0
            for _ in 0..<16 {
                guard let r = PQgetResult(conn) else {
                    nulls += 1
                    if nulls == 2 { break } else { continue }
                }
                nulls = 0
                if PQresultStatus(r) == PGRES_PIPELINE_SYNC { PQclear(r); break }
                results.append(r)
            }
        }
        _ = PQexitPipelineMode(conn)
        let expected = (begins ? 1 : 0) + (setting == nil ? 0 : 1) + 1 + (commits ? 1 : 0)
        for extra in results.dropFirst(expected) { PQclear(extra) }
        var got = Array(results.prefix(expected))
        defer { for r in got { PQclear(r) } }
        if begins {
            guard let b = got.first, PQresultStatus(b) == PGRES_COMMAND_OK else {
                let first = got.isEmpty ? nil : got.removeFirst()
                return try checked(first, statement: "BEGIN")
            }
            PQclear(got.removeFirst())
        }
        if setting != nil {
            // Not known until the statement succeeds (a failure undoes the setting with it).
            appliedWorkspace = nil
            guard let r = got.first, PQresultStatus(r) == PGRES_TUPLES_OK else {
                let first = got.isEmpty ? nil : got.removeFirst()
                return try checked(first, statement: "set workspace")
            }
            PQclear(got.removeFirst())
        }
        guard !got.isEmpty else { return try checked(nil, statement: statement) }
        let result = try checked(got.removeFirst(), statement: statement)
        if let setting, !commits {
            appliedWorkspace = setting
            if transactionDepth > 0 { workspaceSentInTransaction = true }
        }
        if commits {
            let commit = got.isEmpty ? nil : got.removeFirst()
            // The statement succeeded, so the COMMIT ran: the transaction is over either way.
            transactionDepth = 0
            deallocatePending()
            let sentBefore = workspaceSentInTransaction || setting != nil
            workspaceSentInTransaction = false
            do {
                try PGConnection.committed(try checked(commit, statement: "COMMIT"))
            } catch {
                if sentBefore { appliedWorkspace = nil }  // rolled back: so was the setting
                throw error
            }
            // Committed: what was set in the transaction holds.
            if let setting { appliedWorkspace = setting }
        }
        return result
    }

    private func withCParams(_ params: [PGValue],
                             _ body: (Int32, UnsafePointer<UnsafePointer<CChar>?>?) throws -> PGResult) throws -> PGResult {
        let cParams: [UnsafeMutablePointer<CChar>?] = params.map { $0.text.flatMap { strdup($0) } }
        defer { for p in cParams { free(p) } }
        return try cParams.withUnsafeBufferPointer { buffer in
            try buffer.withMemoryRebound(to: UnsafePointer<CChar>?.self) { values in
                try body(Int32(params.count), values.baseAddress)
            }
        }
    }

    /// The session died or was replaced: its prepared statements died with it.
    private func forgetStatements() {
        statements.removeAll(keepingCapacity: true)
        pendingDeallocations.removeAll()
        appliedWorkspace = Workspace.none
        workspaceSentInTransaction = false
    }

    private func forgetLater(_ name: String) { pendingDeallocations.append(name) }

    /// `DEALLOCATE`s the statements dropped from the cache; outside a transaction only (an aborted
    /// transaction would refuse it). A failure here only leaves a statement in the session.
    private func deallocatePending() {
        guard let conn, transactionDepth == 0, !pendingDeallocations.isEmpty, PQstatus(conn) == CONNECTION_OK else { return }
        let names = pendingDeallocations
        pendingDeallocations.removeAll()
        for name in names {
            // `name` is one this connection generated (`medsync_<n>`), never outside text.
            _ = try? checked(PQexec(conn, "DEALLOCATE \(name)"), statement: "DEALLOCATE")
        }
    }

    /// The statements this connection has prepared in the current session, keyed by SQL text (for tests).
    public var preparedStatementNames: [String: String] { statements.mapValues(\.name) }

    /// Wraps a `PGresult` in its owner, then turns an error status into a `PGError`.
    private func checked(_ raw: OpaquePointer?, statement: String) throws -> PGResult {
        guard let conn else { throw PGConnection.notConnected }
        // Only an error names the statement (its first line).
        var firstLine: String? { statement.split(separator: "\n", maxSplits: 1).first.map(String.init) }
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
        if field("C") == "25006" { onReadOnlyServer = true }
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
