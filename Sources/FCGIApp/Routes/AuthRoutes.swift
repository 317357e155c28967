import Domain
import FastCGI
import Foundation

/// Signing in and the signed-in user's own routes (no workspace: `AuthMiddleware.signedIn`).
enum AuthRoutes {
    static func register(in router: inout Router) {
        router.post("/api/auth/login", login)
        router.group(AuthMiddleware.signedIn) { r in
            r.post("/api/auth/logout") { _, ctx in
                try StaffAuth.logout(ctx.db(), token: ctx.token)
                return Response(status: 204)
            }
            r.post("/api/auth/password", changePassword)
            r.get("/api/me") { _, ctx in .json(200, try StaffAuth.me(ctx.db(), userID: ctx.userID)) }
        }
    }

    struct LoginBody: Decodable { let email: String; let password: String }

    @Sendable static func login(_ request: Request, _ ctx: AppContext) throws -> Response {
        let body: LoginBody = try request.decodeJSON()
        // REMOTE_ADDR is nginx's $remote_addr (the TCP peer), which a client cannot forge; see LoginThrottle.
        return .json(200, try StaffAuth.login(ctx.db(), email: body.email, password: body.password,
                                              address: request.remoteAddress, limits: ctx.authLimits))
    }

    struct ChangePasswordBody: Decodable {
        let currentPassword: String
        let newPassword: String
        enum CodingKeys: String, CodingKey { case currentPassword = "current_password", newPassword = "new_password" }
    }

    @Sendable static func changePassword(_ request: Request, _ ctx: UserContext) throws -> Response {
        let body: ChangePasswordBody = try request.decodeJSON()
        return .json(200, try StaffAuth.changePassword(ctx.db(), userID: ctx.userID, current: body.currentPassword,
                                                       new: body.newPassword, address: request.remoteAddress, limits: ctx.app.authLimits))
    }
}
