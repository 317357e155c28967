import Foundation
import Store

/// Users, memberships, tokens, invitations and the sign-in counter in memory (see MemoryAuditStore),
/// with the schema's rules the use cases rely on: one user per email (case-insensitive), a workspace
/// keeps its last owner (`memberships_last_owner`), a password change revokes the user's tokens
/// (migration 0005's trigger) and a rehash does not.
public final class MemoryMemberStore: MemberStore, @unchecked Sendable {
    public struct Token {
        public let id: Int64
        public let hash: [UInt8]
        public let userID: Int64
        public let name: String
        public let createdAt: Date
        public var lastUsedAt: Date?
        public var expiresAt: Date
        public var absoluteExpiresAt: Date
        public var revokedAt: Date?
        public let userAgent: String?
        public let addressPrefix: String?
    }

    struct Member {
        let userID: Int64
        let workspaceID: Int64
        var role: Role
        let createdAt: Date
    }

    public struct Invitation {
        public let id: Int64
        public let workspaceID: Int64
        public let email: String
        public let name: String?
        public let role: Role
        public let tokenHash: [UInt8]
        public let invitedBy: Int64
        public let createdAt: Date
        public let expiresAt: Date
        public var acceptedAt: Date?
        public var acceptedBy: Int64?
        public var revokedAt: Date?
    }

    struct Throttle {
        var failures: Int
        var windowStart: Date
        var lockouts: Int
        var lockedUntil: Date?
        var lastFailureAt: Date?
    }

    public let workspaces: MemoryWorkspaceStore
    public let audit: MemoryAuditStore
    /// The store's clock (tests move it to expire tokens and locks).
    public var now = Date()
    public private(set) var users: [User] = []
    public private(set) var passwordHashes: [Int64: String] = [:]
    var memberships: [Member] = []
    public private(set) var tokens: [Token] = []
    public private(set) var invitationRows: [Invitation] = []
    var throttle: [String: Throttle] = [:]
    /// The workspace the session entered last (row-level security), as PGConnection.workspace.
    public private(set) var enteredWorkspace: Int64?

    public init(workspaces: MemoryWorkspaceStore = MemoryWorkspaceStore(), audit: MemoryAuditStore = MemoryAuditStore()) {
        self.workspaces = workspaces
        self.audit = audit
    }

    func index(emailKey: String) -> Int? { users.firstIndex { $0.email.lowercased() == emailKey.lowercased() } }

    // MARK: users

    public func user(id: Int64) throws -> User? { users.first { $0.id == id } }

    public func user(emailKey: String) throws -> User? { index(emailKey: emailKey).map { users[$0] } }

    public func credentials(emailKey: String) throws -> UserCredentials? {
        guard let i = index(emailKey: emailKey) else { return nil }
        return UserCredentials(user: users[i], hash: passwordHashes[users[i].id])
    }

    func newUser(email: String, name: String?, passwordHash: String?) -> User {
        let user = User(id: Int64(users.count + 1), email: email, name: name)
        users.append(user)
        passwordHashes[user.id] = passwordHash
        return user
    }

    func join(_ userID: Int64, workspaceID: Int64, role: Role) throws {
        if let i = memberships.firstIndex(where: { $0.userID == userID && $0.workspaceID == workspaceID }) {
            try change(i, to: role)
        } else {
            memberships.append(Member(userID: userID, workspaceID: workspaceID, role: role, createdAt: now))
        }
    }

    public func addMember(email: String, name: String?, passwordHash: String?, workspaceID: Int64, role: Role) throws -> User? {
        guard try workspaces.get(id: workspaceID) != nil else { return nil }
        let user: User
        if let i = index(emailKey: email) {
            user = User(id: users[i].id, email: users[i].email, name: name ?? users[i].name)
            users[i] = user
            if let passwordHash { passwordHashes[user.id] = passwordHash }
        } else {
            user = newUser(email: email, name: name, passwordHash: passwordHash)
        }
        try join(user.id, workspaceID: workspaceID, role: role)
        return user
    }

