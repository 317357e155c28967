import Domain
import FastCGI
import Foundation

/// Patients (every member: the front desk manages patients).
enum PatientRoutes {
    static func register(in router: inout Router) {
        router.group(AuthMiddleware.staff) { r in
            r.get("/api/patients", allow: .everyone) { request, ctx in
                let q = try queryParams(request)
                return .json(200, try Patients.list(ctx.stores.patients, workspaceID: ctx.workspaceID, search: q["search"], cursor: q["cursor"],
                                                    limit: intQuery(q, "limit", default: 50)))
            }
            r.post("/api/patients", allow: .everyone) { request, ctx in
                let body: Patients.CreateInput = try request.decodeJSON()
                return .json(201, try Patients.create(ctx.stores.patients, actor: ctx.actor, body))
            }
            r.get("/api/patients/{id}", allow: .everyone) { _, ctx in
                .json(200, try Patients.get(ctx.stores.patients, workspaceID: ctx.workspaceID, id: ctx.parameters.require("id", as: Int64.self)))
            }
            r.patch("/api/patients/{id}", allow: .everyone) { request, ctx in
                let body: Patients.Update = try request.decodeJSON()
                return .json(200, try Patients.update(ctx.stores.patients, actor: ctx.actor, id: ctx.parameters.require("id", as: Int64.self), body))
            }
        }
    }
}
