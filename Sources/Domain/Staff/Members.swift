import Foundation

/// Staff accounts of a workspace through the API: list (every member), add (an invitation the
/// invitee accepts), change role and remove (owners only, by the role matrix). The schema keeps at
/// least one owner (`memberships_keep_an_owner`): the store answers 409 `last_owner` for a change
/// that would leave none.
public enum Members {
    public static func list(_ store: some MemberStore, workspaceID: Int64) throws -> [MemberView] {
        try store.members(workspaceID: workspaceID)
    }

    static func notMember(_ userID: Int64) -> AppError { AppError(.notFound, "User \(userID) is not a member of this workspace.") }

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

    public static func setRole(_ store: some MemberStore, actor: StaffActor, userID: Int64, role raw: String) throws -> MemberView {
        let role = try role(raw)
        guard let view = try store.setRole(workspaceID: actor.workspaceID, userID: userID, role: role,
                                           audit: actor.audit("member.role", "user", String(userID), ["role": role.rawValue])) else {
            throw notMember(userID)
        }
        return view
    }

    public static func remove(_ store: some MemberStore, actor: StaffActor, userID: Int64) throws {
        guard try store.removeMember(workspaceID: actor.workspaceID, userID: userID, audit: actor.audit("member.remove", "user", String(userID))) else {
            throw notMember(userID)
        }
    }
}
