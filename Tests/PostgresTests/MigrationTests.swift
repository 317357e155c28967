import Foundation
import Testing
import TestSupport
import Postgres

@Suite("Migrations")
struct MigrationTests {
    let migrator = Migrator(directory: TestDatabase.sqlDirectory)

    func versions(_ conn: PGConnection) throws -> [String] {
        try conn.query("SELECT version FROM schema_migrations ORDER BY version").map { $0.string("version")! }
    }

    func tableCount(_ conn: PGConnection, _ name: String) throws -> Int {
        try conn.query("SELECT count(*)::int AS n FROM pg_tables WHERE tablename = \(name)").one().decode(Int.self, "n")
    }

    @Test(.needsStack) func migrateTwiceAppliesOnce() throws {
        let conn = try PGConnection(try TestDatabase.create(migrated: false))
        let files = try migrator.migrations().map(\.version)
        #expect(files.first == "0001_schema.sql")
        #expect(try migrator.migrate(conn) == files)
        #expect(try migrator.migrate(conn) == [])
        #expect(try versions(conn) == files.sorted())
        #expect(try tableCount(conn, "whatsapp_messages") == 1)
    }

    @Test(.needsStack) func migrateConcurrentlyAppliesOnce() throws {
        let url = try TestDatabase.create(migrated: false)
        let files = try migrator.migrations().map(\.version)
        let results = LockedBox<[Result<[String], any Error>]>([])
        let migrator = self.migrator
        // Four sessions race (as four hosts starting `medsync-jobs migrate` at once).
        DispatchQueue.concurrentPerform(iterations: 4) { _ in
            let result = Result { try migrator.migrate(try PGConnection(url)) }
            results.withLock { $0.append(result) }
        }
        let applied = try results.withLock { try $0.map { try $0.get() } }
        #expect(applied.count == 4)
        #expect(applied.flatMap { $0 }.sorted() == files.sorted())   // each file applied by exactly one session
        let conn = try PGConnection(url)
        #expect(try versions(conn) == files.sorted())
        #expect(try tableCount(conn, "workspaces") == 1)
        #expect(try tableCount(conn, "schema_migrations") == 1)
    }

    @Test(.needsStack) func failedMigrationLeavesNothingAndIsRetried() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("medsync-mig-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "CREATE TABLE a (id int);".write(toFile: "\(dir)/0001_a.sql", atomically: true, encoding: .utf8)
        try "CREATE TABLE b (id int); SELECT 1/0;".write(toFile: "\(dir)/0002_b.sql", atomically: true, encoding: .utf8)
        try "not a migration".write(toFile: "\(dir)/README.md", atomically: true, encoding: .utf8)
        let conn = try PGConnection(try TestDatabase.create(migrated: false))
        let local = Migrator(directory: dir)
        let error = try #require(throws: PGError.self) { try local.migrate(conn) }
        #expect(error.sqlState == "22012")
        #expect(try versions(conn) == ["0001_a.sql"])
        #expect(try tableCount(conn, "b") == 0)   // the failed file's transaction rolled back entirely

        try "CREATE TABLE b (id int);".write(toFile: "\(dir)/0002_b.sql", atomically: true, encoding: .utf8)
        #expect(try local.migrate(conn) == ["0002_b.sql"])

        // Editing an applied file is refused, loudly.
        try "CREATE TABLE a (id bigint);".write(toFile: "\(dir)/0001_a.sql", atomically: true, encoding: .utf8)
        let changed = try #require(throws: Migrator.MigrationError.self) { try local.migrate(conn) }
        #expect(changed.code == "migration_changed")
    }

    @Test("0019 composes stored emails (NFKC); a row that would collide with another user is left, no user is lost", .needsStack)
    func emailsComposedWithoutLosingUsers() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("medsync-mig19-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let all = try FileManager.default.contentsOfDirectory(atPath: TestDatabase.sqlDirectory).filter { $0.hasSuffix(".sql") }.sorted()
        for file in all where file < "0019" {
            try FileManager.default.copyItem(atPath: "\(TestDatabase.sqlDirectory)/\(file)", toPath: "\(dir)/\(file)")
        }
        let conn = try PGConnection(try TestDatabase.create(migrated: false))
        _ = try Migrator(directory: dir).migrate(conn)
        // As the old code stored them: lower-cased by Swift, not composed.
        for email in ["ｏｎｌｙ@a.example", "ｔｗｉｎ@a.example", "twin@a.example", "plain@a.example"] {
            try conn.execute("INSERT INTO users (email) VALUES (\(email))")
        }
        try conn.execute("INSERT INTO login_throttle (scope, key, failures) VALUES ('account', 'plain@a.example', 3)")
        let plain = try #require(try conn.query("SELECT id FROM users WHERE email = 'plain@a.example'").first?.int64("id"))
        try conn.execute("INSERT INTO api_tokens (token_hash, user_id, created_at) VALUES (\(PGBytea([UInt8](repeating: 7, count: 32))), \(plain), now() - interval '40 days')")
        for file in all where file >= "0019" {
            try FileManager.default.copyItem(atPath: "\(TestDatabase.sqlDirectory)/\(file)", toPath: "\(dir)/\(file)")
        }
        #expect(try Migrator(directory: dir).migrate(conn).contains("0019_sign_in_and_sessions.sql"))
        let emails = try conn.query("SELECT email FROM users ORDER BY id").map { $0.string("email") ?? "" }
        #expect(emails == ["only@a.example", "ｔｗｉｎ@a.example", "twin@a.example", "plain@a.example"])
        #expect(try conn.query("SELECT count(*) AS n FROM login_throttle WHERE scope = 'account'").first?.int("n") == 0)
        #expect(try conn.query("SELECT absolute_expires_at < now() AS gone FROM api_tokens").first?.string("gone") == "t")
    }

    @Test func missingDirectoryIsAClearError() throws {
        let error = try #require(throws: Migrator.MigrationError.self) {
            _ = try Migrator(directory: "/nonexistent/medsync-sql").migrations()
        }
        #expect(error.code == "sql_dir_unreadable")
        #expect(error.message.contains("MEDSYNC_SQL_DIR"))
    }
}
