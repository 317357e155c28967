import Foundation
import MedsyncCrypto
import MedsyncConfig

/// Login, logout, "who am I", and turning a bearer token + `X-Account-Id` into a `StaffActor`.
public enum StaffAuth {
    public struct WorkspaceRole: Sendable, Encodable {
        public let id: Int64
        public let name: String
        public let role: String
    }

    public struct Me: Sendable, Encodable {
        public let user: User
        public let workspaces: [WorkspaceRole]
    }

    public struct LoginResult: Sendable, Encodable {
        public let token: String
        public let user: User
        public let workspaces: [WorkspaceRole]
    }

    /// What bounds sign-ins: the failed-login counter, the budget of hashes running at once, the
    /// lifetimes of the tokens handed out, and the list of breached passwords.
    public struct Limits: Sendable {
        public let throttle: LoginThrottle
        public let hashGate: HashGate
        /// Seconds a token lives after its last use.
        public let tokenTTL: Int
        /// Seconds a token lives after it was made, however it is used.
        public let tokenMaxAge: Int
        public let commonPasswords: CommonPasswords

        public init(throttle: LoginThrottle, hashGate: HashGate, tokenTTL: Int, tokenMaxAge: Int = Tokens.defaultMaxAge,
                    commonPasswords: CommonPasswords = .at(CommonPasswords.defaultPath)) {
            self.throttle = throttle
            self.hashGate = hashGate
            self.tokenTTL = tokenTTL
            self.tokenMaxAge = tokenMaxAge
            self.commonPasswords = commonPasswords
        }

        /// From the configuration, with a gate of its own (a process shares one: see medsync-fcgi's main).
        public init(config: Config, hashGate: HashGate? = nil) {
            self.init(throttle: LoginThrottle(config: config),
                      hashGate: hashGate ?? HashGate(config: config),
                      tokenTTL: config.tokenTTLSeconds, tokenMaxAge: config.tokenMaxAgeSeconds,
                      commonPasswords: .at(config.commonPasswordsPath))
        }
    }

    /// Who is signing in, as far as the session list shows it: the User-Agent (cut to 200
    /// characters) and the address (kept as its prefix only).
    public struct Client: Sendable {
        public let address: String
        public let userAgent: String?
        public init(address: String = "", userAgent: String? = nil) {
            self.address = address
            self.userAgent = userAgent
        }
    }

    /// Email + password → a new API token. Wrong email and wrong password answer the same 401. A
    /// locked address, or a locked account tried from an address that failed against it, answers
    /// 429 `too_many_attempts` with Retry-After before any hash is computed; an account locked by
    /// others' failures still checks the password of a clean address (soft lockout). Hashes wait in
    /// line for the process's budget (503 `auth_busy` only past the wait). A hash of weaker
    /// parameters than today's is replaced once the password is verified.
    public static func login(_ store: some MemberStore, email: String, password: String, address: String = "",
                             userAgent: String? = nil, limits: Limits) throws -> LoginResult {
        let invalid = AppError(.invalidCredentials, "The email or password is wrong.")
        guard !email.isEmpty, !password.isEmpty else { throw invalid }
        try limits.throttle.checkAddress(store, LoginThrottle.addressKey(address))
        let found = try Users.passwordHash(store, email: email)
        let keys = LoginThrottle.Keys(account: LoginThrottle.account(userID: found?.user.id, email: email), address: address)
        try limits.throttle.checkAccount(store, keys)
        let ok = try limits.hashGate.run {
            guard let found, let hash = found.hash else {
                // Same work as a real check, so timing does not tell which emails exist.
                _ = PasswordHash.verify(password, against: dummyHash)
                return false
            }
            return PasswordHash.verify(password, against: hash)
        }
        guard ok, let found, let stored = found.hash else {
            try limits.throttle.recordFailure(store, keys)
            throw invalid
        }
        try limits.throttle.recordSuccess(store, keys)
        try rehashIfWeak(store, userID: found.user.id, stored: stored, password: password, limits: limits)
        return try signedIn(store, user: found.user, client: Client(address: address, userAgent: userAgent), limits: limits)
    }

    /// A verified password whose stored hash has weaker parameters than today's gets today's.
    static func rehashIfWeak(_ store: some MemberStore, userID: Int64, stored: String, password: String, limits: Limits) throws {
        guard PasswordHash.needsRehash(stored) else { return }
        let stronger = try limits.hashGate.run { PasswordHash.hash(password) }
        try Users.rehash(store, userID: userID, old: stored, new: stronger)
    }

