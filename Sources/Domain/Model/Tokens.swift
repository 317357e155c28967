import Foundation
import MedsyncCrypto

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
    public static func create(_ store: some MemberStore, userID: Int64, name: String = "", ttl: Int = defaultTTL,
                              maxAge: Int = defaultMaxAge, client: StaffAuth.Client = StaffAuth.Client()) throws -> String {
        guard try store.user(id: userID) != nil else {
            throw AppError(.userNotFound, "user \(userID) does not exist")
        }
        let (token, new) = make(userID: userID, name: name, ttl: ttl, maxAge: maxAge, client: client)
        try store.createToken(new)
        return token
    }

    /// A new token's plaintext and what is stored of it.
    public static func make(userID: Int64, name: String, ttl: Int, maxAge: Int, client: StaffAuth.Client) -> (String, NewToken) {
        let token = prefix + Crypto.hex(Crypto.randomBytes(32))
        // The User-Agent without control characters, cut to 200.
        var agent: String? = nil
        if let ua = client.userAgent {
            var scalars = String.UnicodeScalarView()
            scalars.append(contentsOf: ua.unicodeScalars.filter { $0.value >= 0x20 && $0.value != 0x7F && !(0x80..<0xA0).contains($0.value) })
            let cut = String(String(scalars).trimmingCharacters(in: .whitespaces).prefix(200))
            agent = cut.isEmpty ? nil : cut
        }
        return (token, NewToken(hash: hash(token), userID: userID, name: name, ttl: ttl, maxAge: maxAge, userAgent: agent,
                                addressPrefix: addressPrefix(client.address)))
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
    public static func authenticate(_ store: some MemberStore, token: String, ttl: Int = defaultTTL) throws -> Int64? {
        if case .valid(let userID) = try check(store, token: token, ttl: ttl) { return userID }
        return nil
    }

    /// Looks the token up. A live one (before both its idle and its absolute expiry) is used:
    /// `last_used_at` and `expires_at` (now + `ttl`, never past the absolute expiry) are written at
    /// most once a minute per token, so a busy client does not write on every request.
    public static func check(_ store: some MemberStore, token: String, ttl: Int = defaultTTL) throws -> Check {
        guard token.hasPrefix(prefix), token.utf8.count == length else { return .invalid }
        guard let state = try store.checkToken(hash: hash(token), ttl: ttl) else { return .invalid }
        return state.live ? .valid(userID: state.userID) : .expired
    }

    /// Revokes every live token of the user; returns how many.
    @discardableResult
    public static func revokeAll(_ store: some MemberStore, userID: Int64) throws -> Int {
        try store.revokeTokens(userID: userID)
    }

    /// Revokes a token (logout). Returns whether a live token was revoked.
    @discardableResult
    public static func revoke(_ store: some MemberStore, token: String) throws -> Bool {
        try store.revokeToken(hash: hash(token))
    }

    /// One of the user's live sessions, as its owner sees it (never the token).
    public typealias Session = TokenSession

    /// The user's live sessions (unrevoked, unexpired), newest first; `current` marks the one of `token`.
    public static func sessions(_ store: some MemberStore, userID: Int64, token: String) throws -> [Session] {
        try store.sessions(userID: userID, currentHash: hash(token))
    }

    /// Ends one of the user's own sessions; 404 `session_not_found` for another user's, an unknown
    /// or an already ended one.
    public static func revoke(_ store: some MemberStore, userID: Int64, sessionID: Int64) throws {
        guard try store.revokeSession(userID: userID, sessionID: sessionID) else {
            throw AppError(.sessionNotFound, "No session \(sessionID) of yours is open.")
        }
    }
}
