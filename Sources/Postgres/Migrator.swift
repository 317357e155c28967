import Foundation
import MedsyncCrypto

/// Applies the numbered `*.sql` files of a directory (`0001_schema.sql`, `0002_...sql`, in numeric
/// order), each in its own transaction, recording it in `schema_migrations`.
///
/// Safe to run twice and concurrently (several hosts, several processes): everything happens under
/// a session-level advisory lock, and the list of applied files is read only once the lock is held.
public struct Migrator: Sendable {
    public struct Migration: Sendable, Equatable {
        public let version: String      // file name, e.g. "0001_schema.sql"
        public let number: Int
        public let sql: String
        public var checksum: String { Crypto.hex(Crypto.sha256(sql)) }
    }

    public struct MigrationError: Error, Sendable, CustomStringConvertible {
        public let code: String
        public let message: String
        public var description: String { "\(code): \(message)" }
    }

    /// Arbitrary constant shared by every migrating process ("medsync" in ASCII).
    public static let advisoryLockKey: Int64 = 0x6d65_6473_796e_63

    public let directory: String

    public init(directory: String) { self.directory = directory }

    /// `MEDSYNC_SQL_DIR`, default `sql` relative to the current directory.
    public static func fromEnvironment(_ environment: [String: String] = ProcessInfo.processInfo.environment) -> Migrator {
        Migrator(directory: environment["MEDSYNC_SQL_DIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "sql")
    }

    /// The migration files, in order. Names must start with a number and end in `.sql`.
    public func migrations() throws -> [Migration] {
        let names: [String]
        do {
            names = try FileManager.default.contentsOfDirectory(atPath: directory)
        } catch {
            throw MigrationError(code: "sql_dir_unreadable", message: "cannot read migrations directory \(directory) (set MEDSYNC_SQL_DIR)")
        }
        var out: [Migration] = []
        for name in names where name.hasSuffix(".sql") {
            let digits = name.prefix(while: { $0.isASCII && $0.isNumber })
            guard !digits.isEmpty, let number = Int(digits) else { continue }
            let path = (directory as NSString).appendingPathComponent(name)
            guard let sql = try? String(contentsOfFile: path, encoding: .utf8) else {
                throw MigrationError(code: "sql_file_unreadable", message: "cannot read \(path) as UTF-8")
            }
            out.append(Migration(version: name, number: number, sql: sql))
        }
        out.sort { ($0.number, $0.version) < ($1.number, $1.version) }
        for (a, b) in zip(out, out.dropFirst()) where a.number == b.number {
            throw MigrationError(code: "duplicate_migration_number", message: "\(a.version) and \(b.version) share number \(a.number)")
        }
        if out.isEmpty { throw MigrationError(code: "no_migrations", message: "no numbered .sql files in \(directory)") }
        return out
    }

    /// Applies every pending migration and returns the versions it applied (empty when up to date).
    @discardableResult
    public func migrate(_ conn: PGConnection) throws -> [String] {
        let all = try migrations()
        try conn.execute("SELECT pg_advisory_lock(\(Migrator.advisoryLockKey))")
        defer { _ = try? conn.execute("SELECT pg_advisory_unlock(\(Migrator.advisoryLockKey))") }
        try conn.execute("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                version     text PRIMARY KEY,
                checksum    text NOT NULL,
                applied_at  timestamptz NOT NULL DEFAULT now()
            )
            """)
        var applied: [String: String] = [:]
        for row in try conn.query("SELECT version, checksum FROM schema_migrations") {
            applied[try row.decode(String.self, "version")] = try row.decode(String.self, "checksum")
        }
        var done: [String] = []
        for migration in all {
            if let checksum = applied[migration.version] {
                // An applied file that changed afterwards is a mistake worth a loud message, not a silent skip.
                guard checksum == migration.checksum else {
                    throw MigrationError(code: "migration_changed",
                                         message: "\(migration.version) was changed after it was applied; add a new numbered file instead")
                }
                continue
            }
            try conn.transaction {
                try conn.executeScript(migration.sql)
                try conn.execute("INSERT INTO schema_migrations (version, checksum) VALUES (\(migration.version), \(migration.checksum))")
            }
            done.append(migration.version)
        }
        return done
    }
}
