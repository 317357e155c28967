import Foundation
import MedsyncCrypto
import Postgres

/// Joining a workspace by invitation (table `invitations`, migration 0017). An owner invites an
/// email with a role; the answer carries the link's token once (MedSync sends no email: the owner
/// passes the link on) and is the same whether the email has an account or not. The invitee, with
/// the token, either creates an account with a password of their own or, when the email already has
/// one, signs in with its password; accepting creates the membership and consumes the invitation in
/// one transaction (a conditional UPDATE of `accepted_at`: single use, never after `expires_at`).
/// No workspace ever sets or sees another's user's password, name or id.
public enum Invitations {
    /// How long a link stays valid.
    public static let lifetime: TimeInterval = 7 * 86_400
    static let tokenPrefix = "inv_"

    public static func hash(_ token: String) -> [UInt8] { Crypto.sha256(token) }

    /// An invitation as its workspace's owners see it (no token: only its hash is stored).
    public struct View: Sendable, Encodable, Equatable {
        public let id: Int64
        public let email: String
        public let name: String?
        public let role: String
        public let status: String
        public let invitedByUserID: Int64?
        public let createdAt: Date
        public let expiresAt: Date
        enum CodingKeys: String, CodingKey {
            case id, email, name, role, status, invitedByUserID = "invited_by_user_id", createdAt = "created_at", expiresAt = "expires_at"
        }

        init(row r: PGRow) throws {
            id = try r.decode(Int64.self, "id")
            email = try r.decode(String.self, "email")
            name = try r.decode(String?.self, "name")
            role = try r.decode(String.self, "role")
            invitedByUserID = try r.decode(Int64?.self, "invited_by_user_id")
            createdAt = try r.decode(Date.self, "created_at")
            expiresAt = try r.decode(Date.self, "expires_at")
            status = try r.decode(Bool.self, "expired") ? "expired" : "pending"
        }
    }

    /// What `POST /api/members` answers: the pending invitation and, this once, its token and link.
    public struct Created: Sendable, Encodable {
        public let invitation: View
        public let token: String
        /// The web inbox's accept page, relative to the inbox's origin (the token is in the fragment,
        /// which browsers never send to a server).
        public let invitePath: String
        enum CodingKeys: String, CodingKey { case invitation, token, invitePath = "invite_path" }
    }

    static let columns: SQLFragment = """
        id, email, name, role, invited_by_user_id, created_at, expires_at, expires_at <= now() AS expired
        """

    /// Invites `email` with `role` (owners, by the role matrix). A previous open invitation of the same
    /// email to this workspace is withdrawn. 409 `already_member` when the email is a member of this
    /// workspace already (the workspace's own members are listed to it anyway); nothing in the answer
    /// depends on whether the email has an account elsewhere.
    public static func create(_ conn: PGConnection, actor: StaffActor, _ input: Members.AddInput, now: Date = Date()) throws -> Created {
        guard let email = Users.normalizeEmail(input.email) else { throw AppError.validation("email", "not an email address.") }
        let role = try Members.role(input.role)
        guard input.password == nil else {
            throw AppError.validation("password", "not accepted: members are invited and choose their own password when they accept.")
        }
        let name = input.name?.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (name?.count ?? 0) <= 200 else { throw AppError.validation("name", "at most 200 characters.") }
        let token = tokenPrefix + Crypto.hex(Crypto.randomBytes(32))
        do {
            return try conn.transaction {
                guard try conn.query("""
                    SELECT 1 FROM memberships m JOIN users u ON u.id = m.user_id
                     WHERE m.workspace_id = \(actor.workspaceID) AND lower(u.email) = lower(\(email))
                    """).isEmpty else {
                    throw AppError(.alreadyMember, "\(email) is already a member of this workspace.")
                }
                try conn.execute("""
                    UPDATE invitations SET revoked_at = now()
                     WHERE workspace_id = \(actor.workspaceID) AND email = \(email) AND accepted_at IS NULL AND revoked_at IS NULL
                    """)
                let row = try conn.query("""
                    INSERT INTO invitations (workspace_id, email, name, role, token_hash, invited_by_user_id, expires_at)
                    VALUES (\(actor.workspaceID), \(email), \(name?.isEmpty == true ? nil : name), \(role.rawValue), \(PGBytea(hash(token))),
                            \(actor.userID), \(now.addingTimeInterval(lifetime)))
                    RETURNING \(unescaped: columns)
                    """).one()
                let view = try View(row: row)
                try Audit.record(conn, actor, action: "member.invite", targetType: "invitation", targetID: String(view.id),
                                 details: ["role": role.rawValue])
                return Created(invitation: view, token: token, invitePath: "/#/invite/\(token)")
            }
        } catch let e as PGError where e.constraint == "invitations_one_open" {
            // Two owners inviting the same email at the same moment: one wins.
            throw AppError(.alreadyMember, "\(email) was just invited to this workspace; see the pending invitations.")
        }
    }

