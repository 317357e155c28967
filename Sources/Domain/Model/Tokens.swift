import Foundation
import MedsyncCrypto
import Postgres

/// API tokens: `msk_` + 32 random bytes in hex. Only sha256(token) is stored; the plaintext is
/// shown once, when it is created. A token expires `ttl` seconds after its last use (sliding; 12
/// hours unless `MEDSYNC_TOKEN_TTL_SECONDS` says otherwise) and at the latest `maxAge` seconds after
/// it was made (absolute; 30 days, `MEDSYNC_TOKEN_MAX_AGE_SECONDS`), however much it is used. Every
/// token of a user is revoked when the user's password changes (a trigger of migration 0005).
/// A user sees their own tokens as sessions (`sessions`) and can end any or all of them.
public enum Tokens {
    public static let prefix = "msk_"
    static let length = 4 + 64
    /// 12 hours of inactivity, in seconds.
    public static let defaultTTL = 12 * 3600
    /// 30 days from creation, in seconds.
    public static let defaultMaxAge = 30 * 24 * 3600

    /// What a presented token turned out to be.
    public enum Check: Sendable, Equatable {
        case valid(userID: Int64)
        case expired
        case invalid
    }

    public static func hash(_ token: String) -> [UInt8] { Crypto.sha256(token) }

    /// Creates a token for the user and returns its plaintext (the only time it exists).
    public static func create(_ conn: PGConnection, userID: Int64, name: String = "", ttl: Int = defaultTTL,
                              maxAge: Int = defaultMaxAge, client: StaffAuth.Client = StaffAuth.Client()) throws -> String {
        guard try Users.find(conn, id: userID) != nil else {
            throw AppError(.userNotFound, "user \(userID) does not exist")
        }
        let token = prefix + Crypto.hex(Crypto.randomBytes(32))
        // The User-Agent without control characters, cut to 200.
        var agent: String? = nil
        if let ua = client.userAgent {
            var scalars = String.UnicodeScalarView()
            scalars.append(contentsOf: ua.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F && !(0x80..<0xA0).contains($0.value) })
            let cut = String(String(scalars).trimmingCharacters(in: .whitespaces).prefix(200))
            agent = cut.isEmpty ? nil : cut
        }
        let shownAddress: String? = addressPrefix(client.address)
        try conn.execute("""
            INSERT INTO api_tokens (token_hash, user_id, name, expires_at, absolute_expires_at, user_agent, address_prefix)
            VALUES (\(PGBytea(hash(token))), \(userID), \(name), now() + make_interval(secs => \(min(ttl, maxAge))),
                    now() + make_interval(secs => \(maxAge)), \(agent), \(shownAddress))
            """)
        return token
    }

    /// What the session list shows of an address: an IPv4 address's /24 (`203.0.113.0/24`), an IPv6
    /// address's /64; nil when there is none.
    public static func addressPrefix(_ remote: String) -> String? {
        let key = LoginThrottle.addressKey(remote)
        if key == "-" { return nil }
        let octets = key.split(separator: ".")
        if octets.count == 4, octets.allSatisfy({ UInt8($0) != nil }) { return octets.prefix(3).joined(separator: ".") + ".0/24" }
        return key
    }

    /// The user id of a valid, unrevoked token, nil otherwise (expired included).
    public static func authenticate(_ conn: PGConnection, token: String, ttl: Int = defaultTTL) throws -> Int64? {
        if case .valid(let userID) = try check(conn, token: token, ttl: ttl) { return userID }
        return nil
    }

    /// Looks the token up. A live one (before both its idle and its absolute expiry) is used:
    /// `last_used_at` and `expires_at` (now + `ttl`, never past the absolute expiry) are written at
    /// most once a minute per token, so a busy client does not write on every request.
    public static func check(_ conn: PGConnection, token: String, ttl: Int = defaultTTL) throws -> Check {
        guard token.hasPrefix(prefix), token.utf8.count == length else { return .invalid }
        let rows = try conn.query("""
            WITH t AS (
                SELECT id, user_id, last_used_at, expires_at > now() AND absolute_expires_at > now() AS live
                  FROM api_tokens WHERE token_hash = \(PGBytea(hash(token))) AND revoked_at IS NULL
            ), touch AS (
                UPDATE api_tokens a SET last_used_at = now(), expires_at = least(now() + make_interval(secs => \(ttl)), a.absolute_expires_at) FROM t
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

    /// One of the user's live sessions, as its owner sees it (never the token).
    public struct Session: Sendable, Encodable {
        public let id: Int64
        public let createdAt: Date
        public let lastUsedAt: Date?
        public let expiresAt: Date
        public let userAgent: String?
        public let addressPrefix: String?
        /// The session this request came with.
        public let current: Bool
        enum CodingKeys: String, CodingKey {
            case id, current, createdAt = "created_at", lastUsedAt = "last_used_at", expiresAt = "expires_at"
            case userAgent = "user_agent", addressPrefix = "address_prefix"
        }

        /// Every key always present (null when unknown), as the API document says.
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(createdAt, forKey: .createdAt)
            try c.encode(lastUsedAt, forKey: .lastUsedAt)
            try c.encode(expiresAt, forKey: .expiresAt)
            try c.encode(userAgent, forKey: .userAgent)
            try c.encode(addressPrefix, forKey: .addressPrefix)
            try c.encode(current, forKey: .current)
        }
    }

    /// The user's live sessions (unrevoked, unexpired), newest first; `current` marks the one of `token`.
    public static func sessions(_ conn: PGConnection, userID: Int64, token: String) throws -> [Session] {
        let currentHash = PGBytea(hash(token))
        return try conn.query("""
            SELECT id, created_at, last_used_at, least(expires_at, absolute_expires_at) AS expires_at, user_agent, address_prefix,
                   token_hash = \(currentHash) AS current
              FROM api_tokens
             WHERE user_id = \(userID) AND revoked_at IS NULL AND expires_at > now() AND absolute_expires_at > now()
             ORDER BY created_at DESC, id DESC LIMIT 200
            """).map { row in
            Session(id: try row.decode(Int64.self, "id"), createdAt: try row.decode(Date.self, "created_at"),
                    lastUsedAt: try row.decode(Date?.self, "last_used_at"), expiresAt: try row.decode(Date.self, "expires_at"),
                    userAgent: try row.decode(String?.self, "user_agent"), addressPrefix: try row.decode(String?.self, "address_prefix"),
                    current: try row.decode(Bool?.self, "current") ?? false)
        }
    }

    /// Ends one of the user's own sessions; 404 `session_not_found` for another user's, an unknown
    /// or an already ended one.
    public static func revoke(_ conn: PGConnection, userID: Int64, sessionID: Int64) throws {
        guard try conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE id = \(sessionID) AND user_id = \(userID) AND revoked_at IS NULL") == 1 else {
            throw AppError(.sessionNotFound, "No session \(sessionID) of yours is open.")
        }
    }
}
