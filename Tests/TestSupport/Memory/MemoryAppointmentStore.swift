import Foundation
import Store

/// Appointments, doctors and free slots in memory (see `MemoryAuditStore`). Patients come from
/// `patients`; the free slots are the ones a test sets in `slots` (computing them is PostgreSQL's,
/// see StoreTests), minus every live appointment that overlaps and everything not after `from`.
/// A live appointment overlapping another of the same doctor is refused as the exclusion
/// constraint refuses it. Audit entries go to `audit`.
public final class MemoryAppointmentStore: AppointmentStore, @unchecked Sendable {
    public struct Row: Sendable, Equatable {
        public var workspaceID: Int64
        public var id: Int64
        public var patientID: Int64
        public var doctorID: Int64
        public var startsAt: Date
        public var endsAt: Date
        public var status: String
        public var reason: String?
        public var reviewedBy: Int64?
        public var createdBy: Int64?
    }
    public struct Workspace: Sendable {
        public var timezone: String
        public var clinicName: String
        public var language: String
    }

    public var appointments: [Row] = []
    public var workspaces: [Int64: Workspace] = [:]
    /// Members by workspace: user id → (role, name, email).
    public var members: [Int64: [Int64: (role: String, name: String?, email: String)]] = [:]
    public var weekly: [Int64: [DoctorWeeklyRange]] = [:]
    public var timeOff: [Int64: [DoctorAvailabilityRows.Off]] = [:]
    public var slots: [Slot] = []
    /// Offers kept on conversations, by conversation id (JSON as written).
    public var pendingOffers: [Int64: String] = [:]
    public let patients: MemoryPatientStore
    public let audit: MemoryAuditStore
    public var now: Date
    var nextID: Int64 = 1

    public init(patients: MemoryPatientStore, audit: MemoryAuditStore? = nil) {
        self.patients = patients
        self.audit = audit ?? patients.audit
        self.now = patients.now
    }

    public func addWorkspace(_ id: Int64, timezone: String = "America/Mexico_City", clinicName: String = "Clínica Sol", language: String = "es") {
        workspaces[id] = Workspace(timezone: timezone, clinicName: clinicName, language: language)
    }

    public func addMember(_ userID: Int64, workspaceID: Int64, role: String = "doctor", name: String? = "Dr. Ruiz", email: String? = nil) {
        members[workspaceID, default: [:]][userID] = (role, name, email ?? "user\(userID)@clinic.test")
    }

    /// An appointment as the bot or an earlier booking left it (no audit entry).
    @discardableResult
    public func addAppointment(workspaceID: Int64, patientID: Int64, doctorID: Int64, startsAt: Date, minutes: Double = 30,
                               status: String = "pending_review") -> Int64 {
        let id = nextID
        nextID += 1
        appointments.append(Row(workspaceID: workspaceID, id: id, patientID: patientID, doctorID: doctorID, startsAt: startsAt,
                                endsAt: startsAt.addingTimeInterval(minutes * 60), status: status))
        return id
    }

    func record(_ r: Row) -> AppointmentRecord? {
        guard let p = try? patients.get(workspaceID: r.workspaceID, id: r.patientID) else { return nil }
        let name = members[r.workspaceID]?[r.doctorID]?.name.flatMap { $0.isEmpty ? nil : $0 }
        return AppointmentRecord(id: r.id, status: r.status, startsAt: r.startsAt, endsAt: r.endsAt, reason: r.reason,
                                 patient: .init(id: p.id, name: p.name, phone: p.phone, preferredLanguage: p.preferredLanguage ?? "en",
                                                consentWhatsapp: p.consentWhatsapp),
                                 doctorID: r.doctorID, doctorName: name, createdAt: now)
    }

    func overlaps(doctorID: Int64, _ start: Date, _ end: Date, except id: Int64? = nil) -> Bool {
        appointments.contains { $0.doctorID == doctorID && $0.status != "cancelled" && $0.id != id && $0.startsAt < end && $0.endsAt > start }
    }

