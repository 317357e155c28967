import Domain
import FastCGI
import Foundation

/// The workspace's WhatsApp senders: list, link a number it owns on Twilio, provision a new one,
/// deactivate, make primary (each change audited by its use case, in its transaction).
enum SenderRoutes {
    static func register(in router: inout Router) {
        router.group(AuthMiddleware.staff) { r in
            r.get("/api/whatsapp/senders", allow: .everyone) { _, ctx in .json(200, ["items": try Senders.list(ctx.stores.senders, workspaceID: ctx.workspaceID)]) }
            r.post("/api/whatsapp/link-existing", allow: .admins, linkExisting)
            r.post("/api/whatsapp/provision", allow: .admins, provision)
            r.post("/api/whatsapp/senders/{id}/deactivate", allow: .admins, deactivate)
            r.post("/api/whatsapp/senders/{id}/make-primary", allow: .admins) { _, ctx in
                .json(200, try Senders.makePrimary(ctx.stores.senders, actor: ctx.actor, id: ctx.parameters.require("id", as: Int64.self)))
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
        return .json(201, try Senders.link(ctx.stores.senders, http: ctx.http(), config: ctx.config, actor: ctx.actor, .init(
            phoneNumber: b.phone_number, displayName: b.display_name ?? "", subaccountSID: b.twilio_subaccount_sid,
            subaccountToken: b.twilio_subaccount_token)))
    }

    struct DeactivateBody: Decodable {
        let release: Bool?
        let mode: String?
    }

    /// `{"release": true|false}` or `{"mode": "release"|"keep"}`; no body keeps the number.
    @Sendable static func deactivate(_ request: Request, _ ctx: StaffContext) throws -> Response {
        let id = try ctx.parameters.require("id", as: Int64.self)
        let b: DeactivateBody = request.body.isEmpty ? DeactivateBody(release: nil, mode: nil) : try request.decodeJSON()
        let release = try Senders.releases(release: b.release, mode: b.mode)
        return .json(200, try Senders.deactivate(ctx.stores.senders, http: release ? ctx.http() : nil, config: ctx.config, actor: ctx.actor,
                                                 id: id, release: release))
    }

    struct ProvisionBody: Decodable {
        let clinic_name: String
        let country: String?
        let area_code: String?
    }

    @Sendable static func provision(_ request: Request, _ ctx: StaffContext) throws -> Response {
        let b: ProvisionBody = try request.decodeJSON()
        return .json(201, try Senders.provision(ctx.stores.senders, http: ctx.http(), config: ctx.config, actor: ctx.actor,
                                                .init(clinicName: b.clinic_name, country: b.country ?? "US", areaCode: b.area_code,
                                                      idempotencyKey: request.header("idempotency-key"))))
    }
}
