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
        return try Users.create(PostgresStores(conn).members, email: email, name: name, passwordHash: hash, workspaceID: workspaceID, role: role, ifExists: ifExists)
    }

    static func createToken(_ conn: PGConnection, user: String, name: String) throws -> String {
        let members = PostgresStores(conn).members
        guard let found = try Users.find(members, idOrEmail: user) else {
            throw AppError(.userNotFound, "no user \(user)")
        }
        return try Tokens.create(members, userID: found.id, name: name)
    }

    /// Sets a user's password; the database revokes every token of the user. Returns how many were live.
    static func setPassword(_ conn: PGConnection, user: String, password: String,
                            list: CommonPasswords = .at(CommonPasswords.defaultPath)) throws -> Int {
        let members = PostgresStores(conn).members
        guard let found = try Users.find(members, idOrEmail: user) else {
            throw AppError(.userNotFound, "no user \(user)")
        }
        let hash = try hashPassword(password, list: list)
        return try Users.setPassword(members, userID: found.id, passwordHash: hash)
    }

    /// `PasswordPolicy` (12 characters, not in the list of breached passwords), then the hash.
    static func hashPassword(_ password: String, list: CommonPasswords) throws -> String {
        try PasswordPolicy.check(password, list: list)
        return PasswordHash.hash(password)
    }
}
