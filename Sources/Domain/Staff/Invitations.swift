import Foundation
import MedsyncCrypto

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

    /// What `POST /api/members` answers: the pending invitation and, this once, its token and link.
    public struct Created: Sendable, Encodable {
        public let invitation: InvitationView
        public let token: String
        /// The web inbox's accept page, relative to the inbox's origin (the token is in the fragment,
        /// which browsers never send to a server).
        public let invitePath: String
        enum CodingKeys: String, CodingKey { case invitation, token, invitePath = "invite_path" }
    }

    /// Invites `email` with `role` (owners, by the role matrix). A previous open invitation of the same
    /// email to this workspace is withdrawn. 409 `already_member` when the email is a member of this
    /// workspace already (the workspace's own members are listed to it anyway); nothing in the answer
    /// depends on whether the email has an account elsewhere.
    public static func create(_ store: some MemberStore, actor: StaffActor, _ input: Members.AddInput, now: Date = Date()) throws -> Created {
        guard let email = Users.normalizeEmail(input.email) else { throw AppError.validation("email", "not an email address.") }
        let role = try Members.role(input.role)
        guard input.password == nil else {
            throw AppError.validation("password", "not accepted: members are invited and choose their own password when they accept.")
        }
        let name = input.name?.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (name?.count ?? 0) <= 200 else { throw AppError.validation("name", "at most 200 characters.") }
        let token = tokenPrefix + Crypto.hex(Crypto.randomBytes(32))
        let invitation = NewInvitation(workspaceID: actor.workspaceID, email: email, name: name?.isEmpty == true ? nil : name, role: role,
                                       tokenHash: hash(token), invitedBy: actor.userID, expiresAt: now.addingTimeInterval(lifetime))
        switch try store.invite(invitation, audit: { actor.audit("member.invite", "invitation", String($0), ["role": role.rawValue]) }) {
        case .created(let view):
            return Created(invitation: view, token: token, invitePath: "/#/invite/\(token)")
        case .alreadyMember:
            throw AppError(.alreadyMember, "\(email) is already a member of this workspace.")
        case .justInvited:
            // Two owners inviting the same email at the same moment: one wins.
            throw AppError(.alreadyMember, "\(email) was just invited to this workspace; see the pending invitations.")
        }
    }

    /// The workspace's open invitations (not accepted, not revoked; expired ones say so), newest first.
    public static func list(_ store: some MemberStore, workspaceID: Int64) throws -> [InvitationView] {
        try store.invitations(workspaceID: workspaceID)
    }

    /// Withdraws an open invitation of the workspace (404 when there is none with this id).
    public static func revoke(_ store: some MemberStore, actor: StaffActor, id: Int64) throws {
        guard try store.revokeInvitation(workspaceID: actor.workspaceID, id: id, audit: actor.audit("invitation.revoke", "invitation", String(id))) else {
            throw AppError(.notFound, "There is no pending invitation \(id) in this workspace.")
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

    static func open(_ store: some MemberStore, token: String) throws -> OpenInvitation {
        guard token.hasPrefix(tokenPrefix), token.utf8.count <= 200 else { throw invalid }
        guard let open = try store.openInvitation(tokenHash: hash(token)) else { throw invalid }
        return open
    }

    /// The link's invitation (404 `invitation_not_found` when used, withdrawn, expired or unknown).
    public static func preview(_ store: some MemberStore, token: String) throws -> Preview {
        let i = try open(store, token: token)
        return Preview(workspaceID: i.workspaceID, workspaceName: i.workspaceName, email: i.email, name: i.name,
                       role: i.role.rawValue, expiresAt: i.expiresAt, needsPassword: i.needsPassword)
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
    public static func accept(_ store: some MemberStore, _ input: AcceptInput, address: String = "", userAgent: String? = nil,
                              limits: StaffAuth.Limits) throws -> StaffAuth.LoginResult {
        let invitation = try open(store, token: input.token)
        let account = try Users.passwordHash(store, email: invitation.email)
        let keys = LoginThrottle.Keys(account: LoginThrottle.account(userID: account?.user.id, email: invitation.email), address: address)
        let invitee: Invitee
        if let found = account, let stored = found.hash {
            try limits.throttle.check(store, keys)
            let ok = try limits.hashGate.run { PasswordHash.verify(input.password, against: stored) }
            guard ok else {
                try limits.throttle.recordFailure(store, keys)
                throw AppError(.invalidCredentials, "The password is wrong: sign in with the password of your account to accept.")
            }
            try StaffAuth.rehashIfWeak(store, userID: found.user.id, stored: stored, password: input.password, limits: limits)
            invitee = .existing(found.user)
        } else if account != nil {
            // An account with no password (an operator's token-only user): nothing here may set one.
            throw AppError(.invalidCredentials, "This account has no password; ask the operator to set one, then accept.")
        } else {
            try PasswordPolicy.check(input.password, list: limits.commonPasswords)
            let name = (input.name ?? invitation.name)?.trimmingCharacters(in: .whitespacesAndNewlines)
            guard (name?.count ?? 0) <= 200 else { throw AppError.validation("name", "at most 200 characters.") }
            invitee = .new(passwordHash: try limits.hashGate.run { PasswordHash.hash(input.password) }, name: name?.isEmpty == true ? nil : name)
        }
        let user: User
        switch try store.accept(invitation, invitee: invitee, audit: { userID in
            StaffActor(userID: userID, workspaceID: invitation.workspaceID, role: invitation.role)
                .audit("member.add", "user", String(userID), ["role": invitation.role.rawValue, "invitation_id": String(invitation.id)])
        }) {
        case .accepted(let accepted): user = accepted
        case .accountTaken: throw AppError(.invalidCredentials, "An account with this email was just created: sign in with its password to accept.")
        case .gone: throw invalid
        }
        if case .existing = invitee { try limits.throttle.recordSuccess(store, keys) }
        return try StaffAuth.signedIn(store, user: user, client: StaffAuth.Client(address: address, userAgent: userAgent), limits: limits)
    }
}
