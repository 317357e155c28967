import Domain
import MedsyncCrypto
import Postgres

/// The plain functions behind the operator commands (the CLI only parses and calls these).
enum JobsCommands {
    /// Creates a user as a member of the workspace. An email that already has an account is refused
    /// (`user_exists`) unless `ifExists` says to keep its password or to replace it with `password`.
    static func createUser(_ conn: PGConnection, email: String, name: String?, password: String?,
                           workspaceID: Int64, role: Role, ifExists: Users.IfExists = .refuse,
                           list: CommonPasswords = .at(CommonPasswords.defaultPath)) throws -> User {
        let hash = try password.map { try hashPassword($0, list: list) }
        return try Users.create(conn, email: email, name: name, passwordHash: hash, workspaceID: workspaceID, role: role, ifExists: ifExists)
    }

    static func createToken(_ conn: PGConnection, user: String, name: String) throws -> String {
        guard let found = try Users.find(conn, idOrEmail: user) else {
            throw AppError(.userNotFound, "no user \(user)")
        }
        return try Tokens.create(conn, userID: found.id, name: name)
    }

    /// Sets a user's password; the database revokes every token of the user. Returns how many were live.
    static func setPassword(_ conn: PGConnection, user: String, password: String,
                            list: CommonPasswords = .at(CommonPasswords.defaultPath)) throws -> Int {
        guard let found = try Users.find(conn, idOrEmail: user) else {
            throw AppError(.userNotFound, "no user \(user)")
        }
        let hash = try hashPassword(password, list: list)
        return try conn.transaction {
            let live = try conn.query("SELECT count(*) AS n FROM api_tokens WHERE user_id = \(found.id) AND revoked_at IS NULL").first?.decode(Int?.self, "n") ?? 0
            try Users.setPassword(conn, userID: found.id, passwordHash: hash)
            return live
        }
    }

    /// `PasswordPolicy` (12 characters, not in the list of breached passwords), then the hash.
    static func hashPassword(_ password: String, list: CommonPasswords) throws -> String {
        try PasswordPolicy.check(password, list: list)
        return PasswordHash.hash(password)
    }
}
