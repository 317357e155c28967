import Domain
import FastCGI
import Foundation

/// The appointment book (every member books, cancels and reschedules) and the bot's bookings
/// awaiting review (accept or reject; the patient is told).
enum AppointmentRoutes {
    static func register(in router: inout Router) {
        router.group(AuthMiddleware.staff) { r in
            r.get("/api/appointments", allow: .everyone) { request, ctx in
                let q = try queryParams(request)
                let filter = AppointmentBook.Filter(from: try dateQuery(q, "from"), to: try dateQuery(q, "to"), status: q["status"].flatMap { $0.isEmpty ? nil : $0 },
                                                    doctorID: try idQuery(q, "doctor_id"), patientID: try idQuery(q, "patient_id"))
                return .json(200, ["items": try AppointmentBook.list(ctx.stores.appointments, workspaceID: ctx.workspaceID, filter)])
            }
            r.post("/api/appointments", allow: .everyone, book)
            r.get("/api/appointments/{id}", allow: .everyone) { _, ctx in
                .json(200, try StaffAppointments.get(ctx.stores.appointments, workspaceID: ctx.workspaceID, id: ctx.parameters.require("id", as: Int64.self)))
            }
            r.post("/api/appointments/{id}/cancel", allow: .everyone) { request, ctx in
                let b: NotifyBody = request.body.isEmpty ? NotifyBody(notify: nil) : try request.decodeJSON()
                return .json(200, try AppointmentBook.cancel(ctx.stores.appointments, notifier: OutboundMessenger(ctx.stores.messages, http: ctx.http(), config: ctx.config), actor: ctx.actor,
                                                             id: ctx.parameters.require("id", as: Int64.self), notify: b.notify ?? false))
            }
            r.post("/api/appointments/{id}/reschedule", allow: .everyone) { request, ctx in
                let b: RescheduleBody = try request.decodeJSON()
                return .json(200, try AppointmentBook.reschedule(ctx.stores.appointments, notifier: OutboundMessenger(ctx.stores.messages, http: ctx.http(), config: ctx.config), actor: ctx.actor,
                                                                 id: ctx.parameters.require("id", as: Int64.self),
                                                                 startsAt: b.starts_at, endsAt: b.ends_at, notify: b.notify ?? false))
            }

            r.get("/api/whatsapp/pending-appointments", allow: .everyone) { _, ctx in
                .json(200, ["items": try StaffAppointments.pending(ctx.stores.appointments, workspaceID: ctx.workspaceID)])
            }
            r.post("/api/whatsapp/pending-appointments/{id}/accept", allow: .everyone) { _, ctx in
                .json(200, try StaffAppointments.accept(ctx.stores.appointments, notifier: OutboundMessenger(ctx.stores.messages, http: ctx.http(), config: ctx.config), actor: ctx.actor,
                                                        id: ctx.parameters.require("id", as: Int64.self)))
            }
            r.post("/api/whatsapp/pending-appointments/{id}/reject", allow: .everyone) { _, ctx in
                .json(200, try StaffAppointments.reject(ctx.stores.appointments, notifier: OutboundMessenger(ctx.stores.messages, http: ctx.http(), config: ctx.config), actor: ctx.actor,
                                                        id: ctx.parameters.require("id", as: Int64.self)))
            }
        }
    }

    struct BookBody: Decodable {
        let patient_id: FlexibleID
        let doctor_id: FlexibleID
        let starts_at: Date
        let ends_at: Date?
        let reason: String?
        let notify: Bool?
    }

    @Sendable static func book(_ request: Request, _ ctx: StaffContext) throws -> Response {
        let b: BookBody = try request.decodeJSON()
        return .json(201, try AppointmentBook.book(ctx.stores.appointments, notifier: OutboundMessenger(ctx.stores.messages, http: ctx.http(), config: ctx.config), actor: ctx.actor, .init(
            patientID: b.patient_id.value, doctorID: b.doctor_id.value, startsAt: b.starts_at, endsAt: b.ends_at, reason: b.reason,
            notify: b.notify ?? false)))
    }

    struct NotifyBody: Decodable { let notify: Bool? }

    struct RescheduleBody: Decodable { let starts_at: Date; let ends_at: Date?; let notify: Bool? }
}
