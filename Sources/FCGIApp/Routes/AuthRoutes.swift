import Domain
import FastCGI
import Foundation

/// Signing in and the signed-in user's own routes (no workspace: `AuthMiddleware.signedIn`).
enum AuthRoutes {
    static func register(in router: inout Router) {
        router.post("/api/auth/login", login)
        router.group(AuthMiddleware.signedIn) { r in
            r.post("/api/auth/logout") { _, ctx in
                try StaffAuth.logout(ctx.stores.members, token: ctx.token)
                return Response(status: 204)
            }
            r.post("/api/auth/password", changePassword)
            r.get("/api/auth/sessions") { _, ctx in
                .json(200, SessionList(items: try Tokens.sessions(ctx.stores.members, userID: ctx.userID, token: ctx.token)))
            }
            r.delete("/api/auth/sessions/{id}") { _, ctx in
                try Tokens.revoke(ctx.stores.members, userID: ctx.userID, sessionID: ctx.parameters.require("id", as: Int64.self))
                return Response(status: 204)
            }
            // Sign out everywhere: every token of the user, this one included.
            r.post("/api/auth/logout-all") { _, ctx in
                .json(200, LoggedOut(revokedTokens: try Tokens.revokeAll(ctx.stores.members, userID: ctx.userID)))
            }
            r.get("/api/me") { _, ctx in .json(200, try StaffAuth.me(ctx.stores.members, userID: ctx.userID)) }
        }
    }

    struct SessionList: Encodable { let items: [Tokens.Session] }
    struct LoggedOut: Encodable {
        let revokedTokens: Int
        enum CodingKeys: String, CodingKey { case revokedTokens = "revoked_tokens" }
    }

    struct LoginBody: Decodable { let email: String; let password: String }

    @Sendable static func login(_ request: Request, _ ctx: RequestContext) throws -> Response {
        let body: LoginBody = try request.decodeJSON()
        // REMOTE_ADDR is nginx's $remote_addr (the TCP peer), which a client cannot forge; see LoginThrottle.
        return .json(200, try StaffAuth.login(ctx.stores.members, email: body.email, password: body.password,
                                              address: request.remoteAddress, userAgent: request.header("user-agent"),
                                              limits: ctx.authLimits))
    }

    struct ChangePasswordBody: Decodable {
        let currentPassword: String
        let newPassword: String
        enum CodingKeys: String, CodingKey { case currentPassword = "current_password", newPassword = "new_password" }
    }

    @Sendable static func changePassword(_ request: Request, _ ctx: UserContext) throws -> Response {
        let body: ChangePasswordBody = try request.decodeJSON()
        return .json(200, try StaffAuth.changePassword(ctx.stores.members, userID: ctx.userID, current: body.currentPassword,
                                                       new: body.newPassword, address: request.remoteAddress,
                                                       userAgent: request.header("user-agent"), limits: ctx.app.authLimits))
    }
}
