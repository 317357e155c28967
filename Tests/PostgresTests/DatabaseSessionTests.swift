import Foundation
import Testing
import TestSupport
import MedsyncConfig
import Postgres

/// The session limits (MEDSYNC_DB_*) every connection of the binaries opens with.
@Suite("Database session limits")
struct DatabaseSessionTests {
    let limits = DatabaseSession(connectTimeoutS: 3, statementTimeoutMS: 400, idleInTransactionTimeoutMS: 2500)

    @Test(.needsStack) func aSessionRunsUnderTheConfiguredLimits() throws {
        let conn = try PGConnection(try limits.conninfo(try TestDatabase.create(migrated: false)))
        #expect(try conn.query("SHOW statement_timeout")[0].string("statement_timeout") == "400ms")
        #expect(try conn.query("SHOW idle_in_transaction_session_timeout")[0].string("idle_in_transaction_session_timeout") == "2500ms")
        // The session's own settings still hold (PGConnection sets the time zone after connecting).
        #expect(try conn.query("SHOW TimeZone")[0].string("TimeZone") == "UTC")
    }

    @Test(.needsStack) func theConfigurationsLimitsReachTheSession() throws {
        let config = try Config.load(environment: ["MEDSYNC_DB_STATEMENT_TIMEOUT_MS": "1234", "MEDSYNC_DB_IDLE_TX_TIMEOUT_MS": "0"],
                                     dotEnvPath: nil)
        let conn = try PGConnection(try config.databaseSession.conninfo(try TestDatabase.create(migrated: false)))
        #expect(try conn.query("SHOW statement_timeout")[0].string("statement_timeout") == "1234ms")
        #expect(try conn.query("SHOW idle_in_transaction_session_timeout")[0].string("idle_in_transaction_session_timeout") == "0")
    }

    @Test(.needsStack) func aStatementPastTheTimeoutFailsWithAClearError() throws {
        let conn = try PGConnection(try limits.conninfo(try TestDatabase.create(migrated: false)))
        #expect {
            try conn.query("SELECT pg_sleep(5)")
        } throws: { error in
            guard let e = error as? PGError else { return false }
            return e.code == .statementTimeout && e.sqlState == "57014" && e.message.contains("did not answer in time")
        }
        // The session is still usable afterwards.
        #expect(try conn.query("SELECT 1 AS one")[0].int("one") == 1)
    }

    @Test(.needsStack) func aTransactionLeftIdleIsEndedByTheServer() throws {
        let conn = try PGConnection(try DatabaseSession(connectTimeoutS: 3, statementTimeoutMS: 0, idleInTransactionTimeoutMS: 300)
            .conninfo(try TestDatabase.create(migrated: false)))
        #expect {
            try conn.transaction {
                try conn.execute("SELECT 1")
                usleep(1_200_000)  // idle inside the transaction, past the limit
                try conn.execute("SELECT 2")
            }
        } throws: { error in (error as? PGError)?.isConnectionFailure == true }
        // Outside a transaction the connection comes back by itself.
        #expect(try conn.query("SELECT 3 AS n")[0].int("n") == 3)
    }

    @Test func connectingToAServerThatNeverAnswersGivesUpAfterTheConnectTimeout() throws {
        // A unix socket that accepts connections (the kernel queues them) but never speaks PostgreSQL.
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("medsync-mute-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        #expect(fd >= 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let path = "\(dir)/.s.PGSQL.5432"
        withUnsafeMutableBytes(of: &address.sun_path) { buf in
            for (i, b) in path.utf8.enumerated() where i < buf.count - 1 { buf[i] = b }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        #expect(listen(fd, 8) == 0)
        let session = DatabaseSession(connectTimeoutS: 2, statementTimeoutMS: 0, idleInTransactionTimeoutMS: 0)
        #expect {
            _ = try PGConnection(try session.conninfo("host=\(dir) dbname=medsync user=medsync"))
        } throws: { error in (error as? PGError)?.isConnectionFailure == true }
    }

    @Test func conninfoKeepsTheURLsSettingsAndReplacesItsConnectTimeout() throws {
        let s = DatabaseSession(connectTimeoutS: 5, statementTimeoutMS: 15000, idleInTransactionTimeoutMS: 30000)
        let fromURI = try s.conninfo("postgresql://app:p%27w@/medsync?host=/run/pg&connect_timeout=60&options=-c%20search_path%3Dapp")
        #expect(fromURI.contains("host='/run/pg'"))
        #expect(fromURI.contains("password='p\\'w'"))
        #expect(fromURI.contains("dbname='medsync'"))
        #expect(fromURI.contains("connect_timeout=5"))
        #expect(!fromURI.contains("60"))
        #expect(fromURI.contains("options='-c search_path=app -c statement_timeout=15000 -c idle_in_transaction_session_timeout=30000'"))
        #expect(throws: PGError.self) { try s.conninfo("host=/x bogus_key=1") }
    }
}