    func sorted(_ rows: [Row]) -> [Row] { rows.sorted { ($0.startsAt, $0.id) < ($1.startsAt, $1.id) } }

    public func list(workspaceID: Int64, _ f: AppointmentFilter, limit: Int) throws -> [AppointmentRecord] {
        sorted(appointments.filter { r in
            r.workspaceID == workspaceID && (f.from.map { r.startsAt >= $0 } ?? true) && (f.to.map { r.startsAt < $0 } ?? true)
                && (f.status.map { r.status == $0 } ?? true) && (f.doctorID.map { r.doctorID == $0 } ?? true)
                && (f.patientID.map { r.patientID == $0 } ?? true)
        }).prefix(limit).compactMap(record)
    }

    public func pending(workspaceID: Int64, limit: Int) throws -> [AppointmentRecord] {
        sorted(appointments.filter { $0.workspaceID == workspaceID && $0.status == "pending_review" }).prefix(limit).compactMap(record)
    }

    public func get(workspaceID: Int64, id: Int64) throws -> AppointmentRecord? {
        appointments.first { $0.workspaceID == workspaceID && $0.id == id }.flatMap(record)
    }

    public func book(_ b: StaffBooking, end: (Int) throws -> Date, audit entry: (Int64) -> AuditEntry) throws -> StaffBookingResult {
        guard try patients.get(workspaceID: b.workspaceID, id: b.patientID) != nil else { return .patientNotFound }
        guard try isDoctor(workspaceID: b.workspaceID, userID: b.doctorID) else { return .doctorNotFound }
        let weekday = Self.weekday(of: b.startsAt, timeZone: workspaces[b.workspaceID]?.timezone ?? "UTC")
        let slot = (weekly[b.doctorID] ?? []).filter { $0.weekday == weekday }.sorted { $0.start < $1.start }.first?.slotMinutes ?? 30
        let ends = try end(slot)
        guard !overlaps(doctorID: b.doctorID, b.startsAt, ends) else { return .slotTaken }
        let id = nextID
        nextID += 1
        appointments.append(Row(workspaceID: b.workspaceID, id: id, patientID: b.patientID, doctorID: b.doctorID, startsAt: b.startsAt, endsAt: ends,
                                status: "confirmed", reason: b.reason, reviewedBy: b.userID, createdBy: b.userID))
        try audit.record(entry(id))
        return .booked(id)
    }

    public func review(workspaceID: Int64, id: Int64, accept: Bool, userID: Int64, audit entry: AuditEntry) throws -> AppointmentStatusResult {
        guard let i = appointments.firstIndex(where: { $0.workspaceID == workspaceID && $0.id == id }) else { return .notFound }
        guard appointments[i].status == "pending_review" else { return record(appointments[i]).map { .refused(current: $0) } ?? .notFound }
        appointments[i].status = accept ? "confirmed" : "cancelled"
        appointments[i].reviewedBy = userID
        try audit.record(entry)
        return record(appointments[i]).map { .done($0) } ?? .notFound
    }

    public func cancel(workspaceID: Int64, id: Int64, audit entry: AuditEntry) throws -> AppointmentStatusResult {
        guard let i = appointments.firstIndex(where: { $0.workspaceID == workspaceID && $0.id == id }) else { return .notFound }
        guard appointments[i].status != "cancelled" else { return record(appointments[i]).map { .refused(current: $0) } ?? .notFound }
        appointments[i].status = "cancelled"
        try audit.record(entry)
        return record(appointments[i]).map { .done($0) } ?? .notFound
    }

    public func reschedule(workspaceID: Int64, id: Int64, startsAt: Date, end: (Date, Date) throws -> Date,
                           audit entry: (Date) -> AuditEntry) throws -> AppointmentMoveResult {
        guard let i = appointments.firstIndex(where: { $0.workspaceID == workspaceID && $0.id == id }) else { return .notFound }
        let row = appointments[i]
        guard row.status != "cancelled" else { return .cancelled }
        let ends = try end(row.startsAt, row.endsAt)
        guard !overlaps(doctorID: row.doctorID, startsAt, ends, except: id) else { return .slotTaken }
        appointments[i].startsAt = startsAt
        appointments[i].endsAt = ends
        try audit.record(entry(row.startsAt))
        return record(appointments[i]).map { .moved($0) } ?? .notFound
    }

