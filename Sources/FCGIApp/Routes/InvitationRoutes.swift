import Domain
import FastCGI
import Foundation

/// Invitations: the workspace's owners list and withdraw the open ones (`POST /api/members` creates
/// them); the invitee, holding the link's token and no workspace, looks the invitation up and accepts
/// it. The token travels in the body, never in a URL (URLs reach access logs).
enum InvitationRoutes {
    static func register(in router: inout Router) {
        router.post("/api/invitations/lookup") { request, ctx in
            let body: TokenBody = try request.decodeJSON()
            return .json(200, try Invitations.preview(ctx.stores.members, token: body.token))
        }
        router.post("/api/invitations/accept") { request, ctx in
            let body: Invitations.AcceptInput = try request.decodeJSON()
            // REMOTE_ADDR as at login (see LoginThrottle): a wrong password of an existing account counts there.
            return .json(200, try Invitations.accept(ctx.stores.members, body, address: request.remoteAddress,
                                                       userAgent: request.header("user-agent"), limits: ctx.authLimits))
        }
        router.group(AuthMiddleware.staff) { r in
            r.get("/api/invitations", allow: .owners) { _, ctx in .json(200, ["items": try Invitations.list(ctx.stores.members, workspaceID: ctx.workspaceID)]) }
            r.delete("/api/invitations/{id}", allow: .owners) { _, ctx in
                try Invitations.revoke(ctx.stores.members, actor: ctx.actor, id: ctx.parameters.require("id", as: Int64.self))
                return Response(status: 204)
            }
        }
    }

    struct TokenBody: Decodable { let token: String }
}
