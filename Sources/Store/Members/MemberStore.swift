import Foundation
import Postgres

public struct User: Sendable, Equatable, Codable {
    public let id: Int64
    public let email: String
    public let name: String?

    public init(id: Int64, email: String, name: String?) {
        self.id = id
        self.email = email
        self.name = name
    }

    init(row: PGRow) throws {
        id = try row.decode(Int64.self, "id")
        email = try row.decode(String.self, "email")
        name = try row.decode(String?.self, "name")
    }
}

/// A user found by email at sign-in, with their stored password hash (nil: a token-only user).
public struct UserCredentials: Sendable, Equatable {
    public let user: User
    public let hash: String?
    public init(user: User, hash: String?) {
        self.user = user
        self.hash = hash
    }
}

public struct Membership: Sendable, Equatable, Codable {
    public let workspaceID: Int64
    public let workspaceName: String
    public let role: Role
    public init(workspaceID: Int64, workspaceName: String, role: Role) {
        self.workspaceID = workspaceID
        self.workspaceName = workspaceName
        self.role = role
    }
}

/// What the operator's `user create` does with an email that already has an account: never
/// something silent. `refuse` fails (409 `user_exists`); `keepPassword` adds the existing user to
/// the workspace as they are (name and password theirs); `replacePassword` sets the given hash.
public enum UserIfExists: Sendable { case refuse, keepPassword, replacePassword }

/// What adding a user to a workspace came to.
public enum UserAddition: Sendable, Equatable {
    case added(User)
    /// The workspace does not exist; nothing was written.
    case noWorkspace
    /// The email has an account and `ifExists` was `refuse`; nothing was written.
    case exists
}

/// A token about to be stored: only its hash, never the token.
public struct NewToken: Sendable, Equatable {
    public let hash: [UInt8]
    public let userID: Int64
    public let name: String
    /// Seconds until it expires unused (sliding), and at the latest (absolute).
    public let ttl: Int
    public let maxAge: Int
    public let userAgent: String?
    public let addressPrefix: String?
    public init(hash: [UInt8], userID: Int64, name: String, ttl: Int, maxAge: Int, userAgent: String?, addressPrefix: String?) {
        self.hash = hash
        self.userID = userID
        self.name = name
        self.ttl = ttl
        self.maxAge = maxAge
        self.userAgent = userAgent
        self.addressPrefix = addressPrefix
    }
}

/// A stored, unrevoked token: its user and whether it is before both its idle and absolute expiry.
public struct TokenState: Sendable, Equatable {
    public let userID: Int64
    public let live: Bool
    public init(userID: Int64, live: Bool) {
        self.userID = userID
        self.live = live
    }
}

/// One of the user's live sessions, as its owner sees it (never the token).
public struct TokenSession: Sendable, Encodable, Equatable {
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

