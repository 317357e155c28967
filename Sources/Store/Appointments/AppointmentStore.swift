import Foundation

/// A bookable time of one doctor.
public struct Slot: Sendable, Equatable, Codable {
    public var doctorUserID: Int64
    public var startsAt: Date
    public var endsAt: Date

    public init(doctorUserID: Int64, startsAt: Date, endsAt: Date) {
        self.doctorUserID = doctorUserID
        self.startsAt = startsAt
        self.endsAt = endsAt
    }
}

/// An appointment as staff see it, with its patient and the doctor's name (never the email:
/// patients see this name).
public struct AppointmentRecord: Sendable, Encodable, Equatable {
    public typealias Patient = PatientBrief
    public let id: Int64
    public let status: String
    public let startsAt: Date
    public let endsAt: Date
    public let reason: String?
    public let patient: Patient
    public let doctorID: Int64?
    public let doctorName: String?
    public let createdAt: Date
    enum CodingKeys: String, CodingKey {
        case id, status, reason, patient
        case startsAt = "starts_at", endsAt = "ends_at", doctorID = "doctor_id", doctorName = "doctor_name", createdAt = "created_at"
    }
    public init(id: Int64, status: String, startsAt: Date, endsAt: Date, reason: String?, patient: Patient, doctorID: Int64?,
                doctorName: String?, createdAt: Date) {
        self.id = id
        self.status = status
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.reason = reason
        self.patient = patient
        self.doctorID = doctorID
        self.doctorName = doctorName
        self.createdAt = createdAt
    }
}