    public func addUser(email: String, name: String?, passwordHash: String?, workspaceID: Int64, role: Role,
                        ifExists: UserIfExists) throws -> UserAddition {
        guard try workspaces.get(id: workspaceID) != nil else { return .noWorkspace }
        var user: User
        if let i = index(emailKey: email) {
            switch ifExists {
            case .refuse: return .exists
            case .keepPassword: user = users[i]
            case .replacePassword:
                user = User(id: users[i].id, email: users[i].email, name: name ?? users[i].name)
                users[i] = user
                passwordHashes[user.id] = passwordHash
                revokeAll(user.id)
            }
        } else {
            user = newUser(email: email, name: name, passwordHash: passwordHash)
        }
        try join(user.id, workspaceID: workspaceID, role: role)
        return .added(user)
    }

    func revokeAll(_ userID: Int64) {
        for i in tokens.indices where tokens[i].userID == userID && tokens[i].revokedAt == nil { tokens[i].revokedAt = now }
    }

    public func setPassword(userID: Int64, passwordHash: String, token: NewToken?) throws -> Int? {
        guard users.contains(where: { $0.id == userID }) else { return nil }
        let live = tokens.filter { $0.userID == userID && $0.revokedAt == nil }.count
        passwordHashes[userID] = passwordHash
        revokeAll(userID)
        if let token { try createToken(token) }
        return live
    }

    public func rehash(userID: Int64, old: String, new: String) throws -> Bool {
        guard passwordHashes[userID] == old else { return false }
        passwordHashes[userID] = new
        return true
    }

    // MARK: memberships

    public func role(userID: Int64, workspaceID: Int64) throws -> Role? {
        memberships.first { $0.userID == userID && $0.workspaceID == workspaceID }?.role
    }

    public func enterWorkspace(userID: Int64, workspaceID: Int64) throws -> Role? {
        let role = try role(userID: userID, workspaceID: workspaceID)
        enteredWorkspace = role == nil ? nil : workspaceID
        return role
    }

    public func memberships(userID: Int64) throws -> [Membership] {
        memberships.filter { $0.userID == userID }.sorted { $0.workspaceID < $1.workspaceID }.map { m in
            Membership(workspaceID: m.workspaceID, workspaceName: (try? workspaces.get(id: m.workspaceID))??.name ?? "", role: m.role)
        }
    }

    func view(_ m: Member) -> MemberView? {
        guard let user = users.first(where: { $0.id == m.userID }) else { return nil }
        return MemberView(userID: user.id, email: user.email, name: user.name, role: m.role.rawValue, createdAt: m.createdAt)
    }

    public func members(workspaceID: Int64) throws -> [MemberView] {
        memberships.filter { $0.workspaceID == workspaceID }.compactMap(view)
    }

    public func member(workspaceID: Int64, userID: Int64) throws -> MemberView? {
        memberships.first { $0.workspaceID == workspaceID && $0.userID == userID }.flatMap(view)
    }

    static let lastOwner = AppError(.lastOwner, "A workspace keeps at least one owner: make another member owner first.")

    /// The schema's `memberships_keep_an_owner`: an owner demoted or removed leaves another.
    func keepsAnOwner(without i: Int) -> Bool {
        let m = memberships[i]
        return m.role != .owner || memberships.indices.contains { $0 != i && memberships[$0].workspaceID == m.workspaceID && memberships[$0].role == .owner }
    }

    func change(_ i: Int, to role: Role) throws {
        guard role == .owner || keepsAnOwner(without: i) else { throw Self.lastOwner }
        memberships[i].role = role
    }

    public func setRole(workspaceID: Int64, userID: Int64, role: Role, audit entry: AuditEntry) throws -> MemberView? {
        guard let i = memberships.firstIndex(where: { $0.workspaceID == workspaceID && $0.userID == userID }) else { return nil }
        try change(i, to: role)
        try audit.record(entry)
        return view(memberships[i])
    }

    public func removeMember(workspaceID: Int64, userID: Int64, audit entry: AuditEntry) throws -> Bool {
        guard let i = memberships.firstIndex(where: { $0.workspaceID == workspaceID && $0.userID == userID }) else { return false }
        guard keepsAnOwner(without: i) else { throw Self.lastOwner }
        memberships.remove(at: i)
        try audit.record(entry)
        return true
    }

    // MARK: tokens

