import Domain
import FastCGI
import Foundation

@Sendable func staffSenders(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    return .json(200, ["items": try Senders.list(ctx.db(), workspaceID: actor.workspaceID)])
}

struct LinkBody: Decodable {
    let phone_number: String
    let display_name: String?
    let twilio_subaccount_sid: String?
    let twilio_subaccount_token: String?
}

@Sendable func staffLinkExisting(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    let b: LinkBody = try request.decodeJSON()
    let conn = ctx.db()
    let sender = try Senders.link(conn, http: ctx.http(), config: ctx.config, workspaceID: actor.workspaceID, .init(
        phoneNumber: b.phone_number, displayName: b.display_name ?? "", subaccountSID: b.twilio_subaccount_sid,
        subaccountToken: b.twilio_subaccount_token))
    try Audit.record(conn, actor, action: "sender.link", targetType: "sender", targetID: String(sender.id),
                     details: ["phone_number": sender.phoneNumber])
    return .json(201, sender)
}

struct ProvisionBody: Decodable {
    let clinic_name: String
    let country: String?
    let area_code: String?
}

@Sendable func staffProvision(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    let b: ProvisionBody = try request.decodeJSON()
    let conn = ctx.db()
    let sender = try Senders.provision(conn, http: ctx.http(), config: ctx.config, workspaceID: actor.workspaceID,
                                       .init(clinicName: b.clinic_name, country: b.country ?? "US", areaCode: b.area_code,
                                             idempotencyKey: request.header("idempotency-key")))
    try Audit.record(conn, actor, action: "sender.provision", targetType: "sender", targetID: String(sender.id),
                     details: ["phone_number": sender.phoneNumber, "subaccount_sid": sender.twilioSubaccountSID ?? ""])
    return .json(201, sender)
}

@Sendable func staffDeactivateSender(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    let conn = ctx.db()
    let sender = try Senders.deactivate(conn, workspaceID: actor.workspaceID, id: ctx.id())
    try Audit.record(conn, actor, action: "sender.deactivate", targetType: "sender", targetID: String(sender.id),
                     details: ["phone_number": sender.phoneNumber])
    return .json(200, sender)
}

@Sendable func staffMakePrimary(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    let conn = ctx.db()
    let sender = try Senders.makePrimary(conn, workspaceID: actor.workspaceID, id: ctx.id())
    try Audit.record(conn, actor, action: "sender.make_primary", targetType: "sender", targetID: String(sender.id),
                     details: ["phone_number": sender.phoneNumber])
    return .json(200, sender)
}
