import Domain
import FastCGI
import Foundation
import Testing
import TestSupport
@testable import FCGIApp
import Postgres

@Suite struct HealthTests {
    func health(_ ctx: AppContext) -> Response {
        Router.medsync().handle(Request(method: "GET", uri: "/api/health", remoteAddress: "127.0.0.1"), ctx)
    }

    @Test func unreachableDatabaseIs503() throws {
        let r = health(try context(databaseURL: "host=/nonexistent dbname=x connect_timeout=1"))
        #expect(r.status == 503)
        let body = try errorBody(r)
        #expect(body.error.code == "database_unavailable")
        #expect(!body.error.message.contains("nonexistent"))  // no server details for clients
    }

    @Test(.needsStack) func reachableMigratedDatabaseIs200AndSurvivesALostConnection() throws {
        let url = try TestDatabase.create()
        let ctx = try context(databaseURL: url)
        let r = health(ctx)
        #expect(r.status == 200, "\(String(decoding: r.body, as: UTF8.self))")
        let body = try JSONDecoder().decode([String: String].self, from: Data(r.body))
        #expect(body["status"] == "ok" && body["database"] == "ok", "\(body)")
        // The binary serving (BinaryVersion): 16 hex digits of its SHA-256.
        #expect(body["version"]?.count == 16 && body["version"]?.allSatisfy(\.isHexDigit) == true, "\(body)")

        // The server drops this worker's session (as on a PostgreSQL restart): the next request reconnects.
        let pid = try #require(ctx.db().backendPID)
        let admin = try PGConnection(try TestDatabase.adminURL)
        try admin.query("SELECT pg_terminate_backend(\(Int(pid)))")
        let again = health(ctx)
        #expect(again.status == 200, "\(String(decoding: again.body, as: UTF8.self))")
        #expect(ctx.db().backendPID != pid)
    }

    @Test func pingAnswersWithoutTheDatabase() throws {
        let ctx = try context(databaseURL: "host=/nonexistent dbname=x connect_timeout=1")
        let r = Router.medsync().handle(Request(method: "GET", uri: "/api/ping", remoteAddress: "127.0.0.1"), ctx)
        #expect(r.status == 200)
        #expect(try JSONDecoder().decode([String: String].self, from: Data(r.body)) == ["status": "ok"])
    }

    @Test(.needsStack) func unmigratedDatabaseIs503() throws {
        let url = try TestDatabase.create(migrated: false)
        let r = health(try context(databaseURL: url))
        #expect(r.status == 503)
        #expect(try errorBody(r).error.code == "database_unavailable")
    }
}