/// Which appointments a list shows: `nil` filters nothing.
public struct AppointmentFilter: Sendable, Equatable {
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

/// A staff booking (`confirmed` at once), its values checked; the end is decided once the doctor's
/// slot length is known.
public struct StaffBooking: Sendable, Equatable {
    public var workspaceID: Int64
    public var patientID: Int64
    public var doctorID: Int64
    public var startsAt: Date
    public var reason: String?
    /// The member who books (and reviews: a staff booking needs no review).
    public var userID: Int64
    public init(workspaceID: Int64, patientID: Int64, doctorID: Int64, startsAt: Date, reason: String?, userID: Int64) {
        self.workspaceID = workspaceID
        self.patientID = patientID
        self.doctorID = doctorID
        self.startsAt = startsAt
        self.reason = reason
        self.userID = userID
    }
}

public enum StaffBookingResult: Sendable, Equatable {
    case booked(Int64)
    case patientNotFound
    case doctorNotFound
    /// The doctor has a live appointment overlapping that time (the exclusion constraint said so).
    case slotTaken
}

/// What became of a status change (accept, reject, cancel): done, no such appointment, or refused
/// because of the status it has (`current`).
public enum AppointmentStatusResult: Sendable, Equatable {
    case done(AppointmentRecord)
    case notFound
    case refused(current: AppointmentRecord)
}

public enum AppointmentMoveResult: Sendable, Equatable {
    case moved(AppointmentRecord)
    case notFound
    case cancelled
    case slotTaken
}

/// A doctor of the workspace (a member with the doctor or admin_doctor role).
public struct DoctorRecord: Sendable, Encodable, Equatable {
    public let id: Int64
    public let name: String?
    public let email: String
    public let role: String
    public init(id: Int64, name: String?, email: String, role: String) {
        self.id = id
        self.name = name
        self.email = email
        self.role = role
    }
}

/// A weekly range of a doctor's availability, local times in the clinic's timezone.
public struct DoctorWeeklyRange: Sendable, Codable, Equatable {
    public var weekday: Int
    public var start: String
    public var end: String
    public var slotMinutes: Int?
    enum CodingKeys: String, CodingKey { case weekday, start, end, slotMinutes = "slot_minutes" }
    public init(weekday: Int, start: String, end: String, slotMinutes: Int?) {
        self.weekday = weekday
        self.start = start
        self.end = end
        self.slotMinutes = slotMinutes
    }
}

/// A doctor's time off: local date-times in the clinic's timezone and the instants they are.
public struct DoctorTimeOff: Sendable, Encodable, Equatable {
    public let from: String
    public let to: String
    public let reason: String?
    public let startsAt: Date
    public let endsAt: Date
    enum CodingKeys: String, CodingKey { case from, to, reason, startsAt = "starts_at", endsAt = "ends_at" }
    public init(from: String, to: String, reason: String?, startsAt: Date, endsAt: Date) {
        self.from = from
        self.to = to
        self.reason = reason
        self.startsAt = startsAt
        self.endsAt = endsAt
    }
}

/// A doctor's availability as checked, to be written: weekly ranges in minutes after local
/// midnight (`end` up to 1440), time off as local timestamps ("2026-12-24 09:00") read in the
/// clinic's timezone.
public struct DoctorAvailabilityRows: Sendable, Equatable {
    public struct Weekly: Sendable, Equatable, Encodable {
        public let weekday: Int
        public let start: Int
        public let end: Int
        public let slot: Int
        public init(weekday: Int, start: Int, end: Int, slot: Int) {
            self.weekday = weekday
            self.start = start
            self.end = end
            self.slot = slot
        }
    }
    public struct Off: Sendable, Equatable, Encodable {
        public let from: String
        public let to: String
        public let reason: String?
        public init(from: String, to: String, reason: String?) {
            self.from = from
            self.to = to
            self.reason = reason
        }
    }
    public var weekly: [Weekly]
    public var timeOff: [Off]
    public init(weekly: [Weekly], timeOff: [Off]) {
        self.weekly = weekly
        self.timeOff = timeOff
    }
}

/// What a notice to a patient about an appointment is written with.
public struct AppointmentNoticeContext: Sendable, Equatable {
    public let timezone: String
    public let clinicName: String
    /// The patient's language, else the reminders', else the clinic's default.
    public let language: String?
    public init(timezone: String, clinicName: String, language: String?) {
        self.timezone = timezone
        self.clinicName = clinicName
        self.language = language
    }
}

/// Appointments and what decides them: the doctors, their weekly availability and time off, and the
/// free slots computed from those. The no-double-booking exclusion constraint decides a taken slot
/// (races included); code never checks first.
public protocol AppointmentStore {
    // MARK: appointments
    /// Earliest first, at most `limit`.
    func list(workspaceID: Int64, _ filter: AppointmentFilter, limit: Int) throws -> [AppointmentRecord]
    /// The bot's bookings awaiting review, earliest first, at most `limit`.
    func pending(workspaceID: Int64, limit: Int) throws -> [AppointmentRecord]
    func get(workspaceID: Int64, id: Int64) throws -> AppointmentRecord?
    /// Books in one transaction: the patient and the doctor must be the workspace's; `end` is given the
    /// doctor's slot length that weekday (30 without one) and answers the end (or throws); the audit
    /// entry is written with the appointment.
    func book(_ booking: StaffBooking, end: (_ slotMinutes: Int) throws -> Date, audit: (Int64) -> AuditEntry) throws -> StaffBookingResult
    /// `pending_review` → `confirmed` (accept) or `cancelled` (reject), reviewed by `userID`.
    func review(workspaceID: Int64, id: Int64, accept: Bool, userID: Int64, audit: AuditEntry) throws -> AppointmentStatusResult
    /// A pending or confirmed appointment → `cancelled`.
    func cancel(workspaceID: Int64, id: Int64, audit: AuditEntry) throws -> AppointmentStatusResult
    /// Moves a live appointment to `startsAt`; `end` is given the current start and end (the row
    /// locked) and answers the new end (or throws); `audit` is given the old start.
    func reschedule(workspaceID: Int64, id: Int64, startsAt: Date, end: (_ oldStart: Date, _ oldEnd: Date) throws -> Date,
                    audit: (_ oldStart: Date) -> AuditEntry) throws -> AppointmentMoveResult
    /// The clinic's timezone, name and the patient's language for a notice; nil when the patient is not the workspace's.
    func noticeContext(workspaceID: Int64, patientID: Int64) throws -> AppointmentNoticeContext?
    /// Keeps `offerJSON` as the conversation's pending offer (a reply with its number books it).
    func keepPendingOffer(workspaceID: Int64, conversationID: Int64, offerJSON: String) throws

    // MARK: doctors and free slots
    func doctors(workspaceID: Int64) throws -> [DoctorRecord]
    /// Whether `userID` is a doctor (or admin doctor) of the workspace.
    func isDoctor(workspaceID: Int64, userID: Int64) throws -> Bool
    /// The workspace's timezone as stored (UTC when it has none).
    func timezone(workspaceID: Int64) throws -> String
    func availability(workspaceID: Int64, doctorID: Int64, timezone: String) throws -> (weekly: [DoctorWeeklyRange], timeOff: [DoctorTimeOff])
    /// Replaces the doctor's weekly availability and time off with the audit entry, in one transaction.
    func replaceAvailability(workspaceID: Int64, doctorID: Int64, _ rows: DoctorAvailabilityRows, audit: AuditEntry) throws
    /// Free slots of the next `days` local days (today included) strictly after `from`, earliest
    /// first, at most `limit`; of one doctor when `doctorID` is given.
    func freeSlots(workspaceID: Int64, from: Date, days: Int, limit: Int, doctorID: Int64?) throws -> [Slot]
}

extension AppointmentStore {
    public func freeSlots(workspaceID: Int64, from: Date, days: Int, limit: Int) throws -> [Slot] {
        try freeSlots(workspaceID: workspaceID, from: from, days: days, limit: limit, doctorID: nil)
    }
}