    /// The workspace's open invitations (not accepted, not revoked; expired ones say so), newest first.
    public static func list(_ conn: PGConnection, workspaceID: Int64) throws -> [View] {
        try conn.query("""
            SELECT \(unescaped: columns) FROM invitations
             WHERE workspace_id = \(workspaceID) AND accepted_at IS NULL AND revoked_at IS NULL
             ORDER BY created_at DESC, id DESC LIMIT 500
            """).map(View.init(row:))
    }

    /// Withdraws an open invitation of the workspace (404 when there is none with this id).
    public static func revoke(_ conn: PGConnection, actor: StaffActor, id: Int64) throws {
        try conn.transaction {
            guard try conn.execute("""
                UPDATE invitations SET revoked_at = now()
                 WHERE workspace_id = \(actor.workspaceID) AND id = \(id) AND accepted_at IS NULL AND revoked_at IS NULL
                """) == 1 else {
                throw AppError(.notFound, "There is no pending invitation \(id) in this workspace.")
            }
            try Audit.record(conn, actor, action: "invitation.revoke", targetType: "invitation", targetID: String(id))
        }
    }

    static let invalid = AppError(.invitationNotFound, "This invitation link is not valid: it was used or withdrawn, or it has expired.")

    /// What the holder of a link learns before accepting: which clinic, which role, for which email,
    /// and whether they set a password (no account yet) or sign in with theirs.
    public struct Preview: Sendable, Encodable, Equatable {
        public let workspaceID: Int64
        public let workspaceName: String
        public let email: String
        public let name: String?
        public let role: String
        public let expiresAt: Date
        public let needsPassword: Bool
        enum CodingKeys: String, CodingKey {
            case email, name, role, workspaceID = "workspace_id", workspaceName = "workspace_name", expiresAt = "expires_at", needsPassword = "needs_password"
        }
    }

    struct Open {
        let id: Int64
        let workspaceID: Int64
        let email: String
        let role: Role
        let name: String?
        let preview: Preview
    }

    static func open(_ conn: PGConnection, token: String) throws -> Open {
        guard token.hasPrefix(tokenPrefix), token.utf8.count <= 200 else { throw invalid }
        let tokenHash = hash(token)
        // Nobody is signed in yet: the invitation's own workspace, found by its token's hash through
        // one narrow function (row-level security, sql/0021), is the only one this session sees.
        conn.workspace = .invitation(tokenHash: tokenHash)
        guard let r = try conn.query("""
            SELECT i.id, i.workspace_id, i.email, i.name, i.role, i.expires_at, w.name AS workspace_name,
                   NOT EXISTS (SELECT 1 FROM users u WHERE lower(u.email) = lower(i.email) AND u.password_hash IS NOT NULL) AS needs_password
              FROM invitations i JOIN workspaces w ON w.id = i.workspace_id
             WHERE i.token_hash = \(PGBytea(tokenHash)) AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > now()
            """).first, let role = Role(rawValue: try r.decode(String.self, "role")) else { throw invalid }
        let email = try r.decode(String.self, "email"), name = try r.decode(String?.self, "name")
        return Open(id: try r.decode(Int64.self, "id"), workspaceID: try r.decode(Int64.self, "workspace_id"), email: email,
                    role: role, name: name,
                    preview: Preview(workspaceID: try r.decode(Int64.self, "workspace_id"), workspaceName: try r.decode(String.self, "workspace_name"), email: email, name: name,
                                     role: role.rawValue, expiresAt: try r.decode(Date.self, "expires_at"),
                                     needsPassword: try r.decode(Bool.self, "needs_password")))
    }

