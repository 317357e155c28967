import Foundation
import Postgres

public struct PGMemberStore: MemberStore {
    let conn: PGConnection
    public init(_ conn: PGConnection) { self.conn = conn }

    static let userColumns: SQLFragment = "id, email, name"

    // MARK: users

    public func user(id: Int64) throws -> User? {
        try conn.query("SELECT \(unescaped: Self.userColumns) FROM users WHERE id = \(id)").first.map(User.init(row:))
    }

    public func user(emailKey: String) throws -> User? {
        try conn.query("SELECT \(unescaped: Self.userColumns) FROM users WHERE lower(email) = lower(\(emailKey))")
            .first.map(User.init(row:))
    }

    public func credentials(emailKey: String) throws -> UserCredentials? {
        guard let row = try conn.query("""
            SELECT \(unescaped: Self.userColumns), password_hash FROM users WHERE lower(email) = lower(\(emailKey))
            """).first else { return nil }
        return UserCredentials(user: try User(row: row), hash: try row.decode(String?.self, "password_hash"))
    }

    func workspaceExists(_ id: Int64) throws -> Bool {
        try !conn.query("SELECT 1 FROM workspaces WHERE id = \(id)").isEmpty
    }

    func join(_ user: User, workspaceID: Int64, role: Role) throws {
        try conn.execute("""
            INSERT INTO memberships (user_id, workspace_id, role) VALUES (\(user.id), \(workspaceID), \(role.rawValue))
            ON CONFLICT (user_id, workspace_id) DO UPDATE SET role = EXCLUDED.role
            """)
    }

    public func addMember(email: String, name: String?, passwordHash: String?, workspaceID: Int64, role: Role) throws -> User? {
        try conn.transaction {
            guard try workspaceExists(workspaceID) else { return nil }
            // Insert or reuse by the case-insensitive unique index; concurrent creates meet on it.
            let rows = try conn.query("""
                INSERT INTO users (email, name, password_hash) VALUES (\(email), \(name), \(passwordHash))
                ON CONFLICT (lower(email)) DO UPDATE
                   SET name = COALESCE(EXCLUDED.name, users.name),
                       password_hash = COALESCE(EXCLUDED.password_hash, users.password_hash)
                RETURNING \(unescaped: Self.userColumns)
                """)
            let user = try User(row: rows.one())
            try join(user, workspaceID: workspaceID, role: role)
            return user
        }
    }

    public func addUser(email: String, name: String?, passwordHash: String?, workspaceID: Int64, role: Role,
                        ifExists: UserIfExists) throws -> UserAddition {
        try conn.transaction {
            guard try workspaceExists(workspaceID) else { return .noWorkspace }
            let user: User
            if let row = try conn.query("""
                INSERT INTO users (email, name, password_hash) VALUES (\(email), \(name), \(passwordHash))
                ON CONFLICT (lower(email)) DO NOTHING
                RETURNING \(unescaped: Self.userColumns)
                """).first {
                user = try User(row: row)
            } else {
                switch ifExists {
                case .refuse:
                    return .exists
                case .keepPassword:
                    user = try User(row: conn.query("SELECT \(unescaped: Self.userColumns) FROM users WHERE lower(email) = lower(\(email))").one())
                case .replacePassword:
                    // The trigger of migration 0005 revokes every token of the user.
                    user = try User(row: conn.query("""
                        UPDATE users SET password_hash = \(passwordHash), name = COALESCE(\(name), name)
                         WHERE lower(email) = lower(\(email)) RETURNING \(unescaped: Self.userColumns)
                        """).one())
                }
            }
            try join(user, workspaceID: workspaceID, role: role)
            return .added(user)
        }
    }

    public func setPassword(userID: Int64, passwordHash: String, token: NewToken?) throws -> Int? {
        try conn.transaction {
            let live = try conn.query("SELECT count(*) AS n FROM api_tokens WHERE user_id = \(userID) AND revoked_at IS NULL").first?.decode(Int?.self, "n") ?? 0
            // The trigger of migration 0005 revokes every token of the user.
            guard try conn.execute("UPDATE users SET password_hash = \(passwordHash) WHERE id = \(userID)") == 1 else { return nil }
            if let token { try createToken(token) }
            return live
        }
    }

    /// Migration 0019 lets the trigger of 0005 skip this one update (the password did not change).
    public func rehash(userID: Int64, old: String, new: String) throws -> Bool {
        try conn.transaction {
            try conn.execute("SELECT set_config('medsync.password_rehash', 'on', true)")
            return try conn.execute("UPDATE users SET password_hash = \(new) WHERE id = \(userID) AND password_hash = \(old)") == 1
        }
    }

    // MARK: memberships