    public func createToken(_ t: NewToken) throws {
        tokens.append(Token(id: Int64(tokens.count + 1), hash: t.hash, userID: t.userID, name: t.name, createdAt: now, lastUsedAt: nil,
                            expiresAt: now.addingTimeInterval(Double(min(t.ttl, t.maxAge))),
                            absoluteExpiresAt: now.addingTimeInterval(Double(t.maxAge)), revokedAt: nil,
                            userAgent: t.userAgent, addressPrefix: t.addressPrefix))
    }

    public func checkToken(hash: [UInt8], ttl: Int) throws -> TokenState? {
        guard let i = tokens.firstIndex(where: { $0.hash == hash && $0.revokedAt == nil }) else { return nil }
        let t = tokens[i]
        let live = t.expiresAt > now && t.absoluteExpiresAt > now
        if live, t.lastUsedAt.map({ $0 < now.addingTimeInterval(-60) }) ?? true {
            tokens[i].lastUsedAt = now
            tokens[i].expiresAt = min(now.addingTimeInterval(Double(ttl)), t.absoluteExpiresAt)
        }
        return TokenState(userID: t.userID, live: live)
    }

    public func revokeTokens(userID: Int64) throws -> Int {
        let live = tokens.filter { $0.userID == userID && $0.revokedAt == nil }.count
        revokeAll(userID)
        return live
    }

    public func revokeToken(hash: [UInt8]) throws -> Bool {
        guard let i = tokens.firstIndex(where: { $0.hash == hash && $0.revokedAt == nil }) else { return false }
        tokens[i].revokedAt = now
        return true
    }

    public func sessions(userID: Int64, currentHash: [UInt8]) throws -> [TokenSession] {
        tokens.filter { $0.userID == userID && $0.revokedAt == nil && $0.expiresAt > now && $0.absoluteExpiresAt > now }
            .sorted { ($0.createdAt, $0.id) > ($1.createdAt, $1.id) }
            .prefix(200)
            .map { TokenSession(id: $0.id, createdAt: $0.createdAt, lastUsedAt: $0.lastUsedAt, expiresAt: min($0.expiresAt, $0.absoluteExpiresAt),
                                userAgent: $0.userAgent, addressPrefix: $0.addressPrefix, current: $0.hash == currentHash) }
    }

    public func revokeSession(userID: Int64, sessionID: Int64) throws -> Bool {
        guard let i = tokens.firstIndex(where: { $0.id == sessionID && $0.userID == userID && $0.revokedAt == nil }) else { return false }
        tokens[i].revokedAt = now
        return true
    }

    // MARK: invitations

    func view(_ i: Invitation) -> InvitationView {
        InvitationView(id: i.id, email: i.email, name: i.name, role: i.role.rawValue, status: i.expiresAt <= now ? "expired" : "pending",
                       invitedByUserID: i.invitedBy, createdAt: i.createdAt, expiresAt: i.expiresAt)
    }

    public func invite(_ new: NewInvitation, audit entry: (Int64) -> AuditEntry) throws -> InvitationOutcome {
        let isMember = memberships.contains { m in
            m.workspaceID == new.workspaceID && users.contains { $0.id == m.userID && $0.email.lowercased() == new.email.lowercased() }
        }
        if isMember { return .alreadyMember }
        for i in invitationRows.indices where invitationRows[i].workspaceID == new.workspaceID && invitationRows[i].email == new.email
            && invitationRows[i].acceptedAt == nil && invitationRows[i].revokedAt == nil {
            invitationRows[i].revokedAt = now
        }
        let row = Invitation(id: Int64(invitationRows.count + 1), workspaceID: new.workspaceID, email: new.email, name: new.name, role: new.role,
                             tokenHash: new.tokenHash, invitedBy: new.invitedBy, createdAt: now, expiresAt: new.expiresAt)
        invitationRows.append(row)
        try audit.record(entry(row.id))
        return .created(view(row))
    }

    public func invitations(workspaceID: Int64) throws -> [InvitationView] {
        invitationRows.filter { $0.workspaceID == workspaceID && $0.acceptedAt == nil && $0.revokedAt == nil }.reversed().map(view)
    }

