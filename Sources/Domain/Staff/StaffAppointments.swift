import Foundation
import MedsyncConfig
import Twilio

/// Appointments the bot booked (`pending_review`), accepted (→ `confirmed` + the appt_confirmed
/// WhatsApp in the patient's language) or rejected (→ `cancelled` + a notice) by staff.
public enum StaffAppointments {
    public typealias View = AppointmentRecord

    /// The bot's bookings awaiting review, at most this many (earliest first).
    public static let listLimit = 500

    public static func pending(_ store: some AppointmentStore, workspaceID: Int64) throws -> [View] {
        try store.pending(workspaceID: workspaceID, limit: listLimit)
    }

    public static func get(_ store: some AppointmentStore, workspaceID: Int64, id: Int64) throws -> View {
        guard let view = try store.get(workspaceID: workspaceID, id: id) else { throw notFound(id) }
        return view
    }

    static func notFound(_ id: Int64) -> AppError { AppError(.notFound, "There is no appointment \(id) in this workspace.") }

    /// Up to `OfferPolicy.declinedOfferCount` free times for a declined request, the same doctor's
    /// first, never the declined time itself.
    static func declinedOffer(_ store: some AppointmentStore, workspaceID: Int64, appointment: View, timeZone: String, language: String,
                              now: Date) throws -> PendingOffer? {
        let free = try store.freeSlots(workspaceID: workspaceID, from: now, days: OfferPolicy.declinedDays, limit: OfferPolicy.declinedCandidates)
            .filter { !($0.doctorUserID == appointment.doctorID && $0.startsAt == appointment.startsAt) }
        let sameDoctor = free.filter { $0.doctorUserID == appointment.doctorID }
        let slots = FreeSlots.offer(sameDoctor.isEmpty ? free : sameDoctor, count: OfferPolicy.declinedOfferCount)
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

    public static func accept(_ store: some AppointmentStore, notifier: some PatientNotifier, actor: StaffActor, id: Int64,
                              now: Date = Date()) throws -> Outcome {
        try review(store, notifier: notifier, actor: actor, id: id, accept: true, now: now)
    }

    public static func reject(_ store: some AppointmentStore, notifier: some PatientNotifier, actor: StaffActor, id: Int64,
                              now: Date = Date()) throws -> Outcome {
        try review(store, notifier: notifier, actor: actor, id: id, accept: false, now: now)
    }

    static func review(_ store: some AppointmentStore, notifier: some PatientNotifier, actor: StaffActor, id: Int64, accept: Bool,
                       now: Date) throws -> Outcome {
        let appointment: View
        switch try store.review(workspaceID: actor.workspaceID, id: id, accept: accept, userID: actor.userID,
                                audit: actor.audit(accept ? "appointment.accept" : "appointment.reject", "appointment", String(id))) {
        case .done(let current): appointment = current
        case .notFound: throw notFound(id)   // another workspace's id
        case .refused(let current):
            throw AppError(.appointmentNotPending, "Appointment \(id) is already \(current.status); only a pending_review appointment can be \(accept ? "accepted" : "rejected").")
        }
        // The decision stands even when WhatsApp fails; the outcome says what happened to the message.
        var offer: PendingOffer? = nil
        let sent = notifyTracked(store, notifier: notifier, actor: actor, appointment: appointment, now: now) { variables, lang in
            if accept { return .template(key: "appt_confirmed", language: lang, variables: variables) }
            // The request was declined: say so, and offer free times (a reply with a number books one).
            offer = try declinedOffer(store, workspaceID: actor.workspaceID, appointment: appointment,
                                      timeZone: variables["_timezone"] ?? "UTC", language: lang, now: now)
            return .freeform(InboundReplies.offer(InboundReplies.declined(variables["when"] ?? "", language: lang), offer, language: lang))
        }
        if let offer, let conversationID = sent.conversationID {
            try store.keepPendingOffer(workspaceID: actor.workspaceID, conversationID: conversationID, offerJSON: offer.json)
        }
        return Outcome(appointment: appointment, notification: sent.notification)
    }

    /// Sends the patient a notice about `appointment` (content built from the appointment's variables
    /// and the patient's language) and says what happened; a failure never undoes the change itself.
    static func notify(_ store: some AppointmentStore, notifier: some PatientNotifier, actor: StaffActor, appointment: View, now: Date,
                       content: ([String: String], String) throws -> OutboundContent) -> Notification {
        notifyTracked(store, notifier: notifier, actor: actor, appointment: appointment, now: now, content: content).notification
    }

    static func notifyTracked(_ store: some AppointmentStore, notifier: some PatientNotifier, actor: StaffActor, appointment: View, now: Date,
                              content: ([String: String], String) throws -> OutboundContent) -> (notification: Notification, conversationID: Int64?) {
        func failed(_ e: AppError) -> (Notification, Int64?) {
            (Notification(sent: false, messageID: nil, error: ["code": e.code.rawValue, "message": e.message]), nil)
        }
        do {
            let ws = try store.noticeContext(workspaceID: actor.workspaceID, patientID: appointment.patient.id)
            let lang = ws?.language == "es" ? "es" : "en"
            let timezone = ws?.timezone ?? "UTC"
            let when = LocalTime.describe(appointment.startsAt, timeZone: timezone, language: lang, now: now)
            let p = LocalTime.parts(appointment.startsAt, timeZone: timezone)
            let variables = [
                "patient_name": appointment.patient.name?.nilIfEmpty ?? (lang == "es" ? "paciente" : "there"),
                "doctor_name": appointment.doctorName?.nilIfEmpty ?? (lang == "es" ? "su médico" : "your doctor"),
                "when": when,
                "date": String(format: "%04d-%02d-%02d", p.year, p.month, p.day),
                "time": LocalTime.clock(p, language: lang),
                "clinic_name": ws?.clinicName ?? "",
                "_timezone": timezone,
            ]
            let request = OutboundRequest(workspaceID: actor.workspaceID, patientID: appointment.patient.id,
                                          content: try content(variables, lang), sentByUserID: actor.userID)
            let sent = try notifier.send(request, now: now)
            return (Notification(sent: true, messageID: sent.messageID, error: nil), sent.conversationID)
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

/// Sends a patient one WhatsApp message about their appointment (checks, Twilio, the message
/// stored) and answers the stored message and its conversation. `OutboundMessenger` is the real one.
public protocol PatientNotifier {
    func send(_ request: OutboundRequest, now: Date) throws -> (messageID: Int64, conversationID: Int64)
}
