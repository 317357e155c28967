import Domain
import FastCGI
import Foundation

// Authentication and authorization for the staff API:
//   Authorization: Bearer <token>  → the user (401 unauthorized when missing, unknown or revoked);
//   X-Account-Id: <workspace id>   → the user's membership there (403 forbidden when not a member);
//   admin routes                   → owner or admin_doctor (403 forbidden for doctor and staff).
// Every use case then reads and writes only rows of that workspace: another workspace's ids are 404.

/// The user behind the request's bearer token.
func authenticatedUser(_ request: Request, _ ctx: AppContext) throws -> (userID: Int64, token: String) {
    try StaffAuth.user(ctx.db(), authorization: request.header("authorization"))
}

/// The acting member of the workspace named by `X-Account-Id`; `admin: true` also requires the
/// owner or admin_doctor role.
func staffActor(_ request: Request, _ ctx: AppContext, admin: Bool = false) throws -> StaffActor {
    let user = try authenticatedUser(request, ctx)
    let actor = try StaffAuth.actor(ctx.db(), userID: user.userID, accountHeader: request.header("x-account-id"))
    if admin { try actor.requireAdmin() }
    return actor
}
