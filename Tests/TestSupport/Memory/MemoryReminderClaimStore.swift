import Foundation
import Store

/// The reminder run's claims in memory: clinics with their reminder settings, appointments with their
/// patient and doctor, and the reminder log with its once-per-(appointment, kind, start) key, answering
/// as `PGReminderClaimStore` does; StoreTests holds the PostgreSQL side (statement counts, the start
/// time's text, interrupted claims, concurrent runs).
public final class MemoryReminderClaimStore: ReminderClaimStore, @unchecked Sendable {
    public struct Settings: Sendable {
        public var enabled = true
        public var hoursBefore = 24
        public var templateKey = "appt_reminder"
        public var customMessage: String? = nil
        public var language: String? = nil
        public init(enabled: Bool = true, hoursBefore: Int = 24, templateKey: String = "appt_reminder", customMessage: String? = nil,
                    language: String? = nil) {
            self.enabled = enabled
            self.hoursBefore = hoursBefore
            self.templateKey = templateKey
            self.customMessage = customMessage
            self.language = language
        }
    }

    public struct Workspace: Sendable {
        public let id: Int64
        public var timezone: String
        public var settings: Settings?
        public var hasSender: Bool
    }

    public struct Appointment: Sendable {
        public let id: Int64
        public let workspaceID: Int64
        public var startsAt: Date
        public var status: String
        public let patientID: Int64
        public var patientName: String?
        public var phone: String
        public var preferredLanguage: String?
        public var consentWhatsApp: Bool?
        public var consentUpdatedAt: Date?
        public var doctorName: String?
    }

    public struct LogRow: Sendable {
        public let id: Int64
        public let workspaceID: Int64
        public let appointmentID: Int64
        public let kind: String
        public let scheduledFor: Date
        public var status: String
        public var reason: String?
        public var sid: String?
        public var errorCode: Int?
        public var messageID: Int64?
        public var createdAt: Date
    }

    public private(set) var workspaces: [Workspace] = []
    public var appointments: [Appointment] = []
    public private(set) var log: [LogRow] = []
    private var nextID: Int64 = 0

    public init() {}

    private func newID() -> Int64 {
        nextID += 1
        return nextID
    }

    // MARK: Fixtures

    /// A clinic; `settings` nil = no reminder_settings row (reminders off).
    public func workspace(timezone: String = "UTC", settings: Settings? = Settings(), hasSender: Bool = true) -> Int64 {
        let id = newID()
        workspaces.append(Workspace(id: id, timezone: timezone, settings: settings, hasSender: hasSender))
        return id
    }

    @discardableResult
    public func appointment(_ workspaceID: Int64, patientID: Int64, patientName: String?, phone: String, language: String? = "en",
                            consent: Bool? = true, consentUpdatedAt: Date? = Date(), doctorName: String? = nil, startsAt: Date,
                            status: String = "confirmed") -> Int64 {
        let id = newID()
        appointments.append(Appointment(id: id, workspaceID: workspaceID, startsAt: startsAt, status: status, patientID: patientID,
                                        patientName: patientName, phone: phone, preferredLanguage: language, consentWhatsApp: consent,
                                        consentUpdatedAt: consentUpdatedAt, doctorName: doctorName))
        return id
    }

    public func update(appointment id: Int64, _ change: (inout Appointment) -> Void) {
        if let i = appointments.firstIndex(where: { $0.id == id }) { change(&appointments[i]) }
    }

    /// A claim left behind, e.g. by a run killed mid-call.
    public func addLogRow(_ workspaceID: Int64, appointmentID: Int64, kind: String = "reminder", scheduledFor: Date, status: String, createdAt: Date) {
        log.append(LogRow(id: newID(), workspaceID: workspaceID, appointmentID: appointmentID, kind: kind, scheduledFor: scheduledFor,
                          status: status, createdAt: createdAt))
    }

