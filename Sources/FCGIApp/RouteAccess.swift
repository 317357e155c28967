import Domain

/// Who may call a route, declared with it (`Router.Route.access`). The role table, the README's
/// table and the OpenAPI document's security are read from the routes' declarations (RoleMatrixTests,
/// StaffOpenAPITests).
enum RouteAccess: Sendable, Equatable {
    /// No token: signing in, an invitation's holder, the signed webhooks, health, the API document,
    /// metrics (with its own loopback-or-token rule).
    case anyone
    /// The signed-in user's own routes: a bearer token, no workspace.
    case signedIn
    /// A member of the workspace `X-Account-Id` names, with one of these roles (403 `forbidden` for
    /// another role, or for every role when the set is empty).
    case members(Set<Role>)

    /// The roles of a workspace route, nil for the others.
    var roles: Set<Role>? {
        if case .members(let roles) = self { return roles }
        return nil
    }
}

/// The role sets routes declare: `r.put("/api/clinic", allow: .admins)`.
extension Set where Element == Role {
    /// Every member of the workspace.
    static var everyone: Set<Role> { Set(Role.allCases) }
    /// Owners and admin doctors.
    static var admins: Set<Role> { [.owner, .adminDoctor] }
    /// Owners only.
    static var owners: Set<Role> { [.owner] }

    /// 403 `forbidden` unless `role` is one of these.
    func authorize(_ role: Role) throws {
        guard contains(role) else {
            let names = Role.allCases.filter { contains($0) }.map(\.rawValue)
            throw AppError(.forbidden, names.isEmpty
                ? "No role may call this route."
                : "This action needs the \(names.joined(separator: " or ")) role; you are \(role.rawValue).")
        }
    }
}

extension Router {
    /// The role table: the roles each workspace route allows ("METHOD /pattern" → roles), as the
    /// routes declare them. The README's table is this (RoleMatrixTests).
    var roleTable: [String: Set<Role>] {
        var table: [String: Set<Role>] = [:]
        for route in routes { if let roles = route.access.roles { table[route.name] = roles } }
        return table
    }

    /// The routes outside any workspace ("METHOD /pattern"): public ones and the signed-in user's own.
    var outsideWorkspaces: Set<String> { Set(routes.filter { $0.access.roles == nil }.map(\.name)) }
}
