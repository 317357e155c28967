import Domain
import FastCGI
import Foundation

/// The inbox: sending free text and templates, the template list, conversations and their messages.
enum MessagingRoutes {
    static func register(in router: inout Router) {
        router.group(AuthMiddleware.staff) { r in
            r.post("/api/whatsapp/send", allow: .everyone) { request, ctx in
                let b: SendBody = try request.decodeJSON()
                return .json(201, try StaffSend.send(ctx.stores.messages, audit: ctx.stores.audit, http: ctx.http(), config: ctx.config, actor: ctx.actor, patientID: b.patient_id.value, body: b.body,
                                                     idempotencyKey: request.header("idempotency-key")))
            }
            r.post("/api/whatsapp/send-template", allow: .everyone, sendTemplate)
            r.get("/api/whatsapp/templates", allow: .everyone, templates)

            r.get("/api/whatsapp/conversations", allow: .everyone) { request, ctx in
                let q = try queryParams(request)
                return .json(200, try Conversations.list(ctx.stores.inbox, workspaceID: ctx.workspaceID, q: q["q"], cursor: q["cursor"],
                                                         since: q["since"], limit: intQuery(q, "limit", default: 30)))
            }
            r.get("/api/whatsapp/conversations/{id}", allow: .everyone) { _, ctx in
                .json(200, try Conversations.get(ctx.stores.inbox, workspaceID: ctx.workspaceID, id: ctx.parameters.require("id", as: Int64.self)))
            }
            r.delete("/api/whatsapp/conversations/{id}", allow: .everyone) { _, ctx in
                try Conversations.delete(ctx.stores.inbox, actor: ctx.actor, id: ctx.parameters.require("id", as: Int64.self))
                return Response(status: 204)
            }
            r.get("/api/whatsapp/conversations/{id}/messages", allow: .everyone) { request, ctx in
                let q = try queryParams(request)
                return .json(200, try Conversations.messages(ctx.stores.inbox, workspaceID: ctx.workspaceID, conversationID: ctx.parameters.require("id", as: Int64.self),
                                                             cursor: q["cursor"], since: q["since"], limit: intQuery(q, "limit", default: 50)))
            }
            r.post("/api/whatsapp/conversations/{id}/handoff", allow: .everyone) { _, ctx in
                .json(200, try Conversations.setState(ctx.stores.inbox, actor: ctx.actor, id: ctx.parameters.require("id", as: Int64.self), state: "handoff"))
            }
            r.post("/api/whatsapp/conversations/{id}/resume-bot", allow: .everyone) { _, ctx in
                .json(200, try Conversations.setState(ctx.stores.inbox, actor: ctx.actor, id: ctx.parameters.require("id", as: Int64.self), state: "bot"))
            }
        }
    }

    struct SendBody: Decodable { let patient_id: FlexibleID; let body: String }

    struct SendTemplateBody: Decodable {
        let patient_id: FlexibleID
        let template_id: String
        let variables: [String: String]?
        let language: String?
    }

    @Sendable static func sendTemplate(_ request: Request, _ ctx: StaffContext) throws -> Response {
        let b: SendTemplateBody = try request.decodeJSON()
        return .json(201, try StaffSend.sendTemplate(ctx.stores.messages, audit: ctx.stores.audit, http: ctx.http(), config: ctx.config, actor: ctx.actor, patientID: b.patient_id.value,
                                                     templateKey: b.template_id, language: b.language, variables: b.variables ?? [:],
                                                     idempotencyKey: request.header("idempotency-key")))
    }

    @Sendable static func templates(_ request: Request, _ ctx: StaffContext) throws -> Response {
        .json(200, ["templates": try Templates.catalogue(ctx.stores.messages, workspaceID: ctx.workspaceID)])
    }
}