    public func role(userID: Int64, workspaceID: Int64) throws -> Role? {
        try conn.query("SELECT role FROM memberships WHERE user_id = \(userID) AND workspace_id = \(workspaceID)").first?.decode(String?.self, "role").flatMap(Role.init(rawValue:))
    }

    public func enterWorkspace(userID: Int64, workspaceID: Int64) throws -> Role? {
        // Row-level security (sql/0021): from here on the session sees this workspace's rows only;
        // the setting goes with the membership lookup, in its round trip.
        conn.workspace = .id(workspaceID)
        guard let role = try role(userID: userID, workspaceID: workspaceID) else {
            conn.workspace = .none
            return nil
        }
        return role
    }

    public func memberships(userID: Int64) throws -> [Membership] {
        try conn.query("""
            SELECT workspace_id, name, role FROM medsync_user_workspaces(\(userID))
            """).compactMap { row in
            guard let id = try row.decode(Int64?.self, "workspace_id"), let role = try row.decode(String?.self, "role").flatMap(Role.init(rawValue:)) else { return nil }
            return Membership(workspaceID: id, workspaceName: try row.decode(String?.self, "name") ?? "", role: role)
        }
    }

    static let memberSelect: SQLFragment = """
        SELECT u.id, u.email, u.name, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id
        """

    public func members(workspaceID: Int64) throws -> [MemberView] {
        try conn.query("\(unescaped: Self.memberSelect) WHERE m.workspace_id = \(workspaceID) ORDER BY m.created_at, u.id").map(MemberView.init(row:))
    }

    public func member(workspaceID: Int64, userID: Int64) throws -> MemberView? {
        try conn.query("\(unescaped: Self.memberSelect) WHERE m.workspace_id = \(workspaceID) AND m.user_id = \(userID)").first.map(MemberView.init(row:))
    }

    static func lastOwner(_ e: PGError) -> AppError? {
        e.constraint == "memberships_last_owner"
            ? AppError(.lastOwner, "A workspace keeps at least one owner: make another member owner first.") : nil
    }

    public func setRole(workspaceID: Int64, userID: Int64, role: Role, audit: AuditEntry) throws -> MemberView? {
        do {
            return try conn.transaction {
                guard try conn.execute("UPDATE memberships SET role = \(role.rawValue) WHERE workspace_id = \(workspaceID) AND user_id = \(userID)") == 1 else {
                    return nil
                }
                try conn.recordAudit(audit)
                return try member(workspaceID: workspaceID, userID: userID)
            }
        } catch let e as PGError {
            throw Self.lastOwner(e) ?? e
        }
    }

    public func removeMember(workspaceID: Int64, userID: Int64, audit: AuditEntry) throws -> Bool {
        do {
            return try conn.transaction {
                guard try conn.execute("DELETE FROM memberships WHERE workspace_id = \(workspaceID) AND user_id = \(userID)") == 1 else {
                    return false
                }
                try conn.recordAudit(audit)
                return true
            }
        } catch let e as PGError {
            throw Self.lastOwner(e) ?? e
        }
    }

    // MARK: tokens

    public func createToken(_ t: NewToken) throws {
        try conn.execute("""
            INSERT INTO api_tokens (token_hash, user_id, name, expires_at, absolute_expires_at, user_agent, address_prefix)
            VALUES (\(PGBytea(t.hash)), \(t.userID), \(t.name), now() + make_interval(secs => \(min(t.ttl, t.maxAge))),
                    now() + make_interval(secs => \(t.maxAge)), \(t.userAgent), \(t.addressPrefix))
            """)
    }

    /// `last_used_at` and `expires_at` (now + `ttl`, never past the absolute expiry) are written at
    /// most once a minute per token, so a busy client does not write on every request.
    public func checkToken(hash: [UInt8], ttl: Int) throws -> TokenState? {
        let rows = try conn.query("""
            WITH t AS (
                SELECT id, user_id, last_used_at, expires_at > now() AND absolute_expires_at > now() AS live
                  FROM api_tokens WHERE token_hash = \(PGBytea(hash)) AND revoked_at IS NULL
            ), touch AS (
                UPDATE api_tokens a SET last_used_at = now(), expires_at = least(now() + make_interval(secs => \(ttl)), a.absolute_expires_at) FROM t
                 WHERE a.id = t.id AND t.live AND (t.last_used_at IS NULL OR t.last_used_at < now() - interval '1 minute')
            )
            SELECT user_id, live FROM t
            """)
        guard let row = rows.first else { return nil }
        guard let userID = try row.decode(Int64?.self, "user_id"), let live = try row.decode(Bool?.self, "live") else {
            throw AppError(.badTokenRow, "A stored token could not be read.")
        }
        return TokenState(userID: userID, live: live)
    }

    public func revokeTokens(userID: Int64) throws -> Int {
        try conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE user_id = \(userID) AND revoked_at IS NULL")
    }

