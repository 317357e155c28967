import Domain
import Postgres

/// A bundle send on a PostgreSQL connection (its bundle and message stores), for the tests that
/// queue a batch as a fixture.
extension Bundles {
    public static func send(_ conn: PGConnection, actor: StaffActor, _ input: SendInput, idempotencyKey: String? = nil) throws -> Enqueued {
        try send(PostgresStores(conn).bundles, messages: PostgresStores(conn).messages, actor: actor, input, idempotencyKey: idempotencyKey)
    }
}