    public init(id: Int64, createdAt: Date, lastUsedAt: Date?, expiresAt: Date, userAgent: String?, addressPrefix: String?, current: Bool) {
        self.id = id
        self.createdAt = createdAt
        self.lastUsedAt = lastUsedAt
        self.expiresAt = expiresAt
        self.userAgent = userAgent
        self.addressPrefix = addressPrefix
        self.current = current
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

/// A member of a workspace as the API lists them.
public struct MemberView: Sendable, Encodable, Equatable {
    public let userID: Int64
    public let email: String
    public let name: String?
    public let role: String
    public let createdAt: Date
    enum CodingKeys: String, CodingKey { case email, name, role, userID = "user_id", createdAt = "created_at" }
    public init(userID: Int64, email: String, name: String?, role: String, createdAt: Date) {
        self.userID = userID
        self.email = email
        self.name = name
        self.role = role
        self.createdAt = createdAt
    }

    /// A row of `PGMemberStore.memberSelect`.
    init(row r: PGRow) throws {
        self.init(userID: try r.decode(Int64.self, "id"), email: try r.decode(String.self, "email"), name: try r.decode(String?.self, "name"),
                  role: try r.decode(String.self, "role"), createdAt: try r.decode(Date.self, "created_at"))
    }
}

/// An invitation as its workspace's owners see it (no token: only its hash is stored).
public struct InvitationView: Sendable, Encodable, Equatable {
    public let id: Int64
    public let email: String
    public let name: String?
    public let role: String
    /// `pending`, or `expired` once past `expiresAt`.
    public let status: String
    public let invitedByUserID: Int64?
    public let createdAt: Date
    public let expiresAt: Date
    enum CodingKeys: String, CodingKey {
        case id, email, name, role, status, invitedByUserID = "invited_by_user_id", createdAt = "created_at", expiresAt = "expires_at"
    }
    public init(id: Int64, email: String, name: String?, role: String, status: String, invitedByUserID: Int64?, createdAt: Date, expiresAt: Date) {
        self.id = id
        self.email = email
        self.name = name
        self.role = role
        self.status = status
        self.invitedByUserID = invitedByUserID
        self.createdAt = createdAt
        self.expiresAt = expiresAt
    }

    /// A row of `PGMemberStore.invitationColumns`.
    init(row r: PGRow) throws {
        self.init(id: try r.decode(Int64.self, "id"), email: try r.decode(String.self, "email"), name: try r.decode(String?.self, "name"),
                  role: try r.decode(String.self, "role"), status: try r.decode(Bool.self, "expired") ? "expired" : "pending",
                  invitedByUserID: try r.decode(Int64?.self, "invited_by_user_id"), createdAt: try r.decode(Date.self, "created_at"),
                  expiresAt: try r.decode(Date.self, "expires_at"))
    }
}

/// An invitation about to be stored (only the token's hash).
public struct NewInvitation: Sendable, Equatable {
    public let workspaceID: Int64
    public let email: String
    public let name: String?
    public let role: Role
    public let tokenHash: [UInt8]
    public let invitedBy: Int64
    public let expiresAt: Date
    public init(workspaceID: Int64, email: String, name: String?, role: Role, tokenHash: [UInt8], invitedBy: Int64, expiresAt: Date) {
        self.workspaceID = workspaceID
        self.email = email
        self.name = name
        self.role = role
        self.tokenHash = tokenHash
        self.invitedBy = invitedBy
        self.expiresAt = expiresAt
    }
}

/// What inviting came to.
public enum InvitationOutcome: Sendable, Equatable {
    case created(InvitationView)
    /// The email is a member of the workspace already; nothing was written.
    case alreadyMember
    /// Another open invitation of the email was stored at the same moment (`invitations_one_open`).
    case justInvited
}

/// An open invitation (not accepted, not withdrawn, not expired) found by its token's hash.
public struct OpenInvitation: Sendable, Equatable {
    public let id: Int64
    public let workspaceID: Int64
    public let workspaceName: String
    public let email: String
    public let name: String?
    public let role: Role
    public let expiresAt: Date
    /// No account with a password has this email yet.
    public let needsPassword: Bool
    public init(id: Int64, workspaceID: Int64, workspaceName: String, email: String, name: String?, role: Role, expiresAt: Date, needsPassword: Bool) {
        self.id = id
        self.workspaceID = workspaceID
        self.workspaceName = workspaceName
        self.email = email
        self.name = name
        self.role = role
        self.expiresAt = expiresAt
        self.needsPassword = needsPassword
    }
}

/// Who accepts an invitation: a user signed in with their password, or a new account.
public enum Invitee: Sendable, Equatable {
    case existing(User)
    case new(passwordHash: String, name: String?)
}

/// What accepting came to; only `accepted` wrote anything.
public enum InvitationAcceptance: Sendable, Equatable {
    case accepted(User)
    /// A new account's email got an account meanwhile.
    case accountTaken
    /// The invitation was used, withdrawn or expired meanwhile.
    case gone
}

/// Users, memberships, API tokens (sessions), invitations and the failed sign-in counter.
public protocol MemberStore: LoginThrottleStore {
    // Users
    func user(id: Int64) throws -> User?
    /// By the email's key (`Users.emailKey`), compared case-insensitively as the unique index does.
    func user(emailKey: String) throws -> User?
    func credentials(emailKey: String) throws -> UserCredentials?
    /// Creates the user (or reuses the one with this email: the name and hash given replace theirs,
    /// nil keeps them) and makes it a member with `role` (an existing membership takes it), in one
    /// transaction; nil when the workspace does not exist.
    func addMember(email: String, name: String?, passwordHash: String?, workspaceID: Int64, role: Role) throws -> User?
    /// The operator's create: a new user, or the existing one as `ifExists` says, made a member with
    /// `role`; one transaction.
    func addUser(email: String, name: String?, passwordHash: String?, workspaceID: Int64, role: Role,
                 ifExists: UserIfExists) throws -> UserAddition
    /// Replaces the password hash (the database then revokes every token of the user) and stores
    /// `token` when given, in one transaction. Returns how many tokens were live before; nil when
    /// there is no such user.
    func setPassword(userID: Int64, passwordHash: String, token: NewToken?) throws -> Int?
    /// Replaces the hash only while it is still `old`, without revoking the user's tokens.
    func rehash(userID: Int64, old: String, new: String) throws -> Bool

    // Memberships
    func role(userID: Int64, workspaceID: Int64) throws -> Role?
    /// The user's role in the workspace, looked up as the session enters it (row-level security:
    /// from here on the session sees that workspace's rows only); nil, and no workspace, when the
    /// user is not a member.
    func enterWorkspace(userID: Int64, workspaceID: Int64) throws -> Role?
    /// Every workspace the user belongs to, by workspace id.
    func memberships(userID: Int64) throws -> [Membership]
    func members(workspaceID: Int64) throws -> [MemberView]
    func member(workspaceID: Int64, userID: Int64) throws -> MemberView?
    /// Sets the member's role with its audit entry; nil when not a member. 409 `last_owner` when the
    /// workspace would keep no owner.
    func setRole(workspaceID: Int64, userID: Int64, role: Role, audit: AuditEntry) throws -> MemberView?
    /// Removes the membership with its audit entry; false when not a member. 409 `last_owner`.
    func removeMember(workspaceID: Int64, userID: Int64, audit: AuditEntry) throws -> Bool

    // Tokens
    func createToken(_ token: NewToken) throws
    /// The unrevoked token with this hash; a live one is used (its expiry slides, at most once a minute).
    func checkToken(hash: [UInt8], ttl: Int) throws -> TokenState?
    /// Revokes every live token of the user; returns how many.
    func revokeTokens(userID: Int64) throws -> Int
    func revokeToken(hash: [UInt8]) throws -> Bool
    /// The user's live sessions, newest first; `current` marks the one with `currentHash`.
    func sessions(userID: Int64, currentHash: [UInt8]) throws -> [TokenSession]
    /// Ends one of the user's own live sessions; false when there is none with this id.
    func revokeSession(userID: Int64, sessionID: Int64) throws -> Bool

    // Invitations
    /// Withdraws the email's open invitation to the workspace and stores the new one, with the entry
    /// `audit` makes of its id, in one transaction.
    func invite(_ invitation: NewInvitation, audit: (Int64) -> AuditEntry) throws -> InvitationOutcome
    /// The workspace's open invitations (expired ones say so), newest first.
    func invitations(workspaceID: Int64) throws -> [InvitationView]
    /// Withdraws an open invitation with its audit entry; false when there is none with this id.
    func revokeInvitation(workspaceID: Int64, id: Int64, audit: AuditEntry) throws -> Bool
    /// The open invitation of this token hash, the session entering its workspace (row-level security).
    func openInvitation(tokenHash: [UInt8]) throws -> OpenInvitation?
    /// Consumes the invitation, creates the new account when `invitee` is one, and the membership,
    /// with the entry `audit` makes of the user's id, in one transaction.
    func accept(_ invitation: OpenInvitation, invitee: Invitee, audit: (Int64) -> AuditEntry) throws -> InvitationAcceptance
}

/// The failed sign-in counter (`login_throttle`): one row per (scope, key); scopes `account`,
/// `address`, `pair`.
public protocol LoginThrottleStore {
    /// Seconds the address stays locked, nil when it is not locked now.
    func addressLockedFor(_ address: String) throws -> Int?
    /// Seconds the account stays locked when `pair` (this address against it) failed in the last
    /// day; nil otherwise.
    func accountLockedFor(account: String, pair: String) throws -> Int?
    /// Counts one failure of the key in a window of `window` seconds (a new window once it passed;
    /// past lockouts forgotten once a window passed since the last); returns the count and lockouts.
    func countFailure(scope: String, key: String, window: Int) throws -> (failures: Int, lockouts: Int)
    /// Locks the key for `seconds`, one more lockout, its count starting afresh.
    func lock(scope: String, key: String, seconds: Int) throws
    /// Forgets keys quiet for a day.
    func forgetQuietKeys() throws
    /// The account's record and every pair against it go.
    func clear(account: String) throws
}
