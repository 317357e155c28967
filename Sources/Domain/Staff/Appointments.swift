import Foundation
import MedsyncConfig
import HTTPClient
import Postgres
import Twilio

/// Appointments the bot booked (`pending_review`), accepted (→ `confirmed` + the appt_confirmed
/// WhatsApp in the patient's language) or rejected (→ `cancelled` + a notice) by staff.
public enum StaffAppointments {
    public struct View: Sendable, Encodable {
        public let id: Int64
        public let status: String
        public let startsAt: Date
        public let endsAt: Date
        public let reason: String?
        public let patient: Conversations.PatientView
        public let doctorID: Int64?
        public let doctorName: String?
        public let createdAt: Date
        enum CodingKeys: String, CodingKey {
            case id, status, reason, patient
            case startsAt = "starts_at", endsAt = "ends_at", doctorID = "doctor_id", doctorName = "doctor_name", createdAt = "created_at"
        }
        init(row: PGRow) throws {
            id = try row.decode(Int64.self, "id")
            status = try row.decode(String.self, "status")
            startsAt = try row.decode(Date.self, "starts_at")
            endsAt = try row.decode(Date.self, "ends_at")
            reason = try row.decode(String?.self, "reason")
            patient = Conversations.PatientView(id: try row.decode(Int64.self, "p_id"), name: try row.decode(String?.self, "p_name"), phone: try row.decode(String.self, "p_phone"),
                                                preferredLanguage: try row.decode(String?.self, "p_lang") ?? "en", consentWhatsapp: try row.decode(Bool?.self, "p_consent") ?? false)
            doctorID = try row.decode(Int64?.self, "doctor_id")
            doctorName = try row.decode(String?.self, "doctor_name")
            createdAt = try row.decode(Date.self, "created_at")
        }
    }

    static let select: SQLFragment = """
        SELECT a.id, a.status, a.starts_at, a.ends_at, a.reason, a.doctor_id, a.created_at,
               NULLIF(u.name, '') AS doctor_name,   -- never the email: patients see this name
               p.id AS p_id, p.name AS p_name, p.phone AS p_phone, p.preferred_language AS p_lang, p.consent_whatsapp AS p_consent
          FROM appointments a
          JOIN patients p ON p.workspace_id = a.workspace_id AND p.id = a.patient_id
          LEFT JOIN users u ON u.id = a.doctor_id
        """

    public static func pending(_ conn: PGConnection, workspaceID: Int64) throws -> [View] {
        try conn.query("\(unescaped: select) WHERE a.workspace_id = \(workspaceID) AND a.status = 'pending_review' ORDER BY a.starts_at, a.id LIMIT 500")
            .map(View.init(row:))
    }

    public static func get(_ conn: PGConnection, workspaceID: Int64, id: Int64) throws -> View {
        guard let row = try conn.query("\(unescaped: select) WHERE a.workspace_id = \(workspaceID) AND a.id = \(id)").first else {
            throw AppError(.notFound, "There is no appointment \(id) in this workspace.")
        }
        return try View(row: row)
    }

    /// Up to three free times for a declined request, the same doctor's first, never the declined time itself.
    static func declinedOffer(_ conn: PGConnection, workspaceID: Int64, appointment: View, timeZone: String, language: String,
                              now: Date) throws -> PendingOffer? {
        let free = try FreeSlots.compute(conn, workspaceID: workspaceID, from: now, days: 14, limit: 300)
            .filter { !($0.doctorUserID == appointment.doctorID && $0.startsAt == appointment.startsAt) }
        let sameDoctor = free.filter { $0.doctorUserID == appointment.doctorID }
        let slots = FreeSlots.offer(sameDoctor.isEmpty ? free : sameDoctor, count: 3)
        return slots.isEmpty ? nil : PendingOffer.make(slots, timeZone: timeZone, language: language, now: now)
    }

    public struct Notification: Sendable, Encodable {
        public let sent: Bool
        public let messageID: Int64?
        public let error: [String: String]?
        enum CodingKeys: String, CodingKey { case sent, error, messageID = "message_id" }
    }

    public struct Outcome: Sendable, Encodable {
        public let appointment: View
        public let notification: Notification
    }

    public static func accept(_ conn: PGConnection, http: HTTPClient, config: Config, actor: StaffActor, id: Int64,
                              now: Date = Date()) throws -> Outcome {
        try review(conn, http: http, config: config, actor: actor, id: id, accept: true, now: now)
    }

    public static func reject(_ conn: PGConnection, http: HTTPClient, config: Config, actor: StaffActor, id: Int64,
                              now: Date = Date()) throws -> Outcome {
        try review(conn, http: http, config: config, actor: actor, id: id, accept: false, now: now)
    }

