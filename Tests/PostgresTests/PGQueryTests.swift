import Foundation
import Testing
import TestSupport
@testable import Postgres

/// The typed query layer without a database: interpolation, fragments, arrays.
@Suite("PGQuery interpolation")
struct PGQueryInterpolationTests {
    static let columns: SQLFragment = "id, phone_number, is_active"

    @Test func valuesBecomeNumberedBindsAndNeverSQLText() {
        let hostile = "'; DROP TABLE patients; --"
        let workspace: Int64 = 7
        let missing: String? = nil
        let q: PGQuery = "SELECT \(unescaped: Self.columns) FROM s WHERE workspace_id = \(workspace) AND name = \(hostile) AND x = \(missing) AND y = \(workspace)"
        #expect(q.sql == "SELECT id, phone_number, is_active FROM s WHERE workspace_id = $1 AND name = $2 AND x = $3 AND y = $4")
        #expect(q.binds == [PGValue("7"), PGValue(hostile), .null, PGValue("7")])
        #expect(!q.sql.contains("DROP"))
        // Descriptions (what reaches a log) carry the SQL and the number of binds, not the values.
        #expect(!q.description.contains("DROP") && q.description.contains("4 bind"))
    }

    @Test func everyEncodableTypeBindsItsText() throws {
        let date = Date(timeIntervalSince1970: 1_714_556_400.5)
        let q: PGQuery = """
            SELECT \(Int(1)), \(Int32(2)), \(Int64(-3)), \(true), \(0.25), \(date), \(Substring("sub")),
                   \(PGBytea([0, 255])), \(PGJSON(#"{"a":1}"#)), \(PGValue.null), \(Optional<Int64>.some(5))
            """
        #expect(q.binds.map(\.text) == ["1", "2", "-3", "true", "0.25", "2024-05-01 09:40:00.500000+00", "sub",
                                        "\\x00ff", #"{"a":1}"#, nil, "5"])
        #expect(q.sql.contains("$11") && !q.sql.contains("$12"))
        let encoded = try PGJSON(encoding: ["k": "v"])
        #expect(encoded.text == #"{"k":"v"}"#)
    }

    @Test func fragmentsAreVerbatimAndJoin() {
        let from: SQLFragment = " FROM whatsapp_senders"
        let q: PGQuery = "SELECT \(unescaped: Self.columns + from) WHERE id = \(Int64(1))"
        #expect(q.sql == "SELECT id, phone_number, is_active FROM whatsapp_senders WHERE id = $1")
        #expect(q.binds.count == 1)
    }

    @Test func aNestedQueryKeepsItsBindsRenumberedAfterTheOuterOnes() {
        let hostile = "$1 '; DROP TABLE x; --"
        let clause: PGQuery = " AND name = \(hostile) AND id IN (\(Int64(10)), \(Int64(11)), \(Int64(12)))"
        let none: PGQuery = ""
        let q: PGQuery = "SELECT 1 FROM t WHERE a = \(Int64(1))\(clause) AND b = \(Int64(2))\(none)"
        #expect(q.sql == "SELECT 1 FROM t WHERE a = $1 AND name = $2 AND id IN ($3, $4, $5) AND b = $6")
        #expect(q.binds == [PGValue("1"), PGValue(hostile), PGValue("10"), PGValue("11"), PGValue("12"), PGValue("2")])
        // First in line, or with no binds of its own, a part goes in as it is.
        let first: PGQuery = "\(clause) LIMIT 1"
        #expect(first.sql == clause.sql + " LIMIT 1" && first.binds == clause.binds)
        let fixed: PGQuery = " AND c IS NULL"
        let plain: PGQuery = "SELECT \(Int64(3))\(fixed)"
        #expect(plain.sql == "SELECT $1 AND c IS NULL")
        // Past nine binds the numbers grow a digit: $9 → $10 …, never $1 and a stray 0.
        let many: PGQuery = "\(Int64(0))\(Int64(0))\(Int64(0))\(Int64(0))\(Int64(0))\(Int64(0))\(Int64(0))\(Int64(0))\(Int64(0))"
        let tail: PGQuery = "\(Int64(9)) x \(Int64(10))"
        let both: PGQuery = "\(many) \(tail)"
        #expect(both.sql.hasSuffix(" $10 x $11") && both.binds.count == 11)
    }