    public func noticeContext(workspaceID: Int64, patientID: Int64) throws -> AppointmentNoticeContext? {
        guard let w = workspaces[workspaceID], let p = try patients.get(workspaceID: workspaceID, id: patientID) else { return nil }
        return AppointmentNoticeContext(timezone: w.timezone, clinicName: w.clinicName, language: p.preferredLanguage ?? w.language)
    }

    public func keepPendingOffer(workspaceID: Int64, conversationID: Int64, offerJSON: String) throws {
        pendingOffers[conversationID] = offerJSON
    }

    public func doctors(workspaceID: Int64) throws -> [DoctorRecord] {
        (members[workspaceID] ?? [:]).filter { ["doctor", "admin_doctor"].contains($0.value.role) }
            .map { DoctorRecord(id: $0.key, name: $0.value.name, email: $0.value.email, role: $0.value.role) }
            .sorted { (($0.name?.isEmpty == false ? $0.name : nil) ?? $0.email, $0.id) < (($1.name?.isEmpty == false ? $1.name : nil) ?? $1.email, $1.id) }
    }

    public func isDoctor(workspaceID: Int64, userID: Int64) throws -> Bool {
        members[workspaceID]?[userID].map { ["doctor", "admin_doctor"].contains($0.role) } ?? false
    }

    public func timezone(workspaceID: Int64) throws -> String { workspaces[workspaceID]?.timezone ?? "UTC" }

    public func availability(workspaceID: Int64, doctorID: Int64, timezone: String) throws -> (weekly: [DoctorWeeklyRange], timeOff: [DoctorTimeOff]) {
        let off = (timeOff[doctorID] ?? []).map { o in
            DoctorTimeOff(from: o.from.replacingOccurrences(of: " ", with: "T"), to: o.to.replacingOccurrences(of: " ", with: "T"), reason: o.reason,
                          startsAt: Date(timeIntervalSince1970: 0), endsAt: Date(timeIntervalSince1970: 0))
        }
        return ((weekly[doctorID] ?? []).sorted { ($0.weekday, $0.start) < ($1.weekday, $1.start) }, off)
    }

    public func replaceAvailability(workspaceID: Int64, doctorID: Int64, _ rows: DoctorAvailabilityRows, audit entry: AuditEntry) throws {
        func clock(_ m: Int) -> String { String(format: "%02d:%02d", m / 60, m % 60) }
        weekly[doctorID] = rows.weekly.map { DoctorWeeklyRange(weekday: $0.weekday, start: clock($0.start), end: clock($0.end), slotMinutes: $0.slot) }
        timeOff[doctorID] = rows.timeOff
        try audit.record(entry)
    }

    public func freeSlots(workspaceID: Int64, from: Date, days: Int, limit: Int, doctorID: Int64?) throws -> [Slot] {
        slots.filter { s in
            s.startsAt > from && (doctorID.map { s.doctorUserID == $0 } ?? true)
                && !overlaps(doctorID: s.doctorUserID, s.startsAt, s.endsAt)
        }
        .sorted { ($0.startsAt, $0.doctorUserID) < ($1.startsAt, $1.doctorUserID) }
        .prefix(limit).map { $0 }
    }
}

extension MemoryAppointmentStore {
    /// 0 = Sunday, as PostgreSQL's `extract(dow …)`.
    static func weekday(of date: Date, timeZone: String) -> Int {
        var c = Calendar(identifier: .gregorian)
        c.timeZone = TimeZone(identifier: timeZone) ?? TimeZone(identifier: "UTC")!
        return c.component(.weekday, from: date) - 1
    }
}