    static func review(_ conn: PGConnection, http: HTTPClient, config: Config, actor: StaffActor, id: Int64, accept: Bool,
                       now: Date) throws -> Outcome {
        let appointment: View = try conn.transaction {
            let n = try conn.execute("""
                UPDATE appointments
                   SET status = \(accept ? "confirmed" : "cancelled"), reviewed_by_user_id = \(actor.userID), reviewed_at = now(),
                       cancelled_at = CASE WHEN \(accept ? "confirmed" : "cancelled") = 'cancelled' THEN now() ELSE cancelled_at END
                 WHERE workspace_id = \(actor.workspaceID) AND id = \(id) AND status = 'pending_review'
                """)
            let current = try get(conn, workspaceID: actor.workspaceID, id: id)   // 404 for another workspace's id
            guard n == 1 else {
                throw AppError(.appointmentNotPending, "Appointment \(id) is already \(current.status); only a pending_review appointment can be \(accept ? "accepted" : "rejected").")
            }
            try Audit.record(conn, actor, action: accept ? "appointment.accept" : "appointment.reject",
                             targetType: "appointment", targetID: String(id))
            return current
        }
        // The decision stands even when WhatsApp fails; the outcome says what happened to the message.
        var offer: PendingOffer? = nil
        let sent = notifyTracked(conn, http: http, config: config, actor: actor, appointment: appointment, now: now) { variables, lang in
            if accept { return .template(key: "appt_confirmed", language: lang, variables: variables) }
            // The request was declined: say so, and offer free times (a reply with a number books one).
            offer = try declinedOffer(conn, workspaceID: actor.workspaceID, appointment: appointment,
                                      timeZone: variables["_timezone"] ?? "UTC", language: lang, now: now)
            return .freeform(InboundReplies.offer(InboundReplies.declined(variables["when"] ?? "", language: lang), offer, language: lang))
        }
        if let offer, let conversationID = sent.conversationID {
            try conn.execute("""
                UPDATE whatsapp_conversations SET pending_intent = \(PGJSON(offer.json))::jsonb
                 WHERE workspace_id = \(actor.workspaceID) AND id = \(conversationID)
                """)
        }
        return Outcome(appointment: appointment, notification: sent.notification)
    }

    /// Sends the patient a notice about `appointment` (content built from the appointment's variables
    /// and the patient's language) and says what happened; a failure never undoes the change itself.
    static func notify(_ conn: PGConnection, http: HTTPClient, config: Config, actor: StaffActor, appointment: View, now: Date,
                       content: ([String: String], String) throws -> OutboundContent) -> Notification {
        notifyTracked(conn, http: http, config: config, actor: actor, appointment: appointment, now: now, content: content).notification
    }

    static func notifyTracked(_ conn: PGConnection, http: HTTPClient, config: Config, actor: StaffActor, appointment: View, now: Date,
                              content: ([String: String], String) throws -> OutboundContent) -> (notification: Notification, conversationID: Int64?) {
        func failed(_ e: AppError) -> (Notification, Int64?) {
            (Notification(sent: false, messageID: nil, error: ["code": e.code.rawValue, "message": e.message]), nil)
        }
        do {
            let ws = try conn.query("""
                SELECT w.timezone, COALESCE(NULLIF(w.clinic_name, ''), w.name) AS clinic, COALESCE(p.preferred_language, s.language, w.default_language) AS lang
                  FROM workspaces w JOIN patients p ON p.workspace_id = w.id AND p.id = \(appointment.patient.id)
                  LEFT JOIN reminder_settings s ON s.workspace_id = w.id
                 WHERE w.id = \(actor.workspaceID)
                """).first
            let lang = try ws?.decode(String?.self, "lang") == "es" ? "es" : "en"
            let timezone = try ws?.decode(String?.self, "timezone") ?? "UTC"
            let when = LocalTime.describe(appointment.startsAt, timeZone: timezone, language: lang, now: now)
            let p = LocalTime.parts(appointment.startsAt, timeZone: timezone)
            let variables = [
                "patient_name": appointment.patient.name?.nilIfEmpty ?? (lang == "es" ? "paciente" : "there"),
                "doctor_name": appointment.doctorName?.nilIfEmpty ?? (lang == "es" ? "su médico" : "your doctor"),
                "when": when,
                "date": String(format: "%04d-%02d-%02d", p.year, p.month, p.day),
                "time": LocalTime.clock(p, language: lang),
                "clinic_name": try ws?.decode(String?.self, "clinic") ?? "",
                "_timezone": timezone,
            ]
            let request = OutboundRequest(workspaceID: actor.workspaceID, patientID: appointment.patient.id,
                                          content: try content(variables, lang), sentByUserID: actor.userID)
            // An ambiguous Twilio failure is settled against its Messages list: the notice is stored as it really ended.
            let r = try Outbound.sendOnce(conn, http: http, config: config, try Outbound.prepare(conn, request, now: now))
            return (Notification(sent: true, messageID: r.messageID, error: nil), r.conversationID)
        } catch let e as AppError {
            return failed(e)
        } catch let e as TwilioError {
            return failed(AppError(e))
        } catch let e as TwilioTransportError {
            return failed(AppError(e))
        } catch let e as ConfigError {
            return failed(AppError(twilioConfiguration: e))
        } catch {
            return failed(AppError(.internalError, "The notice could not be sent."))
        }
    }
}
