import Foundation

public enum Users {
    /// The one spelling of an email, for storing, looking up and counting sign-in failures: trimmed,
    /// Unicode compatibility-composed (NFKC: a full-width or ligature letter becomes the plain
    /// one), then lower-cased by Swift. Every path goes through this one function, so no two
    /// spellings that reach the same row can count apart (`admİn@` is `admi̇n@`, not `admin@`,
    /// both here and in the lookup).
    public static func emailKey(_ email: String) -> String {
        email.trimmingCharacters(in: .whitespacesAndNewlines).precomposedStringWithCompatibilityMapping.lowercased()
    }

    /// `emailKey`; nil when it is not a plausible address.
    public static func normalizeEmail(_ email: String) -> String? {
        let e = emailKey(email)
        let parts = e.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty, parts[1].contains("."), !parts[1].hasPrefix("."),
              !parts[1].hasSuffix("."), e.count <= 320, !e.contains(where: { $0.isWhitespace }) else { return nil }
        return e
    }

    static func workspaceNotFound(_ id: Int64) -> AppError { AppError(.workspaceNotFound, "workspace \(id) does not exist") }

    /// Creates the user (or reuses the one with this email) and makes it a member of the workspace
    /// with `role` (an existing membership takes the new role). `passwordHash` is an encoded
    /// password hash (nil keeps the current one; a new user without one can only use tokens).
    public static func create(_ store: some MemberStore, email: String, name: String? = nil, passwordHash: String? = nil,
                              workspaceID: Int64, role: Role) throws -> User {
        guard let email = normalizeEmail(email) else {
            throw AppError(.invalidEmail, "\"\(email)\" is not an email address")
        }
        guard let user = try store.addMember(email: email, name: name, passwordHash: passwordHash, workspaceID: workspaceID, role: role) else {
            throw workspaceNotFound(workspaceID)
        }
        return user
    }

    /// What the operator's `user create` does with an email that already has an account.
    public typealias IfExists = UserIfExists

    /// The operator's create: a new user with `passwordHash` (nil: token-only) as a member of the
    /// workspace with `role`; an existing email is handled as `ifExists` says (an existing membership
    /// takes the new role). One transaction; concurrent creates meet on the unique email index.
    public static func create(_ store: some MemberStore, email: String, name: String? = nil, passwordHash: String? = nil,
                              workspaceID: Int64, role: Role, ifExists: IfExists) throws -> User {
        guard let email = normalizeEmail(email) else {
            throw AppError(.invalidEmail, "\"\(email)\" is not an email address")
        }
        if ifExists == .replacePassword && passwordHash == nil {
            throw AppError.validation("password", "replacing the password of an existing user needs the new password.")
        }
        if ifExists == .keepPassword && passwordHash != nil {
            throw AppError.validation("password", "keeping the existing user's password: give no password with it.")
        }
        switch try store.addUser(email: email, name: name, passwordHash: passwordHash, workspaceID: workspaceID, role: role, ifExists: ifExists) {
        case .added(let user):
            return user
        case .noWorkspace:
            throw workspaceNotFound(workspaceID)
        case .exists:
            throw AppError(.userExists, "\(email) already has an account; its password is never kept or replaced silently: "
                           + "pass --keep-password to add it to the workspace as it is, or --reset-password with a new password to replace it")
        }
    }

    public static func find(_ store: some MemberStore, email: String) throws -> User? {
        try store.user(emailKey: emailKey(email))
    }

    public static func find(_ store: some MemberStore, id: Int64) throws -> User? {
        try store.user(id: id)
    }

    /// By numeric id or by email (operator commands take either).
    public static func find(_ store: some MemberStore, idOrEmail: String) throws -> User? {
        if let id = Int64(idOrEmail) { return try find(store, id: id) }
        return try find(store, email: idOrEmail)
    }

    /// Replaces the user's password hash; the trigger of migration 0005 revokes every token of the
    /// user. Returns how many tokens were live.
    @discardableResult
    public static func setPassword(_ store: some MemberStore, userID: Int64, passwordHash: String) throws -> Int {
        guard let live = try store.setPassword(userID: userID, passwordHash: passwordHash, token: nil) else {
            throw AppError(.userNotFound, "user \(userID) does not exist")
        }
        return live
    }

    /// Replaces a hash that was just verified by a stronger one of the same password (sign-in):
    /// only while the stored hash is still `old`, and without revoking the user's tokens (the
    /// password did not change; migration 0019 lets the trigger of 0005 skip this one update).
    @discardableResult
    public static func rehash(_ store: some MemberStore, userID: Int64, old: String, new: String) throws -> Bool {
        try store.rehash(userID: userID, old: old, new: new)
    }

    /// The stored password hash of a user found by email (login), nil when none.
    public static func passwordHash(_ store: some MemberStore, email: String) throws -> UserCredentials? {
        try store.credentials(emailKey: emailKey(email))
    }
}

public enum Memberships {
    /// The user's role in the workspace, nil when not a member.
    public static func role(_ store: some MemberStore, userID: Int64, workspaceID: Int64) throws -> Role? {
        try store.role(userID: userID, workspaceID: workspaceID)
    }

    /// Every workspace the user belongs to, by workspace id.
    public static func list(_ store: some MemberStore, userID: Int64) throws -> [Membership] {
        try store.memberships(userID: userID)
    }
}
