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

    /// Lower-cased, trimmed; nil when it is not a plausible address.
    public static func normalizeEmail(_ email: String) -> String? {
        let e = email.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
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

    public static func find(_ conn: PGConnection, email: String) throws -> User? {
        try conn.query("SELECT \(unescaped: columns) FROM users WHERE lower(email) = lower(\(email.trimmingCharacters(in: .whitespacesAndNewlines)))")
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

    /// The stored password hash of a user found by email (login), nil when none.
    public static func passwordHash(_ conn: PGConnection, email: String) throws -> (user: User, hash: String?)? {
        guard let row = try conn.query("""
            SELECT \(unescaped: columns), password_hash FROM users WHERE lower(email) = lower(\(email.trimmingCharacters(in: .whitespacesAndNewlines)))
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