    public func revokeInvitation(workspaceID: Int64, id: Int64, audit entry: AuditEntry) throws -> Bool {
        guard let i = invitationRows.firstIndex(where: { $0.workspaceID == workspaceID && $0.id == id && $0.acceptedAt == nil && $0.revokedAt == nil }) else {
            return false
        }
        invitationRows[i].revokedAt = now
        try audit.record(entry)
        return true
    }

    func isOpen(_ i: Invitation) -> Bool { i.acceptedAt == nil && i.revokedAt == nil && i.expiresAt > now }

    public func openInvitation(tokenHash: [UInt8]) throws -> OpenInvitation? {
        guard let i = invitationRows.first(where: { $0.tokenHash == tokenHash && isOpen($0) }) else { return nil }
        enteredWorkspace = i.workspaceID
        let hasPassword = index(emailKey: i.email).map { passwordHashes[users[$0].id] != nil } ?? false
        return OpenInvitation(id: i.id, workspaceID: i.workspaceID, workspaceName: (try workspaces.get(id: i.workspaceID))?.name ?? "",
                              email: i.email, name: i.name, role: i.role, expiresAt: i.expiresAt, needsPassword: !hasPassword)
    }

    public func accept(_ invitation: OpenInvitation, invitee: Invitee, audit entry: (Int64) -> AuditEntry) throws -> InvitationAcceptance {
        guard let row = invitationRows.firstIndex(where: { $0.id == invitation.id && isOpen($0) }) else { return .gone }
        let user: User
        switch invitee {
        case .existing(let existing): user = existing
        case .new(let hash, let name):
            guard index(emailKey: invitation.email) == nil else { return .accountTaken }
            user = newUser(email: invitation.email, name: name, passwordHash: hash)
        }
        invitationRows[row].acceptedAt = now
        invitationRows[row].acceptedBy = user.id
        if !memberships.contains(where: { $0.userID == user.id && $0.workspaceID == invitation.workspaceID }) {
            memberships.append(Member(userID: user.id, workspaceID: invitation.workspaceID, role: invitation.role, createdAt: now))
        }
        try audit.record(entry(user.id))
        return .accepted(user)
    }

    // MARK: the sign-in counter

    func seconds(until date: Date?) -> Int? {
        guard let date, date > now else { return nil }
        return Int(date.timeIntervalSince(now).rounded(.up))
    }

    public func addressLockedFor(_ address: String) throws -> Int? { seconds(until: throttle["address \(address)"]?.lockedUntil) }

    public func accountLockedFor(account: String, pair: String) throws -> Int? {
        guard let failed = throttle["pair \(pair)"]?.lastFailureAt, failed > now.addingTimeInterval(-86_400) else { return nil }
        return seconds(until: throttle["account \(account)"]?.lockedUntil)
    }

    public func countFailure(scope: String, key: String, window: Int) throws -> (failures: Int, lockouts: Int) {
        let windowStart = now.addingTimeInterval(-Double(window))
        var row = throttle["\(scope) \(key)"] ?? Throttle(failures: 0, windowStart: now, lockouts: 0, lockedUntil: nil, lastFailureAt: nil)
        if row.windowStart < windowStart {
            row.failures = 1
            row.windowStart = now
        } else {
            row.failures += 1
        }
        if let locked = row.lockedUntil, locked < windowStart { row.lockouts = 0 }
        row.lastFailureAt = now
        throttle["\(scope) \(key)"] = row
        return (row.failures, row.lockouts)
    }

    public func lock(scope: String, key: String, seconds: Int) throws {
        guard var row = throttle["\(scope) \(key)"] else { return }
        row.lockedUntil = now.addingTimeInterval(Double(seconds))
        row.lockouts += 1
        row.failures = 0
        row.windowStart = now
        throttle["\(scope) \(key)"] = row
    }

    public func forgetQuietKeys() throws {
        let dayAgo = now.addingTimeInterval(-86_400)
        throttle = throttle.filter { !($0.value.windowStart < dayAgo && ($0.value.lockedUntil.map { $0 < dayAgo } ?? true)) }
    }

    public func clear(account: String) throws {
        throttle = throttle.filter { $0.key != "account \(account)" && !$0.key.hasPrefix("pair \(account) ") }
    }
}