    @Test func arraysAreOneBindWithEveryElementQuoted() {
        let tricky: [String?] = ["a", "b\"c", "back\\slash", "{,}", "NULL", "", nil, "ñ 👩‍⚕️"]
        let q: PGQuery = "SELECT \(tricky)::text[], \([Int64(1), 2, 3])::bigint[]"
        #expect(q.sql == "SELECT $1::text[], $2::bigint[]")
        #expect(q.binds[0].text == #"{"a","b\"c","back\\slash","{,}","NULL","",NULL,"ñ 👩‍⚕️"}"#)
        #expect(q.binds[1].text == #"{"1","2","3"}"#)
        let empty: [String] = []
        let none: PGQuery = "SELECT \(empty)::text[]"
        #expect(none.binds[0].text == "{}")
    }

    @Test func onlyDataStatementsArePrepared() {
        for sql in ["SELECT 1", "  select 1", "\n(SELECT 1)", "WITH x AS (SELECT 1) SELECT * FROM x", "INSERT INTO t VALUES ($1)",
                    "UPDATE t SET a = 1", "delete FROM t", "VALUES (1)"] {
            #expect(PGConnection.isPreparable(sql), "\(sql)")
        }
        for sql in ["BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT medsync_sp1", "RELEASE SAVEPOINT x", "SET TimeZone TO 'UTC'",
                    "CREATE TABLE t (a int)", "DEALLOCATE ALL", "", "SELECTED", "LOCK TABLE t"] {
            #expect(!PGConnection.isPreparable(sql), "\(sql)")
        }
    }

    @Test func timestampTextFastPathMatchesTheOldFormatting() {
        var rng = SystemRandomNumberGenerator()
        var instants: [Double] = [0, -0.0000005, 0.0000005, -1, 86_399.9999996, 1_796_000_000.123456, -4_503_599_627.370495,
                                  4_503_599_627.370495, 4_503_599_627.370497, -62_167_219_200, .nan]
        for _ in 0..<20_000 { instants.append(Double.random(in: -4_600_000_000...4_600_000_000, using: &rng)) }
        for _ in 0..<2_000 { instants.append(Double(Int.random(in: -4_500_000_000...4_500_000_000, using: &rng))) }
        var fast = 0
        for t in instants {
            let date = Date(timeIntervalSince1970: t)
            if let text = PGValue.formatTimestampFast(date) {
                fast += 1
                #expect(text == PGValue.formatTimestampByParts(date), "\(t)")
            }
            #expect(PGValue.formatTimestamp(date) == PGValue.formatTimestampByParts(date), "\(t)")
        }
        #expect(fast > 20_000)
        #expect(PGValue(Date(timeIntervalSince1970: 1_796_000_000.5)).text == "2026-11-30 00:53:20.500000+00")
    }
}

