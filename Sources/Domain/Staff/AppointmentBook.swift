import Foundation

/// Staff's appointment book: list with filters, book (`confirmed` at once), cancel and reschedule,
/// each with an optional WhatsApp notice to the patient in their language. The no-double-booking
/// constraint decides a taken slot (409 `slot_taken`); code never checks first.
public enum AppointmentBook {
    public typealias Filter = AppointmentFilter

    public static let statuses = ["pending_review", "confirmed", "cancelled"]

    /// Earliest first, at most `StaffAppointments.listLimit`. Without `from` and `to`: from now on.
    public static func list(_ store: some AppointmentStore, workspaceID: Int64, _ f: Filter, now: Date = Date()) throws -> [StaffAppointments.View] {
        if let s = f.status, !statuses.contains(s) { throw AppError.validation("status", statuses.joined(separator: ", ") + ".") }
        if let from = f.from, let to = f.to, to <= from { throw AppError.validation("to", "must be after from.") }
        var filter = f
        filter.from = f.from ?? (f.to == nil ? now : nil)
        return try store.list(workspaceID: workspaceID, filter, limit: StaffAppointments.listLimit)
    }

    public struct BookInput: Sendable {
        public var patientID: Int64
        public var doctorID: Int64
        public var startsAt: Date
        public var endsAt: Date?
        public var reason: String?
        public var notify: Bool
        public init(patientID: Int64, doctorID: Int64, startsAt: Date, endsAt: Date? = nil, reason: String? = nil, notify: Bool = false) {
            self.patientID = patientID
            self.doctorID = doctorID
            self.startsAt = startsAt
            self.endsAt = endsAt
            self.reason = reason
            self.notify = notify
        }
    }

    public struct Outcome: Sendable, Encodable {
        public let appointment: StaffAppointments.View
        /// nil when no notice was asked for.
        public let notification: StaffAppointments.Notification?
    }

    static let slotTaken = AppError(.slotTaken, "The doctor already has an appointment at that time.")

    /// A staff booking: `confirmed` at once. The end defaults to the doctor's slot length that weekday (else 30 minutes).
    public static func book(_ store: some AppointmentStore, notifier: some PatientNotifier, actor: StaffActor, _ input: BookInput,
                            now: Date = Date()) throws -> Outcome {
        let reason = input.reason?.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (reason?.count ?? 0) <= 500 else { throw AppError.validation("reason", "at most 500 characters.") }
        // The range first: a date PostgreSQL cannot hold never reaches a query.
        try AppointmentSpan.validate(startsAt: input.startsAt, endsAt: input.endsAt ?? input.startsAt.addingTimeInterval(60), now: now)
        let booking = StaffBooking(workspaceID: actor.workspaceID, patientID: input.patientID, doctorID: input.doctorID, startsAt: input.startsAt,
                                   reason: reason?.isEmpty == true ? nil : reason, userID: actor.userID)
        let result = try store.book(booking, end: { slot in
            let ends = input.endsAt ?? input.startsAt.addingTimeInterval(Double(slot) * 60)
            try AppointmentSpan.validate(startsAt: input.startsAt, endsAt: ends, now: now)
            return ends
        }, audit: { id in
            actor.audit("appointment.create", "appointment", String(id), ["doctor_id": String(input.doctorID), "patient_id": String(input.patientID)])
        })
        let id: Int64
        switch result {
        case .booked(let booked): id = booked
        case .patientNotFound: throw AppError(.patientNotFound, "There is no patient \(input.patientID) in this workspace.")
        case .doctorNotFound: throw AppError(.doctorNotFound, "There is no doctor \(input.doctorID) in this workspace.")
        case .slotTaken: throw slotTaken
        }
        let appointment = try StaffAppointments.get(store, workspaceID: actor.workspaceID, id: id)
        guard input.notify else { return Outcome(appointment: appointment, notification: nil) }
        return Outcome(appointment: appointment, notification: StaffAppointments.notify(
            store, notifier: notifier, actor: actor, appointment: appointment, now: now) { v, lang in
            .template(key: "appt_confirmed", language: lang, variables: v)
        })
    }

    /// Cancels a pending or confirmed appointment (409 `appointment_cancelled` when it already is).
    public static func cancel(_ store: some AppointmentStore, notifier: some PatientNotifier, actor: StaffActor, id: Int64, notify: Bool,
                              now: Date = Date()) throws -> Outcome {
        let appointment: StaffAppointments.View
        switch try store.cancel(workspaceID: actor.workspaceID, id: id, audit: actor.audit("appointment.cancel", "appointment", String(id))) {
        case .done(let current): appointment = current
        case .notFound: throw StaffAppointments.notFound(id)
        case .refused: throw AppError(.appointmentCancelled, "Appointment \(id) is already cancelled.")
        }
        guard notify else { return Outcome(appointment: appointment, notification: nil) }
        return Outcome(appointment: appointment, notification: StaffAppointments.notify(
            store, notifier: notifier, actor: actor, appointment: appointment, now: now) { v, lang in
            .freeform(Templates.fill(lang == "es"
                ? "Hola {patient_name}, su cita con {doctor_name} {when} fue cancelada. Responda a este mensaje si desea otro horario."
                : "Hi {patient_name}, your appointment with {doctor_name} {when} has been cancelled. Reply to this message if you would like another time.", v))
        })
    }

    /// Moves a live appointment to `startsAt` (keeping its length unless `endsAt` is given), within
    /// `AppointmentSpan`'s limits as a booking; 409 `slot_taken` when the doctor has another live
    /// appointment overlapping the new time (in whichever workspace: the answer names none of it).
    public static func reschedule(_ store: some AppointmentStore, notifier: some PatientNotifier, actor: StaffActor, id: Int64, startsAt: Date,
                                  endsAt: Date?, notify: Bool, now: Date = Date()) throws -> Outcome {
        try AppointmentSpan.validate(startsAt: startsAt, endsAt: endsAt ?? startsAt.addingTimeInterval(60), now: now)
        let appointment: StaffAppointments.View
        switch try store.reschedule(workspaceID: actor.workspaceID, id: id, startsAt: startsAt, end: { oldStart, oldEnd in
            let ends = endsAt ?? startsAt.addingTimeInterval(oldEnd.timeIntervalSince(oldStart))
            try AppointmentSpan.validate(startsAt: startsAt, endsAt: ends, now: now)
            return ends
        }, audit: { oldStart in
            actor.audit("appointment.reschedule", "appointment", String(id), ["from": Dates.iso(oldStart), "to": Dates.iso(startsAt)])
        }) {
        case .moved(let moved): appointment = moved
        case .notFound: throw StaffAppointments.notFound(id)
        case .cancelled: throw AppError(.appointmentCancelled, "Appointment \(id) is cancelled; book a new one.")
        case .slotTaken: throw slotTaken
        }
        guard notify else { return Outcome(appointment: appointment, notification: nil) }
        return Outcome(appointment: appointment, notification: StaffAppointments.notify(
            store, notifier: notifier, actor: actor, appointment: appointment, now: now) { v, lang in
            .freeform(Templates.fill(lang == "es"
                ? "Hola {patient_name}, su cita con {doctor_name} se cambió para {when}. Responda a este mensaje si no le conviene."
                : "Hi {patient_name}, your appointment with {doctor_name} has been moved to {when}. Reply to this message if it does not suit you.", v))
        })
    }
}