    /// The answer of a successful sign-in (login, an accepted invitation): a new session token, the
    /// user and their workspaces.
    static func signedIn(_ store: some MemberStore, user: User, client: Client, limits: Limits) throws -> LoginResult {
        let token = try Tokens.create(store, userID: user.id, name: "login", ttl: limits.tokenTTL, maxAge: limits.tokenMaxAge, client: client)
        return LoginResult(token: token, user: user, workspaces: try workspaces(store, userID: user.id))
    }

    public struct PasswordChanged: Sendable, Encodable {
        /// A fresh token for the caller: the change revoked every token of the user, this one included.
        public let token: String
        public let revokedTokens: Int
        enum CodingKeys: String, CodingKey { case token, revokedTokens = "revoked_tokens" }
    }

    /// The signed-in user changes their password: `current` must match (a wrong one counts as a
    /// failed sign-in of the account), `new` must pass `PasswordPolicy` (12 characters, not
    /// breached). Every token of the user is revoked (by the database trigger of migration 0005);
    /// the answer carries a new one.
    public static func changePassword(_ store: some MemberStore, userID: Int64, current: String, new: String,
                                      address: String = "", userAgent: String? = nil, limits: Limits) throws -> PasswordChanged {
        try PasswordPolicy.check(new, field: "new_password", list: limits.commonPasswords)
        guard let user = try Users.find(store, id: userID) else { throw AppError.unauthorized }
        let keys = LoginThrottle.Keys(account: LoginThrottle.account(userID: user.id, email: user.email), address: address)
        try limits.throttle.check(store, keys)
        let stored = try Users.passwordHash(store, email: user.email)?.hash
        let ok = try limits.hashGate.run { stored.map { PasswordHash.verify(current, against: $0) } ?? false }
        guard ok else {
            try limits.throttle.recordFailure(store, keys)
            throw AppError(.wrongPassword, "current_password is not your password.")
        }
        let hash = try limits.hashGate.run { PasswordHash.hash(new) }
        let (token, newToken) = Tokens.make(userID: userID, name: "login", ttl: limits.tokenTTL, maxAge: limits.tokenMaxAge,
                                          client: Client(address: address, userAgent: userAgent))
        guard let live = try store.setPassword(userID: userID, passwordHash: hash, token: newToken) else {
            throw AppError(.userNotFound, "user \(userID) does not exist")
        }
        return PasswordChanged(token: token, revokedTokens: live)
    }

    static let dummyHash = PasswordHash.hash("not a password of anyone")

    public static func logout(_ store: some MemberStore, token: String) throws {
        try Tokens.revoke(store, token: token)
    }

    public static func me(_ store: some MemberStore, userID: Int64) throws -> Me {
        guard let user = try Users.find(store, id: userID) else { throw AppError.unauthorized }
        return Me(user: user, workspaces: try workspaces(store, userID: userID))
    }

    static func workspaces(_ store: some MemberStore, userID: Int64) throws -> [WorkspaceRole] {
        try Memberships.list(store, userID: userID).map { WorkspaceRole(id: $0.workspaceID, name: $0.workspaceName, role: $0.role.rawValue) }
    }

    /// The user of an `Authorization: Bearer …` header value; 401 when missing, malformed, unknown or
    /// revoked, 401 `token_expired` when unused for longer than `tokenTTL` seconds (each use extends
    /// it) or older than its absolute lifetime.
    public static func user(_ store: some MemberStore, authorization: String?, tokenTTL: Int = Tokens.defaultTTL) throws -> (userID: Int64, token: String) {
        guard let header = authorization?.trimmingCharacters(in: .whitespaces), !header.isEmpty else {
            throw AppError(.unauthorized, "Send Authorization: Bearer <token>.")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw AppError(.unauthorized, "The Authorization header must be \"Bearer <token>\".")
        }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        switch try Tokens.check(store, token: token, ttl: tokenTTL) {
        case .valid(let userID):
            return (userID, token)
        case .expired:
            throw AppError(.tokenExpired, "The token expired; sign in again.")
        case .invalid:
            throw AppError(.unauthorized, "The token is invalid or was revoked.")
        }
    }

    /// The acting member: `X-Account-Id` must be a workspace id the user belongs to (403 otherwise).
    public static func actor(_ store: some MemberStore, userID: Int64, accountHeader: String?) throws -> StaffActor {
        guard let raw = accountHeader?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else {
            throw AppError(.missingAccount, "Send X-Account-Id: <workspace id>.")
        }
        let forbidden = AppError(.forbidden, "You are not a member of workspace \(raw.prefix(30)).")
        guard let workspaceID = Int64(raw), workspaceID > 0 else { throw forbidden }
        // Row-level security (sql/0021): from here on the session sees this workspace's rows only.
        guard let role = try store.enterWorkspace(userID: userID, workspaceID: workspaceID) else { throw forbidden }
        return StaffActor(userID: userID, workspaceID: workspaceID, role: role)
    }
}
