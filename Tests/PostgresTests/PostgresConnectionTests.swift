import Foundation
import Testing
import TestSupport
import MedsyncCrypto
import Postgres

@Suite("PostgreSQL connection")
struct PostgresConnectionTests {
    @Test(.needsStack) func parametersRoundTripNullUnicodeAndQuotes() throws {
        let conn = try PGConnection(try TestDatabase.create(migrated: false))
        let texts: [String?] = [nil, "", "plain", "O'Brien", "\"double\"", "back\\slash", "'; DROP TABLE x; --",
                                "ñandú árbol", "日本語", "emoji 👩‍⚕️🦷", "line\nbreak\ttab", "$1 $2"]
        for text in texts {
            let rows = try conn.query("SELECT $1::text AS v, $1::text IS NULL AS is_null", [PGValue(text)])
            #expect(rows.count == 1)
            #expect(rows[0].string("v") == text)
            #expect(rows[0].bool("is_null") == (text == nil))
        }
        let typed = try conn.query("SELECT $1::bigint AS big, $2::int AS small, $3::boolean AS yes, $4::float8 AS d, $5::int AS none, $6::jsonb AS doc",
                                   [PGValue(Int64.max), -42, true, 0.1, nil, .json(#"{"a": "ü", "b": [1, null]}"#)])
        #expect(typed[0].int64("big") == Int64.max)
        #expect(typed[0].int("small") == -42)
        #expect(typed[0].bool("yes") == true)
        #expect(typed[0].double("d") == 0.1)
        #expect(typed[0].int("none") == nil)
        #expect(typed[0].isNull("none"))
        struct Doc: Decodable, Equatable { let a: String; let b: [Int?] }
        #expect(try typed[0].json("doc", as: Doc.self) == Doc(a: "ü", b: [1, nil]))
    }

    @Test(.needsStack) func byteaRoundTripsEveryByte() throws {
        let conn = try PGConnection(try TestDatabase.create(migrated: false))
        let all = (0...255).map { UInt8($0) } + [0, 0, 255]
        for bytes in [all, [], Crypto.randomBytes(1000)] {
            let rows = try conn.query("SELECT $1::bytea AS b, octet_length($1::bytea) AS n", [PGValue(bytes)])
            #expect(rows[0].bytes("b") == bytes)
            #expect(rows[0].int("n") == bytes.count)
        }
        #expect(try conn.query("SELECT NULL::bytea AS b")[0].bytes("b") == nil)
    }

    @Test(.needsStack) func timestampsRoundTripInUTC() throws {
        let conn = try PGConnection(try TestDatabase.create(migrated: false))
        let dates = [Date(timeIntervalSince1970: 0), Date(timeIntervalSince1970: 1_714_556_400.123456),
                     Date(timeIntervalSince1970: -86_400 * 365 * 30 + 0.5), Date(timeIntervalSince1970: 4_102_444_800)]
        for date in dates {
            let row = try conn.query("SELECT $1::timestamptz AS t, extract(epoch FROM $1::timestamptz)::float8 AS e", [PGValue(date)])[0]
            #expect(abs(row.date("t")!.timeIntervalSince1970 - date.timeIntervalSince1970) < 0.000_001)
            #expect(abs(row.double("e")! - date.timeIntervalSince1970) < 0.000_001)
        }
        // A timestamp written in another zone reads back as the same instant.
        let row = try conn.query("SELECT '2024-03-10 02:30:00-06'::timestamptz AS t, '2024-03-10'::date AS d")[0]
        #expect(row.date("t") == Date(timeIntervalSince1970: 1_710_059_400))
        #expect(row.date("d") == Date(timeIntervalSince1970: 1_710_028_800))
    }

    @Test(.needsStack) func rowsAffectedAndEmptyResults() throws {
        let conn = try PGConnection(try TestDatabase.create(migrated: false))
        try conn.execute("CREATE TABLE t (id int PRIMARY KEY, v text)")
        #expect(try conn.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b'), (3, 'c')") == 3)
        #expect(try conn.execute("UPDATE t SET v = 'x' WHERE id >= $1", [2]) == 2)
        #expect(try conn.query("SELECT * FROM t WHERE id = $1", [99]).isEmpty)
        #expect(try conn.query("SELECT v FROM t ORDER BY id").map { $0.string("v") } == ["a", "x", "x"])
    }

    @Test(.needsStack) func uniqueViolationIsReportedAsSuch() throws {
        let conn = try PGConnection(try TestDatabase.create(migrated: false))
        try conn.execute("CREATE TABLE people (email text CONSTRAINT people_email_key UNIQUE)")
        try conn.execute("INSERT INTO people VALUES ($1)", ["ana@example.com"])
        let error = try #require(throws: PGError.self) {
            try conn.execute("INSERT INTO people VALUES ($1)", ["ana@example.com"])
        }
        #expect(error.isUniqueViolation)
        #expect(!error.isConnectionFailure)
        #expect(error.sqlState == "23505")
        #expect(error.constraint == "people_email_key")
        #expect(error.detail?.contains("ana@example.com") == true)
        // Neither what a user could see nor what the logs get (debugDescription) carries the value:
        // the DETAIL stays on the error, for code that needs it, and goes nowhere else.
        #expect(!"\(error)".contains("ana@example.com"))
        #expect(!error.message.contains("ana@example.com"))
        #expect(!error.debugDescription.contains("ana@example.com"))
        #expect(error.debugDescription.contains("23505"))
        #expect(error.debugDescription.contains("people_email_key"))
        // Other errors are not unique violations, and the connection stays usable.
        let syntax = try #require(throws: PGError.self) { try conn.query("SELEC 1") }
        #expect(syntax.sqlState == "42601")
        #expect(!syntax.isUniqueViolation)
        let notNull = try #require(throws: PGError.self) { try conn.query("SELECT 1/0") }
        #expect(notNull.sqlState == "22012")
        // A data exception's message quotes the input: the log gets the generic message instead.
        let badInput = try #require(throws: PGError.self) { try conn.query("SELECT $1::int AS n", ["+5215512345678x"]) }
        #expect(badInput.sqlState?.hasPrefix("22") == true)
        #expect(badInput.serverMessage.contains("+5215512345678x"))
        #expect(!badInput.debugDescription.contains("5215512345678"))
        #expect(try conn.query("SELECT 1 AS one")[0].int("one") == 1)
    }

    @Test(.needsStack) func transactionRollsBackOnThrow() throws {
        let conn = try PGConnection(try TestDatabase.create(migrated: false))
        try conn.execute("CREATE TABLE t (v text)")
        struct Boom: Error {}
        #expect(throws: Boom.self) {
            try conn.transaction {
                try conn.execute("INSERT INTO t VALUES ('lost')")
                throw Boom()
            }
        }
        #expect(try conn.query("SELECT count(*) AS n FROM t")[0].int("n") == 0)
        #expect(conn.transactionDepth == 0)

        let value = try conn.transaction {
            try conn.execute("INSERT INTO t VALUES ('kept')")
            // A nested failure rolls back to its savepoint only.
            _ = try? conn.transaction {
                try conn.execute("INSERT INTO t VALUES ('inner lost')")
                throw Boom()
            }
            _ = try conn.transaction { try conn.execute("INSERT INTO t VALUES ('inner kept')") }
            return 7
        }
        #expect(value == 7)
        #expect(try conn.query("SELECT v FROM t ORDER BY v").map { $0.string("v") } == ["inner kept", "kept"])
    }

    @Test(.needsStack) func commitAfterSwallowedErrorIsReported() throws {
        let conn = try PGConnection(try TestDatabase.create(migrated: false))
        try conn.execute("CREATE TABLE t (v int PRIMARY KEY)")
        #expect(throws: PGError.self) {
            try conn.transaction {
                try conn.execute("INSERT INTO t VALUES (1)")
                _ = try? conn.execute("INSERT INTO t VALUES (1)")   // aborts the transaction
            }
        }
        #expect(try conn.query("SELECT count(*) AS n FROM t")[0].int("n") == 0)
    }