    public func revokeToken(hash: [UInt8]) throws -> Bool {
        try conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE token_hash = \(PGBytea(hash)) AND revoked_at IS NULL") == 1
    }

    public func sessions(userID: Int64, currentHash: [UInt8]) throws -> [TokenSession] {
        try conn.query("""
            SELECT id, created_at, last_used_at, least(expires_at, absolute_expires_at) AS expires_at, user_agent, address_prefix,
                   token_hash = \(PGBytea(currentHash)) AS current
              FROM api_tokens
             WHERE user_id = \(userID) AND revoked_at IS NULL AND expires_at > now() AND absolute_expires_at > now()
             ORDER BY created_at DESC, id DESC LIMIT 200
            """).map { row in
            TokenSession(id: try row.decode(Int64.self, "id"), createdAt: try row.decode(Date.self, "created_at"),
                         lastUsedAt: try row.decode(Date?.self, "last_used_at"), expiresAt: try row.decode(Date.self, "expires_at"),
                         userAgent: try row.decode(String?.self, "user_agent"), addressPrefix: try row.decode(String?.self, "address_prefix"),
                         current: try row.decode(Bool?.self, "current") ?? false)
        }
    }

    public func revokeSession(userID: Int64, sessionID: Int64) throws -> Bool {
        try conn.execute("UPDATE api_tokens SET revoked_at = now() WHERE id = \(sessionID) AND user_id = \(userID) AND revoked_at IS NULL") == 1
    }

    // MARK: invitations

    static let invitationColumns: SQLFragment = """
        id, email, name, role, invited_by_user_id, created_at, expires_at, expires_at <= now() AS expired
        """

    public func invite(_ i: NewInvitation, audit: (Int64) -> AuditEntry) throws -> InvitationOutcome {
        do {
            return try conn.transaction {
                guard try conn.query("""
                    SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id
                     WHERE m.workspace_id = \(i.workspaceID) AND lower(u.email) = lower(\(i.email))
                    """).isEmpty else {
                    return .alreadyMember
                }
                try conn.execute("""
                    UPDATE invitations SET revoked_at = now()
                     WHERE workspace_id = \(i.workspaceID) AND email = \(i.email) AND accepted_at IS NULL AND revoked_at IS NULL
                    """)
                let row = try conn.query("""
                    INSERT INTO invitations (workspace_id, email, name, role, token_hash, invited_by_user_id, expires_at)
                    VALUES (\(i.workspaceID), \(i.email), \(i.name), \(i.role.rawValue), \(PGBytea(i.tokenHash)),
                            \(i.invitedBy), \(i.expiresAt))
                    RETURNING \(unescaped: Self.invitationColumns)
                    """).one()
                let view = try InvitationView(row: row)
                try conn.recordAudit(audit(view.id))
                return .created(view)
            }
        } catch let e as PGError where e.constraint == "invitations_one_open" {
            // Two owners inviting the same email at the same moment: one wins.
            return .justInvited
        }
    }

    public func invitations(workspaceID: Int64) throws -> [InvitationView] {
        try conn.query("""
            SELECT \(unescaped: Self.invitationColumns) FROM invitations
             WHERE workspace_id = \(workspaceID) AND accepted_at IS NULL AND revoked_at IS NULL
             ORDER BY created_at DESC, id DESC LIMIT 500
            """).map(InvitationView.init(row:))
    }

    public func revokeInvitation(workspaceID: Int64, id: Int64, audit: AuditEntry) throws -> Bool {
        try conn.transaction {
            guard try conn.execute("""
                UPDATE invitations SET revoked_at = now()
                 WHERE workspace_id = \(workspaceID) AND id = \(id) AND accepted_at IS NULL AND revoked_at IS NULL
                """) == 1 else {
                return false
            }
            try conn.recordAudit(audit)
            return true
        }
    }

    public func openInvitation(tokenHash: [UInt8]) throws -> OpenInvitation? {
        // Nobody is signed in yet: the invitation's own workspace, found by its token's hash through
        // one narrow function (row-level security, sql/0021), is the only one this session sees.
        conn.workspace = .invitation(tokenHash: tokenHash)
        guard let r = try conn.query("""
            SELECT i.id, i.workspace_id, i.email, i.name, i.role, i.expires_at, w.name AS workspace_name,
                   NOT EXISTS (SELECT 1 FROM users u WHERE lower(u.email) = lower(i.email) AND u.password_hash IS NOT NULL) AS needs_password
              FROM invitations i JOIN workspaces w ON w.id = i.workspace_id
             WHERE i.token_hash = \(PGBytea(tokenHash)) AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > now()
            """).first, let role = Role(rawValue: try r.decode(String.self, "role")) else { return nil }
        return OpenInvitation(id: try r.decode(Int64.self, "id"), workspaceID: try r.decode(Int64.self, "workspace_id"),
                              workspaceName: try r.decode(String.self, "workspace_name"), email: try r.decode(String.self, "email"),
                              name: try r.decode(String?.self, "name"), role: role, expiresAt: try r.decode(Date.self, "expires_at"),
                              needsPassword: try r.decode(Bool.self, "needs_password"))
    }