/// Decoding rows and the prepared-statement cache, against a real PostgreSQL.
@Suite("PGQuery against PostgreSQL", .needsStack)
struct PGQueryDatabaseTests {
    @Test func arraysRoundTripThroughTheServer() throws {
        let conn = try PGConnection(try TestDatabase.create(migrated: false))
        let tricky: [String?] = ["a", "b\"c", "back\\slash", "{,}", "NULL", "", nil, "ñ 👩‍⚕️", "x y"]
        let rows = try conn.query("SELECT u.v, u.n FROM unnest(\(tricky)::text[]) WITH ORDINALITY AS u(v, n) ORDER BY u.n")
        #expect(try rows.map { try $0.decode(String?.self, "v") } == tricky)
        let ids: [Int64] = [3, 1, 2]
        #expect(try conn.query("SELECT count(*) AS n FROM generate_series(1, 5) g WHERE g = ANY(\(ids)::bigint[])").one()
            .decode(Int.self, "n") == 3)
    }

    @Test func decodeReadsEveryTypeAndNullIntoOptionals() throws {
        let conn = try PGConnection(try TestDatabase.create(migrated: false))
        let date = Date(timeIntervalSince1970: 1_714_556_400.123456)
        let row = try conn.query("""
            SELECT \(Int64.max)::bigint AS big, \(-42)::int AS small, \(true)::bool AS yes, \(0.1)::float8 AS d,
                   \(date)::timestamptz AS t, \("héllo")::text AS s, NULL::bigint AS none, \(#"{"a": [1, 2]}"#)::jsonb AS doc,
                   NULL::jsonb AS nodoc
            """).one()
        #expect(try row.decode(Int64.self, "big") == Int64.max)
        #expect(try row.decode(Int.self, "small") == -42)
        #expect(try row.decode(Int32.self, "small") == -42)
        #expect(try row.decode(Bool.self, "yes"))
        #expect(try row.decode(Double.self, "d") == 0.1)
        #expect(abs(try row.decode(Date.self, "t").timeIntervalSince1970 - date.timeIntervalSince1970) < 0.000_001)
        #expect(try row.decode(String.self, "s") == "héllo")
        #expect(try row.decode(Int64?.self, "none") == nil)
        #expect(try row.decode(Int64?.self, "big") == Int64.max)
        struct Doc: Decodable, Equatable { let a: [Int] }
        #expect(try row.decodeJSON(Doc.self, "doc") == Doc(a: [1, 2]))
        #expect(try row.decodeJSON(Doc?.self, "nodoc") == nil)
    }

    /// NULL, a missing column, a text of another type, a bad JSON: a thrown `decode_failed` naming
    /// the column, never the value, and no trap.
    @Test func decodeFailuresThrowNamingTheColumnNotTheValue() throws {
        let conn = try PGConnection(try TestDatabase.create(migrated: false))
        let secret = "whatsapp:+5215512345678"
        let row = try conn.query("SELECT NULL::bigint AS id, \(secret)::text AS phone, \("{\"a\":") ::text AS doc").one()
        func failure(_ body: () throws -> Void) throws -> PGError {
            try #require(throws: PGError.self) { try body() }
        }
        let null = try failure { _ = try row.decode(Int64.self, "id") }
        #expect(null.code == .decodeFailed && null.column == "id")
        #expect(null.serverMessage.contains("\"id\"") && null.serverMessage.contains("NULL"))

        let missing = try failure { _ = try row.decode(Int64?.self, "renamed") }
        #expect(missing.code == .decodeFailed && missing.column == "renamed")

        let wrongType = try failure { _ = try row.decode(Int64.self, "phone") }
        #expect(wrongType.column == "phone" && wrongType.serverMessage.contains("Int64"))
        let wrongDate = try failure { _ = try row.decode(Date.self, "phone") }
        #expect(wrongDate.column == "phone")
        let badJSON = try failure { _ = try row.decodeJSON([String: Int].self, "doc") }
        #expect(badJSON.column == "doc")

        for error in [null, missing, wrongType, wrongDate, badJSON] {
            for text in [error.serverMessage, error.description, error.debugDescription, error.message] {
                #expect(!text.contains(secret) && !text.contains("5512345678"))
            }
        }
        let none = try failure { _ = try conn.query("SELECT 1 AS x WHERE false").one() }
        #expect(none.code == .decodeFailed)
    }

    /// The statements this session has prepared, as PostgreSQL lists them.
    private func serverStatements(_ conn: PGConnection) throws -> [String: String] {
        var out: [String: String] = [:]
        for row in try conn.query("SELECT name, statement FROM pg_prepared_statements WHERE NOT from_sql") {
            out[try row.decode(String.self, "statement")] = try row.decode(String.self, "name")
        }
        return out
    }

    @Test func aStatementIsPreparedOnceAndReusedByName() throws {
        let conn = try PGConnection(try TestDatabase.create(migrated: false))
        let sql = "SELECT $1::int + 1 AS v"
        for i in 0..<5 {
            #expect(try conn.query("SELECT \(i)::int + 1 AS v").one().decode(Int.self, "v") == i + 1)
        }
        // The older entry point shares the cache.
        #expect(try conn.query(sql, [PGValue(10)]).one().decode(Int.self, "v") == 11)
        let onServer = try serverStatements(conn)
        let name = try #require(onServer[sql])
        #expect(conn.preparedStatementNames[sql] == name)
        #expect(onServer.keys.filter { $0 == sql }.count == 1)
        #expect(conn.preparations == 2)   // this statement and the pg_prepared_statements query
        // Transaction control runs unnamed.
        _ = try conn.transaction { try conn.execute("SELECT 1 AS one") }
        #expect(try serverStatements(conn).keys.allSatisfy { !["BEGIN", "COMMIT"].contains($0) })
    }

    @Test func preparedAgainAfterTheSessionIsReplaced() throws {
        let url = try TestDatabase.create(migrated: false)
        let conn = try PGConnection(url)
        let killer = try PGConnection(url)
        let sql = "SELECT $1::text AS v"
        #expect(try conn.query("SELECT \("a")::text AS v").one().decode(String.self, "v") == "a")
        let pid = try #require(conn.backendPID)
        #expect(try killer.query("SELECT pg_terminate_backend(\(Int(pid))) AS ok").one().decode(Bool.self, "ok"))
        while try killer.query("SELECT 1 FROM pg_stat_activity WHERE pid = \(Int(pid))").count > 0 { usleep(10_000) }

        #expect(try conn.query("SELECT \("b")::text AS v").one().decode(String.self, "v") == "b")
        #expect(conn.reconnects == 1)
        #expect(try serverStatements(conn)[sql] != nil)

        // Someone dropped every prepared statement of the session: 26000, prepared again, no error.
        try conn.execute("DEALLOCATE ALL")
        #expect(try conn.query("SELECT \("c")::text AS v").one().decode(String.self, "v") == "c")
        #expect(try serverStatements(conn)[sql] != nil)
    }

    @Test func aMigrationChangingAResultTypeIsSurvived() throws {
        let conn = try PGConnection(try TestDatabase.create(migrated: false))
        try conn.execute("CREATE TABLE t (a int)")
        try conn.execute("INSERT INTO t VALUES (\(1))")
        #expect(try conn.query("SELECT * FROM t WHERE a >= \(0)").one().result.columns == ["a"])
        try conn.execute("ALTER TABLE t ADD COLUMN b text DEFAULT 'x'")
        // Outside a transaction: prepared again and run once more.
        let row = try conn.query("SELECT * FROM t WHERE a >= \(0)").one()
        #expect(row.result.columns == ["a", "b"])
        #expect(try row.decode(String.self, "b") == "x")

        // Inside one the error aborted the transaction: it fails, and the next call works.
        try conn.execute("ALTER TABLE t ADD COLUMN c int DEFAULT 3")
        let error = try #require(throws: PGError.self) {
            try conn.transaction { _ = try conn.query("SELECT * FROM t WHERE a >= \(0)") }
        }
        #expect(error.sqlState == "0A000")
        #expect(try conn.query("SELECT * FROM t WHERE a >= \(0)").one().decode(Int.self, "c") == 3)
    }

    @Test func theCacheIsBoundedAndDeallocatesTheLeastRecentlyUsed() throws {
        let conn = try PGConnection(try TestDatabase.create(migrated: false), statementCacheCapacity: 2)
        _ = try conn.query("SELECT \(1)::int AS a")
        _ = try conn.query("SELECT \(1)::int AS b")
        _ = try conn.query("SELECT \(1)::int AS a")        // a is now the most recently used
        _ = try conn.query("SELECT \(1)::int AS c")        // evicts b
        #expect(Set(conn.preparedStatementNames.keys) == ["SELECT $1::int AS a", "SELECT $1::int AS c"])
        // The inspection query evicts a (least recently used); b and a were DEALLOCATEd on the server.
        let onServer = try serverStatements(conn)
        #expect(Set(onServer.keys) == ["SELECT $1::int AS c", "SELECT name, statement FROM pg_prepared_statements WHERE NOT from_sql"])
        #expect(conn.preparations == 4)
    }
}