    /// `begin()` sends its BEGIN with the transaction's first statement and `commit(with:)` its COMMIT
    /// with the last (libpq's pipeline mode): what is committed, rolled back or left aborted is what
    /// statements of their own would give.
    @Test(.needsStack) func beginAndCommitTravelWithTheStatements() throws {
        let url = try TestDatabase.create(migrated: false)
        let conn = try PGConnection(url)
        let other = try PGConnection(url)
        try conn.execute("CREATE TABLE t (v int PRIMARY KEY)")
        func committed() throws -> [Int?] { try other.query("SELECT v FROM t ORDER BY v").map { $0.int("v") } }

        try conn.begin()
        try conn.execute("INSERT INTO t VALUES (1)")
        #expect(try committed() == [], "the first statement ran inside the transaction")
        let last = try conn.commit(with: "INSERT INTO t VALUES (2) RETURNING v")
        #expect(last[0].int("v") == 2)
        #expect(conn.transactionDepth == 0)
        #expect(try committed() == [1, 2])

        // A failed first statement leaves the transaction open and aborted until rollback().
        try conn.begin()
        #expect(throws: PGError.self) { try conn.execute("INSERT INTO t VALUES (1)") }
        #expect(conn.transactionDepth == 1)
        let aborted = try #require(throws: PGError.self) { try conn.query("SELECT 1 AS one") }
        #expect(aborted.sqlState == "25P02")
        conn.rollback()
        #expect(try conn.query("SELECT 1 AS one")[0].int("one") == 1)

        // A failed last statement commits nothing: the COMMIT that travelled with it never ran.
        try conn.begin()
        try conn.execute("INSERT INTO t VALUES (3)")
        #expect(throws: PGError.self) { try conn.commit(with: "INSERT INTO t VALUES (2)") }
        #expect(conn.transactionDepth == 1)
        conn.rollback()
        #expect(try committed() == [1, 2])

        // One statement carrying both; and a transaction with no statement sends nothing.
        try conn.begin()
        try conn.commit(with: "INSERT INTO t VALUES (4)")
        #expect(try committed() == [1, 2, 4])
        let sent = conn.statementsRun
        try conn.begin()
        try conn.commit()
        #expect(conn.statementsRun == sent)
        #expect(throws: PGError.self) { try conn.commit() }
    }

