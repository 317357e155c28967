import Postgres

/// The PostgreSQL stores of one session: `PostgresStores(conn).patients`, and so on. A request's
/// handler makes it from the request's connection (FCGIApp's `ctx.stores`), a job from its own.
/// Each aggregate adds its store in its own file: `extension PostgresStores { public var x: PGXStore }`.
public struct PostgresStores {
    public let conn: PGConnection
    public init(_ conn: PGConnection) { self.conn = conn }
}

extension PostgresStores {
    /// Whether the session reaches a migrated schema (`schema_migrations` readable): the health check.
    public func checkSchema() throws {
        _ = try conn.query("SELECT 1 FROM schema_migrations LIMIT 1")
    }
}
