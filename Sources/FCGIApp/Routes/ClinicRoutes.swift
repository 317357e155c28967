import Domain
import FastCGI
import Foundation

/// The clinic around the inbox: profile, Content SIDs, doctors' availability and free slots.
func registerClinicRoutes(_ r: inout Router) {
    r.get("/api/clinic", clinicGet)
    r.put("/api/clinic", clinicPut)
    r.put("/api/whatsapp/templates/{template_id}/content-sids", clinicPutContentSids)

    r.get("/api/doctors", doctorsList)
    r.get("/api/doctors/{id}/availability", doctorAvailability)
    r.put("/api/doctors/{id}/availability", doctorPutAvailability)
    r.get("/api/doctors/{id}/free-slots", doctorFreeSlots)

    r.get("/api/patients", patientsList)
    r.post("/api/patients", patientsCreate)
    r.get("/api/patients/{id}", patientsGet)
    r.patch("/api/patients/{id}", patientsUpdate)

    r.get("/api/appointments", appointmentsList)
    r.post("/api/appointments", appointmentsCreate)
    r.get("/api/appointments/{id}", appointmentsGet)
    r.post("/api/appointments/{id}/cancel", appointmentsCancel)
    r.post("/api/appointments/{id}/reschedule", appointmentsReschedule)

    r.get("/api/whatsapp/bundles", bundlesHistory)

    r.get("/api/members", membersList)
    r.post("/api/members", membersAdd)
    r.patch("/api/members/{user_id}", membersSetRole)
    r.delete("/api/members/{user_id}", membersRemove)
}

@Sendable func clinicGet(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    return .json(200, try ClinicProfile.get(ctx.db(), workspaceID: actor.workspaceID))
}

@Sendable func clinicPut(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    let update: ClinicProfile.Update = try request.decodeJSON()
    return .json(200, try ClinicProfile.put(ctx.db(), actor: actor, update))
}

@Sendable func clinicPutContentSids(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    let update: ContentSids.Update = try request.decodeJSON()
    let key = try ctx.param("template_id")
    return .json(200, ContentSidsView(template_id: key, content_sids: try ContentSids.put(ctx.db(), actor: actor, templateKey: key, update)))
}

struct ContentSidsView: Encodable {
    let template_id: String
    let content_sids: [String: String]
}

@Sendable func doctorsList(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    return .json(200, ["items": try Doctors.list(ctx.db(), workspaceID: actor.workspaceID)])
}

@Sendable func doctorAvailability(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    return .json(200, try Doctors.availability(ctx.db(), workspaceID: actor.workspaceID, doctorID: ctx.id()))
}

@Sendable func doctorPutAvailability(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    let body: Doctors.Availability = try request.decodeJSON()
    return .json(200, try Doctors.putAvailability(ctx.db(), actor: actor, doctorID: ctx.id(), body))
}

@Sendable func doctorFreeSlots(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    let q = try queryParams(request)
    let from = try dateQuery(q, "from") ?? Date()
    let days = try intQuery(q, "days", default: 7)
    return .json(200, try Doctors.freeSlots(ctx.db(), workspaceID: actor.workspaceID, doctorID: ctx.id(), from: from, days: days))
}

/// An ISO 8601 date-time (`2026-12-03T09:00:00Z`, `…-06:00`) query parameter.
func dateQuery(_ q: FormData, _ name: String) throws -> Date? {
    guard let raw = q[name], !raw.isEmpty else { return nil }
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    if let d = f.date(from: raw) { return d }
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let d = f.date(from: raw) { return d }
    throw AppError.validation(name, "an ISO 8601 date-time, e.g. 2026-12-03T09:00:00Z.")
}

// MARK: patients (every member: the front desk manages patients)

@Sendable func patientsList(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    let q = try queryParams(request)
    return .json(200, try Patients.list(ctx.db(), workspaceID: actor.workspaceID, search: q["search"], cursor: q["cursor"],
                                        limit: intQuery(q, "limit", default: 50)))
}

