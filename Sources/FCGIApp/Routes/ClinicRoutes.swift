import Domain
import FastCGI
import Foundation

/// The clinic's profile (what the bot tells patients) and the templates' Content SIDs.
enum ClinicRoutes {
    static func register(in router: inout Router) {
        router.group(AuthMiddleware.staff) { r in
            r.get("/api/clinic", allow: .everyone) { _, ctx in .json(200, try ClinicProfile.get(ctx.stores.clinic, workspaceID: ctx.workspaceID)) }
            r.put("/api/clinic", allow: .admins) { request, ctx in
                let update: ClinicProfile.Update = try request.decodeJSON()
                return .json(200, try ClinicProfile.put(ctx.stores.clinic, actor: ctx.actor, update))
            }
            r.put("/api/whatsapp/templates/{template_id}/content-sids", allow: .admins) { request, ctx in
                let update: ContentSids.Update = try request.decodeJSON()
                let key = try ctx.parameters.require("template_id", as: String.self)
                return .json(200, ContentSidsView(template_id: key, content_sids: try ContentSids.put(ctx.stores.clinic, actor: ctx.actor, templateKey: key, update)))
            }
        }
    }

    struct ContentSidsView: Encodable {
        let template_id: String
        let content_sids: [String: String]
    }
}