    /// The link's invitation (404 `invitation_not_found` when used, withdrawn, expired or unknown).
    public static func preview(_ conn: PGConnection, token: String) throws -> Preview {
        try open(conn, token: token).preview
    }

    public struct AcceptInput: Sendable, Decodable {
        public var token: String
        public var password: String
        public var name: String?
        public init(token: String, password: String, name: String? = nil) {
            self.token = token
            self.password = password
            self.name = name
        }
    }

    /// Accepts the link's invitation and signs the invitee in. When the email has an account,
    /// `password` must be that account's (a wrong one counts as a failed sign-in of the account, as
    /// at login: 401 `invalid_credentials`, 429 when locked); otherwise it becomes the new account's
    /// password (`PasswordPolicy`) and `name` its name. The
    /// membership and the consumed invitation are written together; a second accept finds nothing.
    public static func accept(_ conn: PGConnection, _ input: AcceptInput, address: String = "", userAgent: String? = nil,
                              limits: StaffAuth.Limits) throws -> StaffAuth.LoginResult {
        let invitation = try open(conn, token: input.token)
        let account = try Users.passwordHash(conn, email: invitation.email)
        let keys = LoginThrottle.Keys(account: LoginThrottle.account(userID: account?.user.id, email: invitation.email), address: address)
        var newAccount: (hash: String, name: String?)? = nil
        var existing: User? = nil
        if let found = account, let stored = found.hash {
            try limits.throttle.check(conn, keys)
            let ok = try limits.hashGate.run { PasswordHash.verify(input.password, against: stored) }
            guard ok else {
                try limits.throttle.recordFailure(conn, keys)
                throw AppError(.invalidCredentials, "The password is wrong: sign in with the password of your account to accept.")
            }
            try StaffAuth.rehashIfWeak(conn, userID: found.user.id, stored: stored, password: input.password, limits: limits)
            existing = found.user
        } else if account != nil {
            // An account with no password (an operator's token-only user): nothing here may set one.
            throw AppError(.invalidCredentials, "This account has no password; ask the operator to set one, then accept.")
        } else {
            try PasswordPolicy.check(input.password, list: limits.commonPasswords)
            let name = (input.name ?? invitation.name)?.trimmingCharacters(in: .whitespacesAndNewlines)
            guard (name?.count ?? 0) <= 200 else { throw AppError.validation("name", "at most 200 characters.") }
            newAccount = (try limits.hashGate.run { PasswordHash.hash(input.password) }, name?.isEmpty == true ? nil : name)
        }
        let user: User = try conn.transaction {
            let user: User
            if let existing {
                user = existing
            } else if let newAccount {
                guard let row = try conn.query("""
                    INSERT INTO users (email, name, password_hash) VALUES (\(invitation.email), \(newAccount.name), \(newAccount.hash))
                    ON CONFLICT (lower(email)) DO NOTHING RETURNING \(unescaped: Users.columns)
                    """).first else {
                    throw AppError(.invalidCredentials, "An account with this email was just created: sign in with its password to accept.")
                }
                user = try User(row: row)
            } else {
                throw AppError.internal
            }
            let userID = user.id
            guard try conn.execute("""
                UPDATE invitations SET accepted_at = now(), accepted_by_user_id = \(userID)
                 WHERE id = \(invitation.id) AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > now()
                """) == 1 else { throw invalid }
            try conn.execute("""
                INSERT INTO memberships (user_id, workspace_id, role) VALUES (\(userID), \(invitation.workspaceID), \(invitation.role.rawValue))
                ON CONFLICT (user_id, workspace_id) DO NOTHING
                """)
            try Audit.record(conn, StaffActor(userID: userID, workspaceID: invitation.workspaceID, role: invitation.role),
                             action: "member.add", targetType: "user", targetID: String(userID),
                             details: ["role": invitation.role.rawValue, "invitation_id": String(invitation.id)])
            return user
        }
        if existing != nil { try limits.throttle.recordSuccess(conn, keys) }
        return try StaffAuth.signedIn(conn, user: user, client: StaffAuth.Client(address: address, userAgent: userAgent), limits: limits)
    }
}