    /// Why an acceptance was rolled back.
    private enum Refused: Error { case accountTaken, gone }

    public func accept(_ invitation: OpenInvitation, invitee: Invitee, audit: (Int64) -> AuditEntry) throws -> InvitationAcceptance {
        do {
            return .accepted(try conn.transaction {
                let user: User
                switch invitee {
                case .existing(let existing):
                    user = existing
                case .new(let hash, let name):
                    guard let row = try conn.query("""
                        INSERT INTO users (email, name, password_hash) VALUES (\(invitation.email), \(name), \(hash))
                        ON CONFLICT (lower(email)) DO NOTHING RETURNING \(unescaped: Self.userColumns)
                        """).first else { throw Refused.accountTaken }
                    user = try User(row: row)
                }
                let userID = user.id
                guard try conn.execute("""
                    UPDATE invitations SET accepted_at = now(), accepted_by_user_id = \(userID)
                     WHERE id = \(invitation.id) AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()
                    """) == 1 else { throw Refused.gone }
                try conn.execute("""
                    INSERT INTO memberships (user_id, workspace_id, role) VALUES (\(userID), \(invitation.workspaceID), \(invitation.role.rawValue))
                    ON CONFLICT (user_id, workspace_id) DO NOTHING
                    """)
                try conn.recordAudit(audit(userID))
                return user
            })
        } catch Refused.accountTaken {
            return .accountTaken
        } catch Refused.gone {
            return .gone
        }
    }

    // MARK: the sign-in counter

    public func addressLockedFor(_ address: String) throws -> Int? {
        let rows = try conn.query("""
            SELECT ceil(extract(epoch FROM locked_until - now()))::bigint AS wait FROM login_throttle
             WHERE scope = 'address' AND key = \(address) AND locked_until > now()
            """)
        return try rows.first?.decode(Int?.self, "wait")
    }

    public func accountLockedFor(account: String, pair: String) throws -> Int? {
        let rows = try conn.query("""
            SELECT ceil(extract(epoch FROM a.locked_until - now()))::bigint AS wait FROM login_throttle a
             WHERE a.scope = 'account' AND a.key = \(account) AND a.locked_until > now()
               AND EXISTS (SELECT 1 FROM login_throttle p WHERE p.scope = 'pair' AND p.key = \(pair)
                                                          AND p.last_failure_at > now() - interval '1 day')
            """)
        return try rows.first?.decode(Int?.self, "wait")
    }

    /// One statement per key: counts within the window (a new window once it passed); the row lock
    /// of the upsert orders concurrent failures.
    public func countFailure(scope: String, key: String, window: Int) throws -> (failures: Int, lockouts: Int) {
        let rows = try conn.query("""
            INSERT INTO login_throttle AS t (scope, key, failures, window_start) VALUES (\(scope), \(key), 1, now())
            ON CONFLICT (scope, key) DO UPDATE SET
                failures = CASE WHEN t.window_start < now() - make_interval(secs => \(window)) THEN 1 ELSE t.failures + 1 END,
                window_start = CASE WHEN t.window_start < now() - make_interval(secs => \(window)) THEN now() ELSE t.window_start END,
                lockouts = CASE WHEN t.locked_until < now() - make_interval(secs => \(window)) THEN 0 ELSE t.lockouts END,
                last_failure_at = now()
            RETURNING failures, lockouts
            """)
        guard let failures = try rows.first?.decode(Int?.self, "failures"), let lockouts = try rows.first?.decode(Int?.self, "lockouts") else {
            throw AppError(.badThrottleRow, "The sign-in counter could not be read.")
        }
        return (failures, lockouts)
    }

    public func lock(scope: String, key: String, seconds: Int) throws {
        try conn.execute("""
            UPDATE login_throttle SET locked_until = now() + make_interval(secs => \(seconds)), lockouts = lockouts + 1,
                   failures = 0, window_start = now()
             WHERE scope = \(scope) AND key = \(key)
            """)
    }

    public func forgetQuietKeys() throws {
        try conn.execute("""
            DELETE FROM login_throttle WHERE window_start < now() - interval '1 day'
               AND (locked_until IS NULL OR locked_until < now() - interval '1 day')
            """)
    }

    public func clear(account: String) throws {
        try conn.execute("""
            DELETE FROM login_throttle WHERE (scope = 'account' AND key = \(account))
                OR (scope = 'pair' AND starts_with(key, \(account + " ")))
            """)
    }
}

extension PostgresStores {
    public var members: PGMemberStore { PGMemberStore(conn) }
}
