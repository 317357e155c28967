import Domain
import FastCGI
import Foundation

/// The workspace's reminder settings (every member reads; admins change).
enum ReminderRoutes {
    static func register(in router: inout Router) {
        router.group(AuthMiddleware.staff) { r in
            r.get("/api/whatsapp/reminder-settings", allow: .everyone) { _, ctx in .json(200, try ReminderSettings.get(ctx.stores.clinic, workspaceID: ctx.workspaceID)) }
            r.put("/api/whatsapp/reminder-settings", allow: .admins) { request, ctx in
                let update: ReminderSettings.Update = try request.decodeJSON()
                return .json(200, try ReminderSettings.put(ctx.stores.clinic, actor: ctx.actor, update))
            }
        }
    }
}