    @Test func unreachableServerIsAConnectionFailure() throws {
        let error = try #require(throws: PGError.self) {
            _ = try PGConnection("host=/nonexistent/medsync-socket-dir dbname=x connect_timeout=2")
        }
        #expect(error.isConnectionFailure)
        #expect(error.message == "the database is unavailable")
        // A lazy connection starts without the server and fails on use with the same error.
        let lazy = PGConnection(lazy: "host=/nonexistent/medsync-socket-dir dbname=x connect_timeout=2")
        let onUse = try #require(throws: PGError.self) { try lazy.query("SELECT 1") }
        #expect(onUse.isConnectionFailure)
    }

    /// The server dropping the session (as in a restart) is survived: the next statement succeeds.
    @Test(.needsStack) func reconnectsAfterTheServerDroppedTheSession() throws {
        let url = try TestDatabase.create(migrated: false)
        let conn = try PGConnection(url)
        let killer = try PGConnection(url)
        try conn.execute("CREATE TABLE t (v int)")
        let firstPID = try #require(conn.backendPID)
        try terminate(firstPID, using: killer)

        #expect(try conn.query("SELECT 41 + 1 AS v")[0].int("v") == 42)
        #expect(conn.reconnects == 1)
        #expect(conn.backendPID != firstPID)

        // Dropped inside a transaction: the transaction fails as a connection failure (never
        // half-applied), and the connection works again afterwards.
        let error = try #require(throws: PGError.self) {
            try conn.transaction {
                try conn.execute("INSERT INTO t VALUES (1)")
                try terminate(conn.backendPID!, using: killer)
                try conn.execute("INSERT INTO t VALUES (2)")
            }
        }
        #expect(error.isConnectionFailure)
        #expect(try conn.query("SELECT count(*) AS n FROM t")[0].int("n") == 0)
        #expect(conn.reconnects == 2)
        #expect(conn.transactionDepth == 0)

        // Dropped before a transaction's first statement: its BEGIN travels with that statement, so
        // both run again on a fresh session.
        try terminate(conn.backendPID!, using: killer)
        try conn.transaction { try conn.execute("INSERT INTO t VALUES (3)") }
        #expect(try killer.query("SELECT count(*) AS n FROM t")[0].int("n") == 1)
        #expect(conn.reconnects == 3)
    }

    /// A server that refuses writes (25006, as a standby does after a failover) is left: the write is
    /// run once more on a fresh session, and nothing is written twice.
    @Test(.needsStack) func aWriteRefusedAsReadOnlyMovesToAServerThatTakesIt() throws {
        let url = try TestDatabase.create(migrated: false)
        let conn = try PGConnection(url)
        try conn.execute("CREATE TABLE t (v int PRIMARY KEY)")
        let before = try #require(conn.backendPID)
        // This session now behaves as a standby's would for writes.
        try conn.execute("SET default_transaction_read_only = on")
        try conn.execute("INSERT INTO t VALUES (1)")
        #expect(conn.reconnects == 1)
        #expect(conn.backendPID != before)
        #expect(try conn.query("SELECT count(*) AS n FROM t")[0].int("n") == 1)

        // Inside a transaction, past its first statement: the transaction fails as the database being
        // away (503 for a request, a retry for Twilio), nothing of it is kept, and the next statement
        // runs on a fresh session.
        try conn.execute("SET default_transaction_read_only = on")
        let error = try #require(throws: PGError.self) {
            try conn.transaction {
                _ = try conn.query("SELECT 1")
                try conn.execute("INSERT INTO t VALUES (2)")
            }
        }
        #expect(error.isConnectionFailure && error.sqlState == "25006")
        try conn.execute("INSERT INTO t VALUES (3)")
        #expect(try conn.query("SELECT array_agg(v ORDER BY v)::text AS v FROM t")[0].string("v") == "{1,3}")
        #expect(conn.reconnects == 2)
    }

    /// A multi-host string (what the HA stack gives every process): the first host that is down is
    /// skipped, and a session that lost its server reconnects through the same list.
    @Test(.needsStack) func aMultiHostStringReachesTheServerThatIsUp() throws {
        let url = try TestDatabase.create(migrated: false)
        // Every key of the test database's string, with a dead host in front of its own.
        let base = try PGConnection.conninfo(url, database: "x")
        let host = try #require(base.split(separator: " ").first { $0.hasPrefix("host=") })
            .dropFirst("host=".count).trimmingCharacters(in: CharacterSet(charactersIn: "'"))
        // (A keyword given twice: libpq takes the last.)
        let multi = url + " host='/nonexistent/medsync-down,\(host)' target_session_attrs=read-write connect_timeout=2"
        #expect(multi.contains("/nonexistent/medsync-down,"))
        let conn = try PGConnection(multi)
        let killer = try PGConnection(url)
        #expect(try conn.query("SELECT 41 + 1 AS v")[0].int("v") == 42)
        try terminate(try #require(conn.backendPID), using: killer)
        #expect(try conn.query("SELECT 1 AS v")[0].int("v") == 1)
        #expect(conn.reconnects == 1)
    }

    /// Terminates a backend and waits until it is gone (no timing assertion: waits as long as needed).
    private func terminate(_ pid: Int32, using killer: PGConnection) throws {
        #expect(try killer.query("SELECT pg_terminate_backend($1) AS ok", [PGValue(Int(pid))])[0].bool("ok") == true)
        while try killer.query("SELECT 1 FROM pg_stat_activity WHERE pid = $1", [PGValue(Int(pid))]).count > 0 {
            usleep(10_000)
        }
    }

    @Test func conninfoWithAnotherDatabase() throws {
        let s = try PGConnection.conninfo("host=/tmp/x user=postgres dbname=postgres", database: "t_1")
        #expect(s.contains("dbname='t_1'"))
        #expect(!s.contains("'postgres'") || s.contains("user='postgres'"))
        #expect(!s.contains("dbname='postgres'"))
        let fromURI = try PGConnection.conninfo("postgresql://ann@localhost:5433/app", database: "o'k")
        #expect(fromURI.contains("port='5433'"))
        #expect(fromURI.contains("dbname='o\\'k'"))
    }
}
