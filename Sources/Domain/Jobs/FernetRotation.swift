import Foundation
import MedsyncCrypto
import Postgres

/// `medsync-jobs fernet rotate`: re-encrypts every stored Fernet token with the first key of
/// MEDSYNC_FERNET_KEYS, so that the keys after it can then be removed. In batches (one short
/// transaction each), idempotent (a token the first key already decrypts is left alone, so a second
/// run rewrites nothing) and safe beside the running app (each row is rewritten only if it still
/// holds the token that was read).
public enum FernetRotation {
    /// Every column that holds a Fernet token: table, its key column, the token column.
    static let columns: [(table: String, id: String, column: String)] = [
        ("whatsapp_senders", "id", "twilio_subaccount_token_enc"),
        ("workspace_subaccounts", "id", "auth_token_enc"),
    ]

    public struct Outcome: Sendable, Equatable, CustomStringConvertible {
        public var rewritten = 0
        public var current = 0
        /// Tokens no configured key decrypts (named by table and id; never the token).
        public var undecryptable: [String] = []
        public var description: String {
            "rewritten \(rewritten), already current \(current), undecryptable \(undecryptable.count)"
                + (undecryptable.isEmpty ? "" : " (" + undecryptable.prefix(20).joined(separator: ", ") + ")")
        }
    }

    public static func rotate(_ conn: PGConnection, fernet: MultiFernet, batchSize: Int = 200) throws -> Outcome {
        var outcome = Outcome()
        for c in columns {
            var after: Int64 = 0
            while true {
                // Table and column names are the constants above, never input.
                let rows = try conn.query(PGQuery(unsafeSQL: """
                    SELECT \(c.id) AS id, \(c.column) AS token FROM \(c.table)
                     WHERE \(c.column) IS NOT NULL AND \(c.id) > $1 ORDER BY \(c.id) LIMIT \(batchSize)
                    """, binds: [PGValue(after)]))
                guard !rows.isEmpty else { break }
                try conn.transaction {
                    for row in rows {
                        let id = try row.decode(Int64.self, "id")
                        after = max(after, id)
                        let token = try row.decode(String.self, "token")
                        do {
                            guard let fresh = try fernet.rotate(token) else { outcome.current += 1; continue }
                            try conn.execute(PGQuery(unsafeSQL: "UPDATE \(c.table) SET \(c.column) = $1 WHERE \(c.id) = $2 AND \(c.column) = $3",
                                                     binds: [PGValue(fresh), PGValue(id), PGValue(token)]))
                            outcome.rewritten += 1
                        } catch is FernetError {
                            outcome.undecryptable.append("\(c.table) \(id)")
                        }
                    }
                }
            }
        }
        return outcome
    }
}
