import Foundation
import MedsyncConfig
import Postgres

/// Failed sign-ins counted in PostgreSQL (table `login_throttle`), per account (the normalized
/// email) and per client address, so every worker process and app host sees the same counts.
///
/// Within `window` seconds, `maxFailures` wrong passwords for one account, or `maxFailuresPerAddress`
/// from one address, lock that key: further attempts answer 429 `too_many_attempts` with
/// `Retry-After` before any password is hashed. A lock lasts `window` seconds, doubled for each
/// consecutive lockout (at most a day); a successful sign-in clears the account's count.
///
/// The address is nginx's REMOTE_ADDR (`$remote_addr`, the TCP peer): a client cannot choose it.
/// X-Real-IP / X-Forwarded-For are request headers a client can fill with anything (a new value per
/// attempt would escape the address limit); behind a load balancer, nginx's realip module makes
/// `$remote_addr` the client's address, and the app keeps reading only REMOTE_ADDR.
public struct LoginThrottle: Sendable {
    public let window: Int
    public let maxFailures: Int
    public let maxFailuresPerAddress: Int
    static let maxLockSeconds = 86_400

    public init(window: Int, maxFailures: Int, maxFailuresPerAddress: Int) {
        self.window = max(1, window)
        self.maxFailures = max(1, maxFailures)
        self.maxFailuresPerAddress = max(1, maxFailuresPerAddress)
    }

    public init(config: Config) {
        self.init(window: config.loginWindowSeconds, maxFailures: config.loginMaxFailures,
                  maxFailuresPerAddress: config.loginMaxFailuresPerAddress)
    }

    /// The keys of one attempt: the account's normalized email and the client's address (empty: not counted).
    public struct Keys: Sendable {
        let account: String
        let address: String?

        public init(email: String, address remote: String) {
            let e = email.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
            account = e.isEmpty ? "(empty)" : String(e.prefix(320))
            address = remote.isEmpty ? nil : String(remote.prefix(64))
        }
    }

    static func tooMany(_ seconds: Int) -> AppError {
        AppError(.tooManyAttempts, "Too many failed sign-ins; try again in \(seconds) seconds.", retryAfter: seconds)
    }

    /// Throws 429 `too_many_attempts` when the account or the address is locked now.
    public func check(_ conn: PGConnection, _ keys: Keys) throws {
        let rows = try conn.query("""
            SELECT ceil(extract(epoch FROM max(locked_until) - now()))::bigint AS wait FROM login_throttle
             WHERE ((scope = 'account' AND key = \(keys.account)) OR (scope = 'address' AND key = \(keys.address))) AND locked_until > now()
            """)
        if let wait = try rows.first?.decode(Int?.self, "wait"), wait > 0 { throw LoginThrottle.tooMany(wait) }
    }

    /// Counts one failure for both keys and locks whichever reached its limit. Returns the lock's
    /// length in seconds when this failure locked something.
    @discardableResult
    public func recordFailure(_ conn: PGConnection, _ keys: Keys) throws -> Int? {
        var keyed: [(String, String)] = [("account", keys.account)]
        if let address = keys.address { keyed.append(("address", address)) }
        var locked: Int?
        for (scope, key) in keyed {
            let limit = scope == "account" ? maxFailures : maxFailuresPerAddress
            // One statement per key: counts within the window (a new window once it passed), then
            // locks at the limit; the row lock of the upsert orders concurrent failures.
            let rows = try conn.query("""
                INSERT INTO login_throttle AS t (scope, key, failures, window_start) VALUES (\(scope), \(key), 1, now())
                ON CONFLICT (scope, key) DO UPDATE SET
                    failures = CASE WHEN t.window_start < now() - make_interval(secs => \(window)) THEN 1 ELSE t.failures + 1 END,
                    window_start = CASE WHEN t.window_start < now() - make_interval(secs => \(window)) THEN now() ELSE t.window_start END,
                    lockouts = CASE WHEN t.locked_until < now() - interval '1 day' THEN 0 ELSE t.lockouts END
                RETURNING failures, lockouts
                """)
            guard let failures = try rows.first?.decode(Int?.self, "failures"), let lockouts = try rows.first?.decode(Int?.self, "lockouts") else {
                throw AppError(.badThrottleRow, "The sign-in counter could not be read.")
            }
            guard failures >= limit else { continue }
            let seconds = min(LoginThrottle.maxLockSeconds, window << min(lockouts, 16))
            try conn.execute("""
                UPDATE login_throttle SET locked_until = now() + make_interval(secs => \(seconds)), lockouts = lockouts + 1,
                       failures = 0, window_start = now()
                 WHERE scope = \(scope) AND key = \(key)
                """)
            locked = max(locked ?? 0, seconds)
        }
        // Now and then, forget keys that have been quiet for a day (sprayed emails would pile up).
        if Int.random(in: 0..<200) == 0 {
            try conn.execute("""
                DELETE FROM login_throttle WHERE window_start < now() - interval '1 day'
                   AND (locked_until IS NULL OR locked_until < now() - interval '1 day')
                """)
        }
        return locked
    }

    /// A successful sign-in: the account starts afresh (the address keeps its count).
    public func recordSuccess(_ conn: PGConnection, _ keys: Keys) throws {
        try conn.execute("DELETE FROM login_throttle WHERE scope = 'account' AND key = \(keys.account)")
    }
}
