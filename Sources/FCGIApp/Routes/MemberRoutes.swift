import Domain
import FastCGI
import Foundation

/// The workspace's members (every member reads; the owner changes).
enum MemberRoutes {
    static func register(in router: inout Router) {
        router.group(AuthMiddleware.staff) { r in
            r.get("/api/members", allow: .everyone) { _, ctx in .json(200, ["items": try Members.list(ctx.stores.members, workspaceID: ctx.workspaceID)]) }
            r.post("/api/members", allow: .owners) { request, ctx in
                // An invitation: the same answer whether or not the email has an account anywhere.
                let body: Members.AddInput = try request.decodeJSON()
                return .json(201, try Invitations.create(ctx.stores.members, actor: ctx.actor, body))
            }
            r.patch("/api/members/{user_id}", allow: .owners) { request, ctx in
                let b: RoleBody = try request.decodeJSON()
                return .json(200, try Members.setRole(ctx.stores.members, actor: ctx.actor, userID: ctx.parameters.require("user_id", as: Int64.self), role: b.role))
            }
            r.delete("/api/members/{user_id}", allow: .owners) { _, ctx in
                try Members.remove(ctx.stores.members, actor: ctx.actor, userID: ctx.parameters.require("user_id", as: Int64.self))
                return Response(status: 204)
            }
        }
    }

    struct RoleBody: Decodable { let role: String }
}
