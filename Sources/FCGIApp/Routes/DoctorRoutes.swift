import Domain
import FastCGI
import Foundation

/// Doctors, their weekly availability and time off, and the free slots the bot offers.
enum DoctorRoutes {
    static func register(in router: inout Router) {
        router.group(AuthMiddleware.staff) { r in
            r.get("/api/doctors", allow: .everyone) { _, ctx in .json(200, ["items": try Doctors.list(ctx.stores.appointments, workspaceID: ctx.workspaceID)]) }
            r.get("/api/doctors/{id}/availability", allow: .everyone) { _, ctx in
                .json(200, try Doctors.availability(ctx.stores.appointments, workspaceID: ctx.workspaceID, doctorID: ctx.parameters.require("id", as: Int64.self)))
            }
            // A doctor changes their own (the use case refuses another doctor's); admins anyone's.
            r.put("/api/doctors/{id}/availability", allow: [.owner, .adminDoctor, .doctor]) { request, ctx in
                let body: Doctors.Availability = try request.decodeJSON()
                return .json(200, try Doctors.putAvailability(ctx.stores.appointments, actor: ctx.actor, doctorID: ctx.parameters.require("id", as: Int64.self), body))
            }
            r.get("/api/doctors/{id}/free-slots", allow: .everyone) { request, ctx in
                let q = try queryParams(request)
                let from = try dateQuery(q, "from") ?? Date()
                let days = try intQuery(q, "days", default: OfferPolicy.staffDefaultDays)
                return .json(200, try Doctors.freeSlots(ctx.stores.appointments, workspaceID: ctx.workspaceID, doctorID: ctx.parameters.require("id", as: Int64.self),
                                                        from: from, days: days))
            }
        }
    }
}
