import Domain
import FastCGI
import Foundation

/// The workspace's WhatsApp senders: list, link a number it owns on Twilio, provision a new one,
/// deactivate, make primary.
enum SenderRoutes {
    static func register(in router: inout Router) {
        router.group(AuthMiddleware.staff) { r in
            r.get("/api/whatsapp/senders") { _, ctx in .json(200, ["items": try Senders.list(ctx.db(), workspaceID: ctx.workspaceID)]) }
            r.post("/api/whatsapp/link-existing", linkExisting)
            r.post("/api/whatsapp/provision", provision)
            r.post("/api/whatsapp/senders/{id}/deactivate") { _, ctx in
                let conn = ctx.db()
                let sender = try Senders.deactivate(conn, workspaceID: ctx.workspaceID, id: ctx.parameters.require("id", as: Int64.self))
                try Audit.record(conn, ctx.actor, action: "sender.deactivate", targetType: "sender", targetID: String(sender.id),
                                 details: ["phone_number": sender.phoneNumber])
                return .json(200, sender)
            }
            r.post("/api/whatsapp/senders/{id}/make-primary") { _, ctx in
                let conn = ctx.db()
                let sender = try Senders.makePrimary(conn, workspaceID: ctx.workspaceID, id: ctx.parameters.require("id", as: Int64.self))
                try Audit.record(conn, ctx.actor, action: "sender.make_primary", targetType: "sender", targetID: String(sender.id),
                                 details: ["phone_number": sender.phoneNumber])
                return .json(200, sender)
            }
        }
    }

    struct LinkBody: Decodable {
        let phone_number: String
        let display_name: String?
        let twilio_subaccount_sid: String?
        let twilio_subaccount_token: String?
    }

    @Sendable static func linkExisting(_ request: Request, _ ctx: StaffContext) throws -> Response {
        let b: LinkBody = try request.decodeJSON()
        let conn = ctx.db()
        let sender = try Senders.link(conn, http: ctx.http(), config: ctx.config, workspaceID: ctx.workspaceID, .init(
            phoneNumber: b.phone_number, displayName: b.display_name ?? "", subaccountSID: b.twilio_subaccount_sid,
            subaccountToken: b.twilio_subaccount_token))
        try Audit.record(conn, ctx.actor, action: "sender.link", targetType: "sender", targetID: String(sender.id),
                         details: ["phone_number": sender.phoneNumber])
        return .json(201, sender)
    }

    struct ProvisionBody: Decodable {
        let clinic_name: String
        let country: String?
        let area_code: String?
    }

    @Sendable static func provision(_ request: Request, _ ctx: StaffContext) throws -> Response {
        let b: ProvisionBody = try request.decodeJSON()
        let conn = ctx.db()
        let sender = try Senders.provision(conn, http: ctx.http(), config: ctx.config, workspaceID: ctx.workspaceID,
                                           .init(clinicName: b.clinic_name, country: b.country ?? "US", areaCode: b.area_code,
                                                 idempotencyKey: request.header("idempotency-key")))
        try Audit.record(conn, ctx.actor, action: "sender.provision", targetType: "sender", targetID: String(sender.id),
                         details: ["phone_number": sender.phoneNumber, "subaccount_sid": sender.twilioSubaccountSID ?? ""])
        return .json(201, sender)
    }
}
