import Foundation
import Postgres

public struct User: Sendable, Equatable, Codable {
    public let id: Int64
    public let email: String
    public let name: String?

    init(row: PGRow) throws {
        id = try row.decode(Int64.self, "id")
        email = try row.decode(String.self, "email")
        name = try row.decode(String?.self, "name")
    }
}

public enum Users {
    static let columns: SQLFragment = "id, email, name"

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

    /// Creates the user (or reuses the one with this email) and makes it a member of the workspace
    /// with `role` (an existing membership takes the new role). `passwordHash` is an encoded
    /// password hash (nil keeps the current one; a new user without one can only use tokens).
    public static func create(_ conn: PGConnection, email: String, name: String? = nil, passwordHash: String? = nil,
                              workspaceID: Int64, role: Role) throws -> User {
        guard let email = normalizeEmail(email) else {
            throw AppError(.invalidEmail, "\"\(email)\" is not an email address")
        }
        return try conn.transaction {
            guard try Workspaces.get(conn, id: workspaceID) != nil else {
                throw AppError(.workspaceNotFound, "workspace \(workspaceID) does not exist")
            }
            // Insert or reuse by the case-insensitive unique index; concurrent creates meet on it.
            let rows = try conn.query("""
                INSERT INTO users (email, name, password_hash) VALUES (\(email), \(name), \(passwordHash))
                ON CONFLICT (lower(email)) DO UPDATE
                   SET name = COALESCE(EXCLUDED.name, users.name),
                       password_hash = COALESCE(EXCLUDED.password_hash, users.password_hash)
                RETURNING \(unescaped: columns)
                """)
            let user = try User(row: rows.one())
            try conn.execute("""
                INSERT INTO memberships (user_id, workspace_id, role) VALUES (\(user.id), \(workspaceID), \(role.rawValue))
                ON CONFLICT (user_id, workspace_id) DO UPDATE SET role = EXCLUDED.role
                """)
            return user
        }
    }

    /// What the operator's `user create` does with an email that already has an account: never
    /// something silent. `refuse` fails (409 `user_exists`); `keepPassword` adds the existing user to
    /// the workspace as they are (name and password theirs); `replacePassword` sets the given hash.
    public enum IfExists: Sendable { case refuse, keepPassword, replacePassword }

    /// The operator's create: a new user with `passwordHash` (nil: token-only) as a member of the
    /// workspace with `role`; an existing email is handled as `ifExists` says (an existing membership
    /// takes the new role). One transaction; concurrent creates meet on the unique email index.
    public static func create(_ conn: PGConnection, email: String, name: String? = nil, passwordHash: String? = nil,
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
        return try conn.transaction {
            guard try Workspaces.get(conn, id: workspaceID) != nil else {
                throw AppError(.workspaceNotFound, "workspace \(workspaceID) does not exist")
            }
            let user: User
            if let row = try conn.query("""
                INSERT INTO users (email, name, password_hash) VALUES (\(email), \(name), \(passwordHash))
                ON CONFLICT (lower(email)) DO NOTHING
                RETURNING \(unescaped: columns)
                """).first {
                user = try User(row: row)
            } else {
                switch ifExists {
                case .refuse:
                    throw AppError(.userExists, "\(email) already has an account; its password is never kept or replaced silently: "
                                   + "pass --keep-password to add it to the workspace as it is, or --reset-password with a new password to replace it")
                case .keepPassword:
                    user = try User(row: conn.query("SELECT \(unescaped: columns) FROM users WHERE lower(email) = lower(\(email))").one())
                case .replacePassword:
                    // The trigger of migration 0005 revokes every token of the user.
                    user = try User(row: conn.query("""
                        UPDATE users SET password_hash = \(passwordHash), name = COALESCE(\(name), name)
                         WHERE lower(email) = lower(\(email)) RETURNING \(unescaped: columns)
                        """).one())
                }
            }
            try conn.execute("""
                INSERT INTO memberships (user_id, workspace_id, role) VALUES (\(user.id), \(workspaceID), \(role.rawValue))
                ON CONFLICT (user_id, workspace_id) DO UPDATE SET role = EXCLUDED.role
                """)
            return user
        }
    }

    public static func find(_ conn: PGConnection, email: String) throws -> User? {
        try conn.query("SELECT \(unescaped: columns) FROM users WHERE lower(email) = lower(\(emailKey(email)))")
            .first.map(User.init(row:))
    }

    public static func find(_ conn: PGConnection, id: Int64) throws -> User? {
        try conn.query("SELECT \(unescaped: columns) FROM users WHERE id = \(id)").first.map(User.init(row:))
    }

    /// By numeric id or by email (operator commands take either).
    public static func find(_ conn: PGConnection, idOrEmail: String) throws -> User? {
        if let id = Int64(idOrEmail) { return try find(conn, id: id) }
        return try find(conn, email: idOrEmail)
    }

    /// Replaces the user's password hash; the trigger of migration 0005 revokes every token of the user.
    public static func setPassword(_ conn: PGConnection, userID: Int64, passwordHash: String) throws {
        guard try conn.execute("UPDATE users SET password_hash = \(passwordHash) WHERE id = \(userID)") == 1 else {
            throw AppError(.userNotFound, "user \(userID) does not exist")
        }
    }

    /// Replaces a hash that was just verified by a stronger one of the same password (sign-in):
    /// only while the stored hash is still `old`, and without revoking the user's tokens (the
    /// password did not change; migration 0019 lets the trigger of 0005 skip this one update).
    @discardableResult
    public static func rehash(_ conn: PGConnection, userID: Int64, old: String, new: String) throws -> Bool {
        try conn.transaction {
            try conn.execute("SELECT set_config('medsync.password_rehash', 'on', true)")
            return try conn.execute("UPDATE users SET password_hash = \(new) WHERE id = \(userID) AND password_hash = \(old)") == 1
        }
    }

    /// The stored password hash of a user found by email (login), nil when none.
    public static func passwordHash(_ conn: PGConnection, email: String) throws -> (user: User, hash: String?)? {
        guard let row = try conn.query("""
            SELECT \(unescaped: columns), password_hash FROM users WHERE lower(email) = lower(\(emailKey(email)))
            """).first else { return nil }
        return (try User(row: row), try row.decode(String?.self, "password_hash"))
    }
}

public struct Membership: Sendable, Equatable, Codable {
    public let workspaceID: Int64
    public let workspaceName: String
    public let role: Role
}

public enum Memberships {
    /// The user's role in the workspace, nil when not a member.
    public static func role(_ conn: PGConnection, userID: Int64, workspaceID: Int64) throws -> Role? {
        try conn.query("SELECT role FROM memberships WHERE user_id = \(userID) AND workspace_id = \(workspaceID)").first?.decode(String?.self, "role").flatMap(Role.init(rawValue:))
    }

    /// Every workspace the user belongs to, by workspace id.
    public static func list(_ conn: PGConnection, userID: Int64) throws -> [Membership] {
        try conn.query("""
            SELECT workspace_id, name, role FROM medsync_user_workspaces(\(userID))
            """).compactMap { row in
            guard let id = try row.decode(Int64?.self, "workspace_id"), let role = try row.decode(String?.self, "role").flatMap(Role.init(rawValue:)) else { return nil }
            return Membership(workspaceID: id, workspaceName: try row.decode(String?.self, "name") ?? "", role: role)
        }
    }
}