@Sendable func patientsCreate(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    let body: Patients.CreateInput = try request.decodeJSON()
    return .json(201, try Patients.create(ctx.db(), actor: actor, body))
}

@Sendable func patientsGet(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    return .json(200, try Patients.get(ctx.db(), workspaceID: actor.workspaceID, id: ctx.id()))
}

@Sendable func patientsUpdate(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    let body: Patients.Update = try request.decodeJSON()
    return .json(200, try Patients.update(ctx.db(), actor: actor, id: ctx.id(), body))
}

// MARK: appointments (every member books, cancels and reschedules)

func idQuery(_ q: FormData, _ name: String) throws -> Int64? {
    guard let raw = q[name], !raw.isEmpty else { return nil }
    guard let id = FlexibleID.parse(raw) else { throw AppError.validation(name, "must be an id.") }
    return id
}

@Sendable func appointmentsList(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    let q = try queryParams(request)
    let filter = AppointmentBook.Filter(from: try dateQuery(q, "from"), to: try dateQuery(q, "to"), status: q["status"].flatMap { $0.isEmpty ? nil : $0 },
                                        doctorID: try idQuery(q, "doctor_id"), patientID: try idQuery(q, "patient_id"))
    return .json(200, ["items": try AppointmentBook.list(ctx.db(), workspaceID: actor.workspaceID, filter)])
}

@Sendable func appointmentsGet(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    return .json(200, try StaffAppointments.get(ctx.db(), workspaceID: actor.workspaceID, id: ctx.id()))
}

struct BookBody: Decodable {
    let patient_id: FlexibleID
    let doctor_id: FlexibleID
    let starts_at: Date
    let ends_at: Date?
    let reason: String?
    let notify: Bool?
}

@Sendable func appointmentsCreate(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    let b: BookBody = try request.decodeJSON()
    return .json(201, try AppointmentBook.book(ctx.db(), http: ctx.http(), config: ctx.config, actor: actor, .init(
        patientID: b.patient_id.value, doctorID: b.doctor_id.value, startsAt: b.starts_at, endsAt: b.ends_at, reason: b.reason,
        notify: b.notify ?? false)))
}

struct NotifyBody: Decodable { let notify: Bool? }

@Sendable func appointmentsCancel(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    let b: NotifyBody = request.body.isEmpty ? NotifyBody(notify: nil) : try request.decodeJSON()
    return .json(200, try AppointmentBook.cancel(ctx.db(), http: ctx.http(), config: ctx.config, actor: actor, id: ctx.id(), notify: b.notify ?? false))
}

struct RescheduleBody: Decodable { let starts_at: Date; let ends_at: Date?; let notify: Bool? }

@Sendable func appointmentsReschedule(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    let b: RescheduleBody = try request.decodeJSON()
    return .json(200, try AppointmentBook.reschedule(ctx.db(), http: ctx.http(), config: ctx.config, actor: actor, id: ctx.id(),
                                                     startsAt: b.starts_at, endsAt: b.ends_at, notify: b.notify ?? false))
}

// MARK: members (every member reads; the owner changes)

@Sendable func membersList(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    return .json(200, ["items": try Members.list(ctx.db(), workspaceID: actor.workspaceID)])
}

@Sendable func membersAdd(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    let body: Members.AddInput = try request.decodeJSON()
    let added = try Members.add(ctx.db(), actor: actor, body)
    return .json(201, added.member)
}

struct RoleBody: Decodable { let role: String }

@Sendable func membersSetRole(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    let b: RoleBody = try request.decodeJSON()
    return .json(200, try Members.setRole(ctx.db(), actor: actor, userID: ctx.id("user_id"), role: b.role))
}

@Sendable func membersRemove(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    try Members.remove(ctx.db(), actor: actor, userID: ctx.id("user_id"))
    return Response(status: 204)
}

// MARK: bundles history

@Sendable func bundlesHistory(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    let q = try queryParams(request)
    return .json(200, try Bundles.history(ctx.db(), workspaceID: actor.workspaceID, before: try idQuery(q, "cursor"),
                                          limit: intQuery(q, "limit", default: 20)))
}
