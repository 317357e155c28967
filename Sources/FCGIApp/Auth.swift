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
//   the route                      → the role matrix below (403 forbidden for a role it does not list).
// Every use case then reads and writes only rows of that workspace: another workspace's ids are 404.

/// The role matrix: which roles may call each workspace route ("METHOD /pattern" as registered).
/// This table is the only place roles are decided; `AuthMiddleware.staff` enforces it for the route
/// being handled, and a route missing from it is refused to everyone. The README's role table is this
/// table (a test compares them).
enum RoleMatrix {
    static let everyone: Set<Role> = Set(Role.allCases)
    static let admins: Set<Role> = [.owner, .adminDoctor]

    static let table: [String: Set<Role>] = [
        "POST /api/whatsapp/send": everyone,
        "POST /api/whatsapp/send-template": everyone,
        "GET /api/whatsapp/templates": everyone,
        "GET /api/whatsapp/conversations": everyone,
        "GET /api/whatsapp/conversations/{id}": everyone,
        "DELETE /api/whatsapp/conversations/{id}": everyone,
        "GET /api/whatsapp/conversations/{id}/messages": everyone,
        "POST /api/whatsapp/conversations/{id}/handoff": everyone,
        "POST /api/whatsapp/conversations/{id}/resume-bot": everyone,
        "GET /api/whatsapp/pending-appointments": everyone,
        "POST /api/whatsapp/pending-appointments/{id}/accept": everyone,
        "POST /api/whatsapp/pending-appointments/{id}/reject": everyone,
        "GET /api/whatsapp/reminder-settings": everyone,
        "PUT /api/whatsapp/reminder-settings": admins,
        "GET /api/whatsapp/senders": everyone,
        "POST /api/whatsapp/link-existing": admins,
        "POST /api/whatsapp/provision": admins,
        "POST /api/whatsapp/senders/{id}/deactivate": admins,
        "POST /api/whatsapp/senders/{id}/make-primary": admins,
        "POST /api/whatsapp/bundle/preview": everyone,
        "POST /api/whatsapp/bundle/send": admins,
        "GET /api/whatsapp/bundle/{id}": everyone,
        "GET /api/whatsapp/audit-log": admins,
        "GET /api/whatsapp/bundles": everyone,
        "PUT /api/whatsapp/templates/{template_id}/content-sids": admins,
        "GET /api/clinic": everyone,
        "PUT /api/clinic": admins,
        "GET /api/doctors": everyone,
        "GET /api/doctors/{id}/availability": everyone,
        // A doctor changes their own (the use case refuses another doctor's); admins anyone's.
        "PUT /api/doctors/{id}/availability": [.owner, .adminDoctor, .doctor],
        "GET /api/doctors/{id}/free-slots": everyone,
        "GET /api/patients": everyone,
        "POST /api/patients": everyone,
        "GET /api/patients/{id}": everyone,
        "PATCH /api/patients/{id}": everyone,
        "GET /api/appointments": everyone,
        "POST /api/appointments": everyone,
        "GET /api/appointments/{id}": everyone,
        "POST /api/appointments/{id}/cancel": everyone,
        "POST /api/appointments/{id}/reschedule": everyone,
        "GET /api/members": everyone,
        "POST /api/members": [.owner],
        "PATCH /api/members/{user_id}": [.owner],
        "DELETE /api/members/{user_id}": [.owner],
        "GET /api/invitations": [.owner],
        "DELETE /api/invitations/{id}": [.owner],
    ]

    /// Routes that need no workspace role: public ones (login, webhooks with their signature,
    /// health, the API document, metrics with its own check) and the signed-in user's own ones.
    static let outsideWorkspaces: Set<String> = [
        "POST /api/auth/login", "POST /api/auth/logout", "POST /api/auth/password", "GET /api/me",
        "POST /api/invitations/lookup", "POST /api/invitations/accept",
        "GET /api/auth/sessions", "DELETE /api/auth/sessions/{id}", "POST /api/auth/logout-all",
        "GET /api/health", "GET /api/ping", "POST /api/webhooks/whatsapp", "POST /api/webhooks/whatsapp/status",
        "GET /api/openapi.json", "GET /metrics",
    ]

    /// 403 `forbidden` unless `role` may call `route`.
    static func authorize(_ role: Role, route: String) throws {
        let allowed = table[route] ?? []
        guard allowed.contains(role) else {
            let names = Role.allCases.filter(allowed.contains).map(\.rawValue)
            throw AppError(.forbidden, names.isEmpty
                ? "No role may call this route."
                : "This action needs the \(names.joined(separator: " or ")) role; you are \(role.rawValue).")
        }
    }
}

/// What the handler of a signed-in user's own route gets: the user behind the bearer token.
struct UserContext {
    let userID: Int64
    /// The bearer token itself (logout revokes it).
    let token: String
    let app: AppContext

    var parameters: Parameters { app.parameters }
    func db() -> PGConnection { app.db() }
    var stores: PostgresStores { app.stores }
}

/// What the handler of a workspace route gets: the acting member, resolved and authorized before
/// the handler runs, the route's path captures and the worker's connection and HTTP client.
struct StaffContext {
    let actor: StaffActor
    let app: AppContext

    var workspaceID: Int64 { actor.workspaceID }
    var parameters: Parameters { app.parameters }
    var config: Config { app.config }
    func db() -> PGConnection { app.db() }
    var stores: PostgresStores { app.stores }
    func http() throws -> HTTPClient { try app.http() }
}

/// The staff API's middleware, once per request before the handler (`Router.group`).
enum AuthMiddleware {
    /// `Authorization: Bearer <token>` → the user (401 `unauthorized` / `token_expired`).
    struct SignedIn: ContextMiddleware {
        func resolve(_ request: Request, _ ctx: AppContext) throws -> UserContext {
            let user = try StaffAuth.user(ctx.stores.members, authorization: request.header("authorization"), tokenTTL: ctx.config.tokenTTLSeconds)
            return UserContext(userID: user.userID, token: user.token, app: ctx)
        }
    }

    /// The user, then their membership of the workspace named by `X-Account-Id` (400
    /// `missing_account`, 403 `forbidden`), then the role matrix for the route being handled
    /// (403 `forbidden`).
    struct Staff: ContextMiddleware {
        func resolve(_ request: Request, _ ctx: AppContext) throws -> StaffContext {
            let user = try SignedIn().resolve(request, ctx)
            let actor = try StaffAuth.actor(ctx.stores.members, userID: user.userID, accountHeader: request.header("x-account-id"))
            // Every line logged about this request from here on names the workspace.
            ctx.logger[metadataKey: "workspace_id"] = "\(actor.workspaceID)"
            try RoleMatrix.authorize(actor.role, route: ctx.route)
            return StaffContext(actor: actor, app: ctx)
        }
    }

    static let signedIn = SignedIn()
    static let staff = Staff()
}
