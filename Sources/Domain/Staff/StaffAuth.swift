import Foundation

/// Login, logout, "who am I", and turning a bearer token + `X-Account-Id` into a `StaffActor`.
public enum StaffAuth {
    public struct WorkspaceRole: Sendable, Encodable {
        public let id: Int64
        public let name: String
        public let role: String
    }

    public struct Me: Sendable, Encodable {
        public let user: User
        public let workspaces: [WorkspaceRole]
    }

    public struct LoginResult: Sendable, Encodable {
        public let token: String
        public let user: User
        public let workspaces: [WorkspaceRole]
    }

    /// Email + password → a new API token. Wrong email and wrong password answer the same 401.
    public static func login(_ conn: PGConnection, email: String, password: String) throws -> LoginResult {
        let invalid = AppError(status: 401, code: "invalid_credentials", message: "The email or password is wrong.")
        guard !email.isEmpty, !password.isEmpty else { throw invalid }
        guard let found = try Users.passwordHash(conn, email: email), let hash = found.hash else {
            // Same work as a real check, so timing does not tell which emails exist.
            _ = PasswordHash.verify(password, against: dummyHash)
            throw invalid
        }
        guard PasswordHash.verify(password, against: hash) else { throw invalid }
        let token = try Tokens.create(conn, userID: found.user.id, name: "login")
        return LoginResult(token: token, user: found.user, workspaces: try workspaces(conn, userID: found.user.id))
    }

    static let dummyHash = PasswordHash.hash("not a password of anyone")

    public static func logout(_ conn: PGConnection, token: String) throws {
        try Tokens.revoke(conn, token: token)
    }

    public static func me(_ conn: PGConnection, userID: Int64) throws -> Me {
        guard let user = try Users.find(conn, id: userID) else { throw AppError.unauthorized }
        return Me(user: user, workspaces: try workspaces(conn, userID: userID))
    }

    static func workspaces(_ conn: PGConnection, userID: Int64) throws -> [WorkspaceRole] {
        try Memberships.list(conn, userID: userID).map { WorkspaceRole(id: $0.workspaceID, name: $0.workspaceName, role: $0.role.rawValue) }
    }

    /// The user of an `Authorization: Bearer …` header value; 401 when missing, malformed, unknown or revoked.
    public static func user(_ conn: PGConnection, authorization: String?) throws -> (userID: Int64, token: String) {
        guard let header = authorization?.trimmingCharacters(in: .whitespaces), !header.isEmpty else {
            throw AppError.unauthorized("Send Authorization: Bearer <token>.")
        }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else {
            throw AppError.unauthorized("The Authorization header must be \"Bearer <token>\".")
        }
        let token = parts[1].trimmingCharacters(in: .whitespaces)
        guard let userID = try Tokens.authenticate(conn, token: token) else {
            throw AppError.unauthorized("The token is invalid or was revoked.")
        }
        return (userID, token)
    }

    /// The acting member: `X-Account-Id` must be a workspace id the user belongs to (403 otherwise).
    public static func actor(_ conn: PGConnection, userID: Int64, accountHeader: String?) throws -> StaffActor {
        guard let raw = accountHeader?.trimmingCharacters(in: .whitespaces), !raw.isEmpty else {
            throw AppError(status: 400, code: "missing_account", message: "Send X-Account-Id: <workspace id>.")
        }
        guard let workspaceID = Int64(raw), workspaceID > 0,
              let role = try Memberships.role(conn, userID: userID, workspaceID: workspaceID) else {
            throw AppError.forbidden("You are not a member of workspace \(raw.prefix(30)).")
        }
        return StaffActor(userID: userID, workspaceID: workspaceID, role: role)
    }
}
