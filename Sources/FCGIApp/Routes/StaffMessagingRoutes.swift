import Domain
import FastCGI
import Foundation

// MARK: send

struct SendBody: Decodable { let patient_id: FlexibleID; let body: String }

@Sendable func staffSend(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    let b: SendBody = try request.decodeJSON()
    return .json(201, try StaffSend.send(ctx.db(), http: ctx.http(), config: ctx.config, actor: actor, patientID: b.patient_id.value, body: b.body))
}

struct SendTemplateBody: Decodable {
    let patient_id: FlexibleID
    let template_id: String
    let variables: [String: String]?
    let language: String?
}

@Sendable func staffSendTemplate(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    let b: SendTemplateBody = try request.decodeJSON()
    return .json(201, try StaffSend.sendTemplate(ctx.db(), http: ctx.http(), config: ctx.config, actor: actor, patientID: b.patient_id.value,
                                                 templateKey: b.template_id, language: b.language, variables: b.variables ?? [:]))
}

struct TemplateView: Encodable {
    let id: String
    let category: String
    /// Placeholders of the bodies, in ContentVariables order ("1", "2", …).
    let variables: [String]
    /// What the product guide's clients send (`date`/`time` for `when`; doctor and clinic filled in).
    let required_variables: [String]
    let bodies: [String: String]
    let content_sids: [String: String]
}

@Sendable func staffTemplates(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    let conn = ctx.db()
    var items: [TemplateView] = []
    for t in Templates.list() {
        var sids: [String: String] = [:]
        for lang in Templates.languages {
            if let sid = try Templates.contentSid(conn, workspaceID: actor.workspaceID, key: t.key, language: lang) { sids[lang] = sid }
        }
        items.append(TemplateView(id: t.key, category: t.category, variables: t.variables, required_variables: t.guideVariables,
                                  bodies: t.bodies, content_sids: sids))
    }
    return .json(200, ["templates": items])
}

// MARK: conversations

@Sendable func staffConversations(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    let q = try queryParams(request)
    return .json(200, try Conversations.list(ctx.db(), workspaceID: actor.workspaceID, q: q["q"], cursor: q["cursor"],
                                             since: q["since"], limit: intQuery(q, "limit", default: 30)))
}

@Sendable func staffConversation(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    return .json(200, try Conversations.get(ctx.db(), workspaceID: actor.workspaceID, id: ctx.id()))
}

@Sendable func staffMessages(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    let q = try queryParams(request)
    return .json(200, try Conversations.messages(ctx.db(), workspaceID: actor.workspaceID, conversationID: ctx.id(), cursor: q["cursor"],
                                                 since: q["since"], limit: intQuery(q, "limit", default: 50)))
}

@Sendable func staffDeleteConversation(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    try Conversations.delete(ctx.db(), actor: actor, id: ctx.id())
    return Response(status: 204)
}

@Sendable func staffHandoff(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    return .json(200, try Conversations.setState(ctx.db(), actor: actor, id: ctx.id(), state: "handoff"))
}

@Sendable func staffResumeBot(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    return .json(200, try Conversations.setState(ctx.db(), actor: actor, id: ctx.id(), state: "bot"))
}

// MARK: appointments

@Sendable func staffPendingAppointments(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    return .json(200, ["items": try StaffAppointments.pending(ctx.db(), workspaceID: actor.workspaceID)])
}

@Sendable func staffAcceptAppointment(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    return .json(200, try StaffAppointments.accept(ctx.db(), http: ctx.http(), config: ctx.config, actor: actor, id: ctx.id()))
}

@Sendable func staffRejectAppointment(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    return .json(200, try StaffAppointments.reject(ctx.db(), http: ctx.http(), config: ctx.config, actor: actor, id: ctx.id()))
}

// MARK: reminder settings

@Sendable func staffGetReminderSettings(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    return .json(200, try ReminderSettings.get(ctx.db(), workspaceID: actor.workspaceID))
}

@Sendable func staffPutReminderSettings(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    let update: ReminderSettings.Update = try request.decodeJSON()
    return .json(200, try ReminderSettings.put(ctx.db(), actor: actor, update))
}

// MARK: audit

@Sendable func staffAuditLog(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    let q = try queryParams(request)
    let before = try q["before"].flatMap { s -> Int64? in
        guard !s.isEmpty else { return nil }
        guard let n = Int64(s) else { throw AppError.validation("before", "must be an entry id.") }
        return n
    }
    let limit = min(max(try intQuery(q, "limit", default: 100), 1), 500)
    return .json(200, ["items": try Audit.list(ctx.db(), workspaceID: actor.workspaceID, before: before, limit: limit)])
}
