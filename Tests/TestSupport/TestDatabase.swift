import Domain
import Foundation
import MedsyncCrypto
import Postgres

/// Fresh databases on the test cluster (`MEDSYNC_TEST_ADMIN_URL`, a superuser conninfo).
///
/// `create()` copies `medsync_template`, a database migrated once with the files in `sql/`
/// (rebuilt when those files change); every test gets its own database, so tests run in parallel
/// without seeing each other's rows. Test processes running at once serialize on an advisory lock.
public enum TestDatabase {
    static let lockKey: Int64 = 0x6d65_6473_7465_7374   // "medstest"
    static let templateName = "medsync_template"

    public static var adminURL: String {
        get throws { try requiredEnvironment("MEDSYNC_TEST_ADMIN_URL") }
    }

    public static var sqlDirectory: String {
        ProcessInfo.processInfo.environment["MEDSYNC_SQL_DIR"] ?? "\(projectRoot)/sql"
    }

    /// A brand-new database; returns its conninfo. `migrated: false` gives an empty one (template0).
    public static func create(migrated: Bool = true) throws -> String {
        let admin = try adminURL
        let conn = try PGConnection(admin)
        let name = "t_" + Crypto.hex(Crypto.randomBytes(8))
        try conn.execute("SELECT pg_advisory_lock(\(lockKey))")
        defer { _ = try? conn.execute("SELECT pg_advisory_unlock(\(lockKey))") }
        if migrated {
            try ensureTemplate(conn, admin: admin)
            try conn.execute(PGQuery(unsafeSQL: "CREATE DATABASE \(name) TEMPLATE \(templateName)"))
        } else {
            try conn.execute(PGQuery(unsafeSQL: "CREATE DATABASE \(name) TEMPLATE template0"))
        }
        return try PGConnection.conninfo(admin, database: name)
    }

    /// Drops a database made by `create` (optional: the test cluster is thrown away anyway).
    public static func drop(_ conninfo: String) throws {
        let conn = try PGConnection(try adminURL)
        guard let name = conninfo.split(separator: " ").last(where: { $0.hasPrefix("dbname=") })?
            .dropFirst("dbname=".count).trimmingCharacters(in: CharacterSet(charactersIn: "'")),
            name.hasPrefix("t_") else { return }
        try conn.execute(PGQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(name) WITH (FORCE)"))
    }

    /// Creates (or rebuilds, when sql/ changed) the migrated template. Called with the lock held.
    static func ensureTemplate(_ conn: PGConnection, admin: String) throws {
        let migrations = try Migrator(directory: sqlDirectory).migrations()
        let fingerprint = Crypto.hex(Crypto.sha256(migrations.map { "\($0.version):\($0.checksum)" }.joined(separator: "\n")))
        let existing = try conn.query("""
            SELECT shobj_description(oid, 'pg_database') AS fingerprint FROM pg_database WHERE datname = \(templateName)
            """)
        if let row = existing.first {
            if try row.decode(String?.self, "fingerprint") == fingerprint { return }
            try conn.execute(PGQuery(unsafeSQL: "DROP DATABASE \(templateName) WITH (FORCE)"))
        }
        try conn.execute(PGQuery(unsafeSQL: "CREATE DATABASE \(templateName) TEMPLATE template0"))
        do {
            let template = try PGConnection(try PGConnection.conninfo(admin, database: templateName))
            try Migrator(directory: sqlDirectory).migrate(template)
        }   // the template's connection closes here: CREATE DATABASE ... TEMPLATE needs it unused
        // Identifiers cannot be binds: these names are made here (t_ + hex, a constant), hence unsafeSQL.
        // The comment marks the template complete; a crash before this line leaves it to be rebuilt.
        try conn.execute(PGQuery(unsafeSQL: "COMMENT ON DATABASE \(templateName) IS '\(fingerprint)'"))   // hex only: safe literal
    }
}
