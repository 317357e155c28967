import Foundation
import MedsyncCrypto
import Postgres

/// API tokens: `msk_` + 32 random bytes in hex. Only sha256(token) is stored; the plaintext is
/// shown once, when it is created. A token expires `ttl` seconds after its last use (sliding; 30
/// days unless `MEDSYNC_TOKEN_TTL_SECONDS` says otherwise) and every token of a user is revoked when
/// the user's password changes (a trigger of migration 0005).
public enum Tokens {
    public static let prefix = "msk_"
    static let length = 4 + 64
    /// 30 days, in seconds.
    public static let defaultTTL = 30 * 24 * 3600

    /// What a presented token turned out to be.
    public enum Check: Sendable, Equatable {
        case valid(userID: Int64)
        case expired
        case invalid
    }

    public static func hash(_ token: String) -> [UInt8] { Crypto.sha256(token) }

    /// Creates a token for the user and returns its plaintext (the only time it exists).
    public static func create(_ conn: PGConnection, userID: Int64, name: String = "", ttl: Int = defaultTTL) throws -> String {
        guard try Users.find(conn, id: userID) != nil else {
            throw AppError(.userNotFound, "user \(userID) does not exist")
        }
        let token = prefix + Crypto.hex(Crypto.randomBytes(32))
        try conn.execute("""
            INSERT INTO api_tokens (token_hash, user_id, name, expires_at) VALUES (\(PGBytea(hash(token))), \(userID), \(name), now() + make_interval(secs => \(ttl)))
            """)
        return token
    }

    /// The user id of a valid, unrevoked token, nil otherwise (expired included).
    public static func authenticate(_ conn: PGConnection, token: String, ttl: Int = defaultTTL) throws -> Int64? {
        if case .valid(let userID) = try check(conn, token: token, ttl: ttl) { return userID }
        return nil
    }

    /// Looks the token up. A live one is used: `last_used_at` and `expires_at` (now + `ttl`) are
    /// written at most once a minute per token, so a busy client does not write on every request.
    public static func check(_ conn: PGConnection, token: String, ttl: Int = defaultTTL) throws -> Check {
        guard token.hasPrefix(prefix), token.utf8.count == length else { return .invalid }
        let rows = try conn.query("""
            WITH t AS (
                SELECT id, user_id, last_used_at, expires_at > now() AS live
                  FROM api_tokens WHERE token_hash = \(PGBytea(hash(token))) AND revoked_at IS NULL
            ), touch AS (
                UPDATE api_tokens a SET last_used_at = now(), expires_at = now() + make_interval(secs => \(ttl)) FROM t
                 WHERE a.id = t.id AND t.live AND (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute')
            )
            SELECT user_id, live FROM t
            """)
        guard let row = rows.first else { return .invalid }
        guard let userID = try row.decode(Int64?.self, "user_id"), let live = try row.decode(Bool?.self, "live") else {
            throw AppError(.badTokenRow, "A stored token could not be read.")
        }
        return live ? .valid(userID: userID) : .expired
    }

    /// Revokes every live token of the user; returns how many.
    @discardableResult
    public static func revokeAll(_ conn: PGConnection, userID: Int64) throws -> Int {
        try conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE user_id = \(userID) AND revoked_at IS NULL")
    }

    /// Revokes a token (logout). Returns whether a live token was revoked.
    @discardableResult
    public static func revoke(_ conn: PGConnection, token: String) throws -> Bool {
        try conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE token_hash = \(PGBytea(hash(token))) AND revoked_at IS NULL") == 1
    }
}
