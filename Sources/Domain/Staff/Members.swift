import Foundation
import MedsyncCrypto
import Postgres

/// Staff accounts of a workspace through the API: list (every member), add (an invitation the
/// invitee accepts), change role and remove (owners only, by the role matrix). The schema keeps at
/// least one owner (`memberships_keep_an_owner`).
public enum Members {
    public struct View: Sendable, Encodable, Equatable {
        public let userID: Int64
        public let email: String
        public let name: String?
        public let role: String
        public let createdAt: Date
        enum CodingKeys: String, CodingKey { case email, name, role, userID = "user_id", createdAt = "created_at" }
    }

    static let select: SQLFragment = """
        SELECT u.id, u.email, u.name, m.role, m.created_at FROM memberships m JOIN users u ON u.id = m.user_id
        """

    static func view(_ r: PGRow) throws -> View {
        View(userID: try r.decode(Int64.self, "id"), email: try r.decode(String.self, "email"), name: try r.decode(String?.self, "name"),
             role: try r.decode(String.self, "role"), createdAt: try r.decode(Date.self, "created_at"))
    }

    public static func list(_ conn: PGConnection, workspaceID: Int64) throws -> [View] {
        try conn.query("\(unescaped: select) WHERE m.workspace_id = \(workspaceID) ORDER BY m.created_at, u.id").map(view)
    }

    static func get(_ conn: PGConnection, workspaceID: Int64, userID: Int64) throws -> View {
        guard let row = try conn.query("\(unescaped: select) WHERE m.workspace_id = \(workspaceID) AND m.user_id = \(userID)").first else {
            throw AppError(.notFound, "User \(userID) is not a member of this workspace.")
        }
        return try view(row)
    }

    static func role(_ raw: String) throws -> Role {
        guard let r = Role(rawValue: raw) else {
            throw AppError.validation("role", Role.allCases.map(\.rawValue).joined(separator: ", ") + ".")
        }
        return r
    }

    public struct AddInput: Sendable, Decodable {
        public var email: String
        public var name: String?
        public var role: String
        public var password: String?
        public init(email: String, name: String? = nil, role: String, password: String? = nil) {
            self.email = email
            self.name = name
            self.role = role
            self.password = password
        }
    }

    static func lastOwner(_ e: PGError) -> AppError? {
        e.constraint == "memberships_last_owner"
            ? AppError(.lastOwner, "A workspace keeps at least one owner: make another member owner first.") : nil
    }

    public static func setRole(_ conn: PGConnection, actor: StaffActor, userID: Int64, role raw: String) throws -> View {
        let role = try role(raw)
        do {
            return try conn.transaction {
                guard try conn.execute("UPDATE memberships SET role = \(role.rawValue) WHERE workspace_id = \(actor.workspaceID) AND user_id = \(userID)") == 1 else {
                    throw AppError(.notFound, "User \(userID) is not a member of this workspace.")
                }
                try Audit.record(conn, actor, action: "member.role", targetType: "user", targetID: String(userID), details: ["role": role.rawValue])
                return try get(conn, workspaceID: actor.workspaceID, userID: userID)
            }
        } catch let e as PGError {
            throw lastOwner(e) ?? e
        }
    }

    public static func remove(_ conn: PGConnection, actor: StaffActor, userID: Int64) throws {
        do {
            try conn.transaction {
                guard try conn.execute("DELETE FROM memberships WHERE workspace_id = \(actor.workspaceID) AND user_id = \(userID)") == 1 else {
                    throw AppError(.notFound, "User \(userID) is not a member of this workspace.")
                }
                try Audit.record(conn, actor, action: "member.remove", targetType: "user", targetID: String(userID))
            }
        } catch let e as PGError {
            throw lastOwner(e) ?? e
        }
    }
}
