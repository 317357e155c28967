import Foundation
import Store

/// The patients in memory (see `MemoryAuditStore`). Audit entries go to `audit`.
public final class MemoryPatientStore: PatientStore, @unchecked Sendable {
    public var rows: [(workspaceID: Int64, record: PatientRecord)] = []
    /// Upcoming appointments and conversations a patient's page shows, by patient id.
    public var upcoming: [Int64: [PatientAppointmentSummary]] = [:]
    public var conversations: [Int64: [Int64]] = [:]
    public let audit: MemoryAuditStore
    public var now: Date
    var nextID: Int64 = 1

    public init(audit: MemoryAuditStore = MemoryAuditStore(), now: Date = Date(timeIntervalSince1970: 1_796_133_600)) {
        self.audit = audit
        self.now = now
    }

    /// A patient as the webhook or a bundle would have made it (no audit entry).
    @discardableResult
    public func add(workspaceID: Int64, phone: String, name: String? = nil, language: String? = nil, consent: Bool = false,
                    consentSource: String? = nil) -> PatientRecord {
        let r = PatientRecord(id: nextID, name: name, phone: phone, preferredLanguage: language, consentWhatsapp: consent,
                              consentUpdatedAt: consentSource == nil ? nil : now, consentSource: consentSource, createdAt: now)
        nextID += 1
        rows.append((workspaceID, r))
        return r
    }

    public func list(workspaceID: Int64, before: Int64?, search: String?, digits: String?, limit: Int) throws -> [PatientRecord] {
        let term = search.flatMap { $0.isEmpty ? nil : $0.lowercased() }
        let digits = digits.flatMap { $0.isEmpty ? nil : $0 }
        return rows.filter { $0.workspaceID == workspaceID }.map(\.record)
            .filter { r in before.map { r.id < $0 } ?? true }
            .filter { r in
                guard let term else { return true }
                return (r.name?.lowercased().contains(term) ?? false) || (digits.map { r.phone.contains($0) } ?? false)
            }
            .sorted { $0.id > $1.id }
            .prefix(limit).map { $0 }
    }

    public func create(_ p: NewPatient, audit entry: (PatientRecord) -> AuditEntry) throws -> PatientRecord? {
        guard !rows.contains(where: { $0.workspaceID == p.workspaceID && $0.record.phone == p.phone }) else { return nil }
        let r = add(workspaceID: p.workspaceID, phone: p.phone, name: p.name, language: p.preferredLanguage, consent: p.consentWhatsapp,
                    consentSource: p.consentWhatsapp ? "staff" : nil)
        try audit.record(entry(r))
        return r
    }

    public func get(workspaceID: Int64, id: Int64) throws -> PatientRecord? {
        rows.first { $0.workspaceID == workspaceID && $0.record.id == id }?.record
    }

    public func upcomingAppointments(workspaceID: Int64, patientID: Int64, after: Date) throws -> [PatientAppointmentSummary] {
        (upcoming[patientID] ?? []).filter { $0.status != "cancelled" && $0.endsAt > after }
    }

    public func conversationIDs(workspaceID: Int64, patientID: Int64) throws -> [Int64] { conversations[patientID] ?? [] }

    public func update(workspaceID: Int64, id: Int64, decide: (PatientRecord) throws -> (PatientChange, AuditEntry)) throws -> PatientRecord? {
        guard let i = rows.firstIndex(where: { $0.workspaceID == workspaceID && $0.record.id == id }) else { return nil }
        let c = rows[i].record
        let (change, entry) = try decide(c)
        let consent = change.consentWhatsapp
        let r = PatientRecord(id: c.id, name: change.name ?? c.name, phone: c.phone, preferredLanguage: change.preferredLanguage ?? c.preferredLanguage,
                              consentWhatsapp: consent ?? c.consentWhatsapp, consentUpdatedAt: consent == nil ? c.consentUpdatedAt : now,
                              consentSource: consent == nil ? c.consentSource : "staff", createdAt: c.createdAt)
        rows[i].record = r
        try audit.record(entry)
        return r
    }
}
