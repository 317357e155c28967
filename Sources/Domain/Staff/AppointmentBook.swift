import Foundation
import MedsyncConfig
import HTTPClient
import Postgres

/// Staff's appointment book: list with filters, book (`confirmed` at once), cancel and reschedule,
/// each with an optional WhatsApp notice to the patient in their language. The no-double-booking
/// index decides a taken slot (409 `slot_taken`); code never checks first.
public enum AppointmentBook {
    public struct Filter: Sendable {
        public var from: Date?
        public var to: Date?
        public var status: String?
        public var doctorID: Int64?
        public var patientID: Int64?
        public init(from: Date? = nil, to: Date? = nil, status: String? = nil, doctorID: Int64? = nil, patientID: Int64? = nil) {
            self.from = from
            self.to = to
            self.status = status
            self.doctorID = doctorID
            self.patientID = patientID
        }
    }

    public static let statuses = ["pending_review", "confirmed", "cancelled"]

    /// Earliest first, at most 500. Without `from` and `to`: from now on.
    public static func list(_ conn: PGConnection, workspaceID: Int64, _ f: Filter, now: Date = Date()) throws -> [StaffAppointments.View] {
        if let s = f.status, !statuses.contains(s) { throw AppError.validation("status", statuses.joined(separator: ", ") + ".") }
        if let from = f.from, let to = f.to, to <= from { throw AppError.validation("to", "must be after from.") }
        let from = f.from ?? (f.to == nil ? now : nil)
        return try conn.query("""
            \(unescaped: StaffAppointments.select)
             WHERE a.workspace_id = \(workspaceID)
               AND (\(from)::timestamptz IS NULL OR a.starts_at >= \(from)::timestamptz)
               AND (\(f.to)::timestamptz IS NULL OR a.starts_at < \(f.to)::timestamptz)
               AND (\(f.status)::text IS NULL OR a.status = \(f.status)::text)
               AND (\(f.doctorID)::bigint IS NULL OR a.doctor_id = \(f.doctorID)::bigint)
               AND (\(f.patientID)::bigint IS NULL OR a.patient_id = \(f.patientID)::bigint)
             ORDER BY a.starts_at, a.id LIMIT 500
            """)
            .map(StaffAppointments.View.init(row:))
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
    public static func book(_ conn: PGConnection, http: HTTPClient, config: Config, actor: StaffActor, _ input: BookInput,
                            now: Date = Date()) throws -> Outcome {
        let reason = input.reason?.trimmingCharacters(in: .whitespacesAndNewlines)
        guard (reason?.count ?? 0) <= 500 else { throw AppError.validation("reason", "at most 500 characters.") }
        // The range first: a date PostgreSQL cannot hold never reaches a query.
        try AppointmentSpan.validate(startsAt: input.startsAt, endsAt: input.endsAt ?? input.startsAt.addingTimeInterval(60), now: now)
        let id: Int64 = try conn.transaction {
            guard try conn.query("SELECT 1 FROM patients WHERE workspace_id = \(actor.workspaceID) AND id = \(input.patientID)").count == 1 else {
                throw AppError(.patientNotFound, "There is no patient \(input.patientID) in this workspace.")
            }
            guard let slot = try conn.query("""
                SELECT COALESCE((SELECT a.slot_minutes FROM doctor_availability a, workspaces w
                                  WHERE w.id = m.workspace_id AND a.workspace_id = w.id AND a.doctor_id = m.user_id
                                    AND a.weekday = extract(dow FROM \(input.startsAt)::timestamptz AT TIME ZONE w.timezone)
                                  ORDER BY a.start_time LIMIT 1), 30) AS minutes
                  FROM memberships m WHERE m.workspace_id = \(actor.workspaceID) AND m.user_id = \(input.doctorID) AND m.role IN ('doctor', 'admin_doctor')
                """).first?.decode(Int.self, "minutes") else {
                throw AppError(.doctorNotFound, "There is no doctor \(input.doctorID) in this workspace.")
            }
            let ends = input.endsAt ?? input.startsAt.addingTimeInterval(Double(slot) * 60)
            try AppointmentSpan.validate(startsAt: input.startsAt, endsAt: ends, now: now)
            guard let row = try conn.query("""
                INSERT INTO appointments (workspace_id, patient_id, doctor_id, starts_at, ends_at, status, reason,
                                          reviewed_by_user_id, reviewed_at, created_by_user_id)
                VALUES (\(actor.workspaceID), \(input.patientID), \(input.doctorID), \(input.startsAt), \(ends), 'confirmed',
                        \(reason?.isEmpty == true ? nil : reason), \(actor.userID), now(), \(actor.userID))
                ON CONFLICT ON CONSTRAINT appointments_no_double_booking DO NOTHING
                RETURNING id
                """).first else {
                throw slotTaken
            }
            let id = try row.decode(Int64.self, "id")
            try Audit.record(conn, actor, action: "appointment.create", targetType: "appointment", targetID: String(id),
                             details: ["doctor_id": String(input.doctorID), "patient_id": String(input.patientID)])
            return id
        }
        let appointment = try StaffAppointments.get(conn, workspaceID: actor.workspaceID, id: id)
        guard input.notify else { return Outcome(appointment: appointment, notification: nil) }
        return Outcome(appointment: appointment, notification: StaffAppointments.notify(
            conn, http: http, config: config, actor: actor, appointment: appointment, now: now) { v, lang in
            .template(key: "appt_confirmed", language: lang, variables: v)
        })
    }

    /// Cancels a pending or confirmed appointment (409 `appointment_cancelled` when it already is).
    public static func cancel(_ conn: PGConnection, http: HTTPClient, config: Config, actor: StaffActor, id: Int64, notify: Bool,
                              now: Date = Date()) throws -> Outcome {
        let appointment: StaffAppointments.View = try conn.transaction {
            let n = try conn.execute("""
                UPDATE appointments SET status = 'cancelled', cancelled_at = now()
                 WHERE workspace_id = \(actor.workspaceID) AND id = \(id) AND status <> 'cancelled'
                """)
            let current = try StaffAppointments.get(conn, workspaceID: actor.workspaceID, id: id)
            guard n == 1 else { throw AppError(.appointmentCancelled, "Appointment \(id) is already cancelled.") }
            try Audit.record(conn, actor, action: "appointment.cancel", targetType: "appointment", targetID: String(id))
            return current
        }
        guard notify else { return Outcome(appointment: appointment, notification: nil) }
        return Outcome(appointment: appointment, notification: StaffAppointments.notify(
            conn, http: http, config: config, actor: actor, appointment: appointment, now: now) { v, lang in
            .freeform(Templates.fill(lang == "es"
                ? "Hola {patient_name}, su cita con {doctor_name} {when} fue cancelada. Responda a este mensaje si desea otro horario."
                : "Hi {patient_name}, your appointment with {doctor_name} {when} has been cancelled. Reply to this message if you would like another time.", v))
        })
    }

    /// Moves a live appointment to `startsAt` (keeping its length unless `endsAt` is given), within
    /// `AppointmentSpan`'s limits as a booking; 409 `slot_taken` when the doctor has another live
    /// appointment overlapping the new time (in whichever workspace: the answer names none of it).
    public static func reschedule(_ conn: PGConnection, http: HTTPClient, config: Config, actor: StaffActor, id: Int64, startsAt: Date,
                                  endsAt: Date?, notify: Bool, now: Date = Date()) throws -> Outcome {
        try AppointmentSpan.validate(startsAt: startsAt, endsAt: endsAt ?? startsAt.addingTimeInterval(60), now: now)
        let appointment: StaffAppointments.View = try conn.transaction {
            guard let row = try conn.query("SELECT status, starts_at, ends_at FROM appointments WHERE workspace_id = \(actor.workspaceID) AND id = \(id) FOR UPDATE").first else {
                throw AppError(.notFound, "There is no appointment \(id) in this workspace.")
            }
            let status = try row.decode(String.self, "status")
            let oldStart = try row.decode(Date.self, "starts_at"), oldEnd = try row.decode(Date.self, "ends_at")
            guard status != "cancelled" else { throw AppError(.appointmentCancelled, "Appointment \(id) is cancelled; book a new one.") }
            let ends = endsAt ?? startsAt.addingTimeInterval(oldEnd.timeIntervalSince(oldStart))
            try AppointmentSpan.validate(startsAt: startsAt, endsAt: ends, now: now)
            do {
                try conn.transaction {
                    try conn.execute("UPDATE appointments SET starts_at = \(startsAt), ends_at = \(ends) WHERE workspace_id = \(actor.workspaceID) AND id = \(id)")
                }
            } catch let e as PGError where e.constraint == "appointments_no_double_booking" {
                throw slotTaken
            }
            try Audit.record(conn, actor, action: "appointment.reschedule", targetType: "appointment", targetID: String(id),
                             details: ["from": Dates.iso(oldStart), "to": Dates.iso(startsAt)])
            return try StaffAppointments.get(conn, workspaceID: actor.workspaceID, id: id)
        }
        guard notify else { return Outcome(appointment: appointment, notification: nil) }
        return Outcome(appointment: appointment, notification: StaffAppointments.notify(
            conn, http: http, config: config, actor: actor, appointment: appointment, now: now) { v, lang in
            .freeform(Templates.fill(lang == "es"
                ? "Hola {patient_name}, su cita con {doctor_name} se cambió para {when}. Responda a este mensaje si no le conviene."
                : "Hi {patient_name}, your appointment with {doctor_name} has been moved to {when}. Reply to this message if it does not suit you.", v))
        })
    }
}
