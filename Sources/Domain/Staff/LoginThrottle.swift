import Foundation
#if canImport(Glibc)
import Glibc
#endif
import MedsyncConfig

/// Failed sign-ins counted in PostgreSQL (table `login_throttle`), per account, per client address
/// and per (account, address) pair, so every worker process and app host sees the same counts.
///
/// Soft lockout (ASVS 2.2.1): within `window` seconds, `maxFailuresPerAddress` wrong passwords from
/// one address lock that address (429 `too_many_attempts` with `Retry-After` before any hash), and
/// `maxFailures` for one account lock the account — but a locked account refuses only the
/// addresses that failed against it; its owner, signing in from an address that has not failed,
/// still has their password checked, so nobody can keep someone else out by guessing. A lock lasts
/// `window` seconds, doubled for each consecutive lockout at most four times and never past an
/// hour; the doubling starts over once a window passes without a lock. A successful sign-in clears
/// the account's counts.
///
/// The account is the user's id once the email is found (any spelling that reaches the row counts
/// as that row), else the email's one normalized key (`Users.emailKey`). The address is nginx's
/// REMOTE_ADDR (`$remote_addr`, the TCP peer: a client cannot choose it; X-Forwarded-For is not
/// read), counted per IPv4 address and per IPv6 /64 (one host gets a whole /64).
public struct LoginThrottle: Sendable {
    public let window: Int
    public let maxFailures: Int
    public let maxFailuresPerAddress: Int
    static let maxLockSeconds = 3600
    static let maxDoublings = 4

    public init(window: Int, maxFailures: Int, maxFailuresPerAddress: Int) {
        self.window = max(1, window)
        self.maxFailures = max(1, maxFailures)
        self.maxFailuresPerAddress = max(1, maxFailuresPerAddress)
    }

    public init(config: Config) {
        self.init(window: config.loginWindowSeconds, maxFailures: config.loginMaxFailures,
                  maxFailuresPerAddress: config.loginMaxFailuresPerAddress)
    }

    /// The keys of one attempt: the account (see `account(userID:email:)`) and the address's key
    /// (empty REMOTE_ADDR: counted as one address, "-").
    public struct Keys: Sendable {
        public let account: String
        public let address: String
        var pair: String { "\(account) \(address)" }

        public init(account: String, address remote: String) {
            self.account = account
            address = LoginThrottle.addressKey(remote)
        }
    }

    /// The account key: `user:<id>` for a known user, else `email:<normalized email>`.
    public static func account(userID: Int64?, email: String) -> String {
        if let userID { return "user:\(userID)" }
        let e = Users.emailKey(email)
        return "email:" + String((e.isEmpty ? "(empty)" : e).prefix(200))
    }

    /// An IPv4 address as it is; an IPv6 address as its /64 (`2001:db8:1:2::/64`); an IPv4-mapped
    /// IPv6 address as the IPv4 one. Anything else (a Unix socket's empty address): cut to 64.
    public static func addressKey(_ remote: String) -> String {
        let r = remote.trimmingCharacters(in: .whitespaces)
        if r.isEmpty { return "-" }
        var v6 = in6_addr()
        let host = r.split(separator: "%", maxSplits: 1).first.map(String.init) ?? r
        if host.contains(":"), inet_pton(AF_INET6, host, &v6) == 1 {
            let b = withUnsafeBytes(of: v6) { Array($0) }
            if b[0..<10].allSatisfy({ $0 == 0 }), b[10] == 0xFF, b[11] == 0xFF {
                return "\(b[12]).\(b[13]).\(b[14]).\(b[15])"
            }
            let groups = stride(from: 0, to: 8, by: 2).map { String(UInt16(b[$0]) << 8 | UInt16(b[$0 + 1]), radix: 16) }
            return groups.joined(separator: ":") + "::/64"
        }
        return String(r.prefix(64))
    }

    static func tooMany(_ seconds: Int) -> AppError {
        AppError(.tooManyAttempts, "Too many failed sign-ins; try again in \(seconds) seconds.", retryAfter: seconds)
    }

    /// Throws 429 `too_many_attempts` when the address is locked now (before the email is looked up).
    public func checkAddress(_ store: some LoginThrottleStore, _ address: String) throws {
        if let wait = try store.addressLockedFor(address), wait > 0 { throw LoginThrottle.tooMany(wait) }
    }

    /// Throws 429 `too_many_attempts` when the account is locked now and this address failed
    /// against it in the last day (soft lockout: a clean address has its password checked).
    public func checkAccount(_ store: some LoginThrottleStore, _ keys: Keys) throws {
        if let wait = try store.accountLockedFor(account: keys.account, pair: keys.pair), wait > 0 { throw LoginThrottle.tooMany(wait) }
    }

    /// Both checks, address first.
    public func check(_ store: some LoginThrottleStore, _ keys: Keys) throws {
        try checkAddress(store, keys.address)
        try checkAccount(store, keys)
    }

    /// Counts one failure for both keys and locks whichever reached its limit. Returns the lock's
    /// length in seconds when this failure locked something.
    @discardableResult
    public func recordFailure(_ store: some LoginThrottleStore, _ keys: Keys) throws -> Int? {
        let keyed: [(String, String)] = [("account", keys.account), ("address", keys.address), ("pair", keys.pair)]
        var locked: Int?
        for (scope, key) in keyed {
            // A pair only remembers that this address failed against this account; it never locks.
            let limit = scope == "account" ? maxFailures : scope == "address" ? maxFailuresPerAddress : Int.max
            // One statement per key: counts within the window (a new window once it passed), then
            // locks at the limit; the row lock of the upsert orders concurrent failures.
            let (failures, lockouts) = try store.countFailure(scope: scope, key: key, window: window)
            guard failures >= limit else { continue }
            let seconds = min(LoginThrottle.maxLockSeconds, window << min(lockouts, LoginThrottle.maxDoublings))
            try store.lock(scope: scope, key: key, seconds: seconds)
            locked = max(locked ?? 0, seconds)
        }
        // Now and then, forget keys that have been quiet for a day (sprayed emails would pile up).
        if Int.random(in: 0..<200) == 0 {
            try store.forgetQuietKeys()
        }
        return locked
    }

    /// A successful sign-in: the account starts afresh, with every address's record against it
    /// (the address keeps its own count).
    public func recordSuccess(_ store: some LoginThrottleStore, _ keys: Keys) throws {
        try store.clear(account: keys.account)
    }
}
