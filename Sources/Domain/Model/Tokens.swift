import Foundation

/// API tokens: `msk_` + 32 random bytes in hex. Only sha256(token) is stored; the plaintext is
/// shown once, when it is created.
public enum Tokens {
    public static let prefix = "msk_"
    static let length = 4 + 64

    public static func hash(_ token: String) -> [UInt8] { Crypto.sha256(token) }

    /// Creates a token for the user and returns its plaintext (the only time it exists).
    public static func create(_ conn: PGConnection, userID: Int64, name: String = "") throws -> String {
        guard try Users.find(conn, id: userID) != nil else {
            throw AppError.notFound("user_not_found", "user \(userID) does not exist")
        }
        let token = prefix + Crypto.hex(Crypto.randomBytes(32))
        try conn.execute("INSERT INTO api_tokens (token_hash, user_id, name) VALUES ($1, $2, $3)",
                         [PGValue(hash(token)), PGValue(userID), PGValue(name)])
        return token
    }

    /// The user id of a valid, unrevoked token, nil otherwise. Records `last_used_at`, at most
    /// once a minute per token so that a busy client does not write on every request.
    public static func authenticate(_ conn: PGConnection, token: String) throws -> Int64? {
        guard token.hasPrefix(prefix), token.utf8.count == length else { return nil }
        let rows = try conn.query("""
            WITH t AS (
                SELECT id, user_id, last_used_at FROM api_tokens WHERE token_hash = $1 AND revoked_at IS NULL
            ), touch AS (
                UPDATE api_tokens a SET last_used_at = now() FROM t
                 WHERE a.id = t.id AND (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute')
            )
            SELECT user_id FROM t
            """, [PGValue(hash(token))])
        return rows.first?.int64("user_id")
    }

    /// Revokes a token (logout). Returns whether a live token was revoked.
    @discardableResult
    public static func revoke(_ conn: PGConnection, token: String) throws -> Bool {
        try conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE token_hash = $1 AND revoked_at IS NULL",
                         [PGValue(hash(token))]) == 1
    }
}
