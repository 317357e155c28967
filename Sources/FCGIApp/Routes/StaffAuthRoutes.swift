import Domain
import FastCGI
import Foundation

func registerStaffRoutes(_ r: inout Router) {
    r.post("/api/auth/login", staffLogin)
    r.post("/api/auth/logout", staffLogout)
    r.post("/api/auth/password", staffChangePassword)
    r.get("/api/me", staffMe)

    r.post("/api/whatsapp/send", staffSend)
    r.post("/api/whatsapp/send-template", staffSendTemplate)
    r.get("/api/whatsapp/templates", staffTemplates)

    r.get("/api/whatsapp/conversations", staffConversations)
    r.get("/api/whatsapp/conversations/{id}", staffConversation)
    r.delete("/api/whatsapp/conversations/{id}", staffDeleteConversation)
    r.get("/api/whatsapp/conversations/{id}/messages", staffMessages)
    r.post("/api/whatsapp/conversations/{id}/handoff", staffHandoff)
    r.post("/api/whatsapp/conversations/{id}/resume-bot", staffResumeBot)

    r.get("/api/whatsapp/pending-appointments", staffPendingAppointments)
    r.post("/api/whatsapp/pending-appointments/{id}/accept", staffAcceptAppointment)
    r.post("/api/whatsapp/pending-appointments/{id}/reject", staffRejectAppointment)

    r.get("/api/whatsapp/reminder-settings", staffGetReminderSettings)
    r.put("/api/whatsapp/reminder-settings", staffPutReminderSettings)

    r.get("/api/whatsapp/senders", staffSenders)
    r.post("/api/whatsapp/link-existing", staffLinkExisting)
    r.post("/api/whatsapp/provision", staffProvision)
    r.post("/api/whatsapp/senders/{id}/deactivate", staffDeactivateSender)
    r.post("/api/whatsapp/senders/{id}/make-primary", staffMakePrimary)

    r.post("/api/whatsapp/bundle/preview", staffBundlePreview)
    r.post("/api/whatsapp/bundle/send", staffBundleSend)
    r.get("/api/whatsapp/bundle/{id}", staffBundleProgress)

    r.get("/api/whatsapp/audit-log", staffAuditLog)
    r.get("/api/openapi.json", openAPIDocument)
    r.get("/metrics", metricsEndpoint)
}

// MARK: auth

struct LoginBody: Decodable { let email: String; let password: String }

@Sendable func staffLogin(_ request: Request, _ ctx: AppContext) throws -> Response {
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

@Sendable func staffChangePassword(_ request: Request, _ ctx: AppContext) throws -> Response {
    let user = try authenticatedUser(request, ctx)
    let body: ChangePasswordBody = try request.decodeJSON()
    return .json(200, try StaffAuth.changePassword(ctx.db(), userID: user.userID, current: body.currentPassword,
                                                   new: body.newPassword, address: request.remoteAddress, limits: ctx.authLimits))
}

@Sendable func staffLogout(_ request: Request, _ ctx: AppContext) throws -> Response {
    let user = try authenticatedUser(request, ctx)
    try StaffAuth.logout(ctx.db(), token: user.token)
    return Response(status: 204)
}

@Sendable func staffMe(_ request: Request, _ ctx: AppContext) throws -> Response {
    let user = try authenticatedUser(request, ctx)
    return .json(200, try StaffAuth.me(ctx.db(), userID: user.userID))
}

/// Query parameters (repeats: the first wins).
func queryParams(_ request: Request) throws -> FormData { try request.queryItems() }

func intQuery(_ q: FormData, _ name: String, default value: Int) throws -> Int {
    guard let raw = q[name], !raw.isEmpty else { return value }
    guard let n = Int(raw) else { throw AppError.validation(name, "must be an integer.") }
    return n
}
