import Domain
import FastCGI
import Foundation
import MedsyncConfig
import HTTPClient
import Postgres

// Authentication and authorization for the staff API:
//   Authorization: Bearer <token>  → the user (401 unauthorized when missing, unknown or revoked;
//                                    401 token_expired when unused for MEDSYNC_TOKEN_TTL_SECONDS);
//   X-Account-Id: <workspace id>   → the user's membership there (403 forbidden when not a member);
//   the route                      → the roles it declares (`allow:`; 403 forbidden for another role).
// Every use case then reads and writes only rows of that workspace: another workspace's ids are 404.

/// The staff API's middleware, once per request before the handler (`Router.group`).
enum AuthMiddleware {
    /// `Authorization: Bearer <token>` → the user (401 `unauthorized` / `token_expired`).
    struct SignedIn: ContextMiddleware {
        func access(_: Void) -> RouteAccess { .signedIn }

        func resolve(_ request: Request, _ ctx: RequestContext, _: Void) throws -> UserContext {
            let user = try StaffAuth.user(ctx.stores.members, authorization: request.header("authorization"), tokenTTL: ctx.config.tokenTTLSeconds)
            return UserContext(userID: user.userID, token: user.token, requestContext: ctx)
        }
    }

    /// The user, then their membership of the workspace named by `X-Account-Id` (400
    /// `missing_account`, 403 `forbidden`), then the roles the route allows (403 `forbidden`).
    struct Staff: ContextMiddleware {
        func access(_ roles: Set<Role>) -> RouteAccess { .members(roles) }

        func resolve(_ request: Request, _ ctx: RequestContext, _ roles: Set<Role>) throws -> StaffContext {
            let user = try SignedIn().resolve(request, ctx, ())
            let actor = try StaffAuth.actor(ctx.stores.members, userID: user.userID, accountHeader: request.header("x-account-id"))
            // Every line logged about this request from here on names the workspace.
            let member = ctx.logging("workspace_id", "\(actor.workspaceID)")
            try roles.authorize(actor.role)
            return StaffContext(actor: actor, requestContext: member)
        }
    }

    static let signedIn = SignedIn()
    static let staff = Staff()
}