    /// The appointment's reminder_log rows, oldest first.
    public func logRows(_ appointmentID: Int64) -> [LogRow] { log.filter { $0.appointmentID == appointmentID } }

    /// How PostgreSQL would write the start (the claim compares this text).
    public static func text(_ date: Date) -> String { String(format: "%.6f", date.timeIntervalSince1970) }

    // MARK: ReminderClaimStore

    private func reminded(_ a: Appointment, kind: String) -> Bool {
        log.contains { $0.appointmentID == a.id && $0.kind == kind && $0.scheduledFor == a.startsAt }
    }

    private func due(_ workspaceID: Int64, kind: String, after: Date, through: Date) -> [Appointment] {
        appointments
            .filter { $0.workspaceID == workspaceID && ["confirmed", "cancelled"].contains($0.status)
                      && $0.startsAt > after && $0.startsAt <= through && !reminded($0, kind: kind) }
            .sorted { ($0.startsAt, $0.id) < ($1.startsAt, $1.id) }
    }

    public func enabledWorkspaces(kind: String, now: Date, workspaceID: Int64?) throws -> [ReminderWorkspace] {
        workspaces.filter { ($0.settings?.enabled ?? false) && (workspaceID == nil || $0.id == workspaceID) }
            .sorted { $0.id < $1.id }
            .map { w in
                let s = w.settings ?? Settings()
                let window = Double(s.hoursBefore) * 3600
                return ReminderWorkspace(workspaceID: w.id, timezone: w.timezone, hoursBefore: s.hoursBefore, templateKey: s.templateKey,
                                         customMessage: s.customMessage, language: s.language, hasSender: w.hasSender,
                                         hasDue: !due(w.id, kind: kind, after: now.addingTimeInterval(-window), through: now.addingTimeInterval(window)).isEmpty)
            }
    }

    public func markInterrupted(before: Date, workspaceID: Int64?) throws -> Int {
        var n = 0
        for i in log.indices where log[i].status == "sending" && log[i].createdAt < before && (workspaceID == nil || log[i].workspaceID == workspaceID) {
            log[i].status = "failed"
            log[i].reason = "interrupted"
            n += 1
        }
        return n
    }

    public func dueAppointments(workspaceID: Int64, kind: String, after: Date, through: Date) throws -> [DueAppointment] {
        due(workspaceID, kind: kind, after: after, through: through).map { a in
            DueAppointment(id: a.id, startsAt: a.startsAt, startsAtText: Self.text(a.startsAt), status: a.status, patientID: a.patientID,
                           patientName: a.patientName, phone: a.phone, preferredLanguage: a.preferredLanguage,
                           consentWhatsApp: a.consentWhatsApp, consentUpdatedAt: a.consentUpdatedAt,
                           doctorName: a.doctorName.flatMap { $0.isEmpty ? nil : $0 })
        }
    }

    public func claim(workspaceID: Int64, appointmentID: Int64, startsAtText: String, kind: String, skipReason: String?) throws -> Int64? {
        guard let a = appointments.first(where: { $0.workspaceID == workspaceID && $0.id == appointmentID && Self.text($0.startsAt) == startsAtText }),
              !reminded(a, kind: kind) else { return nil }
        let id = newID()
        log.append(LogRow(id: id, workspaceID: workspaceID, appointmentID: a.id, kind: kind, scheduledFor: a.startsAt,
                          status: skipReason == nil ? "sending" : "skipped", reason: skipReason, createdAt: Date()))
        return id
    }

    public func release(claimID: Int64) throws {
        log.removeAll { $0.id == claimID && $0.status == "sending" }
    }

    public func record(claimID: Int64, _ result: ReminderResult) throws {
        guard let i = log.firstIndex(where: { $0.id == claimID }) else { return }
        log[i].status = result.status
        log[i].reason = result.reason
        log[i].sid = result.sid
        log[i].errorCode = result.errorCode
        log[i].messageID = result.messageID
    }
}
