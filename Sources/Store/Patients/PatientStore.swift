import Foundation
import Postgres

/// A patient as the API shows one.
public struct PatientRecord: Sendable, Encodable, Equatable {
    public let id: Int64
    public let name: String?
    public let phone: String
    public let preferredLanguage: String?
    public let consentWhatsapp: Bool
    public let consentUpdatedAt: Date?
    public let consentSource: String?
    /// Consent withdrawn by the patient (STOP): turning it back on needs `consent_confirmed`.
    public let optedOut: Bool
    public let createdAt: Date
    enum CodingKeys: String, CodingKey {
        case id, name, phone
        case preferredLanguage = "preferred_language", consentWhatsapp = "consent_whatsapp", consentUpdatedAt = "consent_updated_at"
        case consentSource = "consent_source", optedOut = "opted_out", createdAt = "created_at"
    }
    public init(id: Int64, name: String?, phone: String, preferredLanguage: String?, consentWhatsapp: Bool, consentUpdatedAt: Date?,
                consentSource: String?, createdAt: Date) {
        self.id = id
        self.name = name
        self.phone = phone
        self.preferredLanguage = preferredLanguage
        self.consentWhatsapp = consentWhatsapp
        self.consentUpdatedAt = consentUpdatedAt
        self.consentSource = consentSource
        self.optedOut = !consentWhatsapp && consentSource == "whatsapp"
        self.createdAt = createdAt
    }
    init(row: PGRow) throws {
        self.init(id: try row.decode(Int64.self, "id"), name: try row.decode(String?.self, "name"), phone: try row.decode(String.self, "phone"),
                  preferredLanguage: try row.decode(String?.self, "preferred_language"),
                  consentWhatsapp: try row.decode(Bool?.self, "consent_whatsapp") ?? false,
                  consentUpdatedAt: try row.decode(Date?.self, "consent_updated_at"), consentSource: try row.decode(String?.self, "consent_source"),
                  createdAt: try row.decode(Date.self, "created_at"))
    }
}

/// One of a patient's live appointments still to come, as the patient's page lists it.
public struct PatientAppointmentSummary: Sendable, Encodable, Equatable {
    public let id: Int64
    public let status: String
    public let startsAt: Date
    public let endsAt: Date
    public let doctorID: Int64?
    public let doctorName: String?
    enum CodingKeys: String, CodingKey {
        case id, status, startsAt = "starts_at", endsAt = "ends_at", doctorID = "doctor_id", doctorName = "doctor_name"
    }
    public init(id: Int64, status: String, startsAt: Date, endsAt: Date, doctorID: Int64?, doctorName: String?) {
        self.id = id
        self.status = status
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.doctorID = doctorID
        self.doctorName = doctorName
    }
}

/// A new patient, its values already checked.
public struct NewPatient: Sendable, Equatable {
    public var workspaceID: Int64
    public var phone: String
    public var name: String?
    public var preferredLanguage: String?
    public var consentWhatsapp: Bool
    public init(workspaceID: Int64, phone: String, name: String?, preferredLanguage: String?, consentWhatsapp: Bool) {
        self.workspaceID = workspaceID
        self.phone = phone
        self.name = name
        self.preferredLanguage = preferredLanguage
        self.consentWhatsapp = consentWhatsapp
    }
}

/// A change to a patient: `nil` keeps a field; `.some(nil)` clears the name or the language; a
/// consent change is timestamped and sourced `staff`.
public struct PatientChange: Sendable, Equatable {
    public var name: String??
    public var preferredLanguage: String??
    public var consentWhatsapp: Bool?
    public init(name: String?? = nil, preferredLanguage: String?? = nil, consentWhatsapp: Bool? = nil) {
        self.name = name
        self.preferredLanguage = preferredLanguage
        self.consentWhatsapp = consentWhatsapp
    }
}

/// The clinic's patients.
public protocol PatientStore {
    /// Newest first, ids below `before`; `search` (already trimmed) matches the name case-insensitively,
    /// `digits` a part of the phone. At most `limit`.
    func list(workspaceID: Int64, before: Int64?, search: String?, digits: String?, limit: Int) throws -> [PatientRecord]
    /// Inserts the patient with its audit entry; nil when the workspace already has a patient with that phone.
    func create(_ patient: NewPatient, audit: (PatientRecord) -> AuditEntry) throws -> PatientRecord?
    func get(workspaceID: Int64, id: Int64) throws -> PatientRecord?
    /// Live appointments that end after `after`, earliest first (at most 100).
    func upcomingAppointments(workspaceID: Int64, patientID: Int64, after: Date) throws -> [PatientAppointmentSummary]
    /// The patient's conversations (not deleted), oldest first.
    func conversationIDs(workspaceID: Int64, patientID: Int64) throws -> [Int64]
    /// Locks the patient, asks `decide` for the change (and its audit entry) given the current values,
    /// and writes both in one transaction; nil when there is no such patient.
    func update(workspaceID: Int64, id: Int64, decide: (PatientRecord) throws -> (PatientChange, AuditEntry)) throws -> PatientRecord?
}

public struct PGPatientStore: PatientStore {
    let conn: PGConnection
    public init(_ conn: PGConnection) { self.conn = conn }

    static let columns: SQLFragment = "id, name, phone, preferred_language, consent_whatsapp, consent_updated_at, consent_source, created_at"

    public func list(workspaceID: Int64, before: Int64?, search: String?, digits: String?, limit: Int) throws -> [PatientRecord] {
        let pattern = search.flatMap { $0.isEmpty ? nil : likeContaining($0) }
        let digits = digits.flatMap { $0.isEmpty ? nil : "%" + $0 + "%" }
        return try conn.query("""
            SELECT \(unescaped: Self.columns)
              FROM patients
             WHERE workspace_id = \(workspaceID) AND (\(before)::bigint IS NULL OR id < \(before)::bigint)
               AND (\(pattern)::text IS NULL OR name ILIKE \(pattern)::text OR (\(digits)::text IS NOT NULL AND phone LIKE \(digits)::text))
             ORDER BY id DESC LIMIT \(limit)
            """).map(PatientRecord.init(row:))
    }

    public func create(_ p: NewPatient, audit: (PatientRecord) -> AuditEntry) throws -> PatientRecord? {
        try conn.transaction {
            guard let row = try conn.query("""
                INSERT INTO patients (workspace_id, phone, name, preferred_language, consent_whatsapp, consent_updated_at, consent_source)
                VALUES (\(p.workspaceID), \(p.phone), \(p.name), \(p.preferredLanguage), \(p.consentWhatsapp),
                        CASE WHEN \(p.consentWhatsapp)::bool THEN now() END, CASE WHEN \(p.consentWhatsapp)::bool THEN 'staff' END)
                ON CONFLICT (workspace_id, phone) DO NOTHING
                RETURNING \(unescaped: Self.columns)
                """).first else { return nil }
            let record = try PatientRecord(row: row)
            try conn.recordAudit(audit(record))
            return record
        }
    }

    public func get(workspaceID: Int64, id: Int64) throws -> PatientRecord? {
        try conn.query("SELECT \(unescaped: Self.columns) FROM patients WHERE workspace_id = \(workspaceID) AND id = \(id)").first.map(PatientRecord.init(row:))
    }

    public func upcomingAppointments(workspaceID: Int64, patientID: Int64, after: Date) throws -> [PatientAppointmentSummary] {
        try conn.query("""
            SELECT a.id, a.status, a.starts_at, a.ends_at, a.doctor_id, NULLIF(u.name, '') AS doctor_name
              FROM appointments a LEFT JOIN users u ON u.id = a.doctor_id
             WHERE a.workspace_id = \(workspaceID) AND a.patient_id = \(patientID) AND a.status <> 'cancelled' AND a.ends_at > \(after)
             ORDER BY a.starts_at, a.id LIMIT 100
            """).map { r in
            PatientAppointmentSummary(id: try r.decode(Int64.self, "id"), status: try r.decode(String.self, "status"),
                                      startsAt: try r.decode(Date.self, "starts_at"), endsAt: try r.decode(Date.self, "ends_at"),
                                      doctorID: try r.decode(Int64?.self, "doctor_id"), doctorName: try r.decode(String?.self, "doctor_name"))
        }
    }

    public func conversationIDs(workspaceID: Int64, patientID: Int64) throws -> [Int64] {
        try conn.query("""
            SELECT id FROM whatsapp_conversations WHERE workspace_id = \(workspaceID) AND patient_id = \(patientID) AND deleted_at IS NULL ORDER BY id
            """).map { try $0.decode(Int64.self, "id") }
    }

    public func update(workspaceID: Int64, id: Int64, decide: (PatientRecord) throws -> (PatientChange, AuditEntry)) throws -> PatientRecord? {
        try conn.transaction {
            guard let current = try conn.query("SELECT \(unescaped: Self.columns) FROM patients WHERE workspace_id = \(workspaceID) AND id = \(id) FOR UPDATE")
                    .first.map(PatientRecord.init(row:)) else { return nil }
            let (change, entry) = try decide(current)
            let name = change.name, lang = change.preferredLanguage, consent = change.consentWhatsapp
            guard let row = try conn.query("""
                UPDATE patients
                   SET name = CASE WHEN \(name != nil)::bool THEN \(name ?? nil)::text ELSE name END,
                       preferred_language = CASE WHEN \(lang != nil)::bool THEN \(lang ?? nil)::text ELSE preferred_language END,
                       consent_whatsapp = COALESCE(\(consent)::bool, consent_whatsapp),
                       consent_updated_at = CASE WHEN \(consent)::bool IS NULL THEN consent_updated_at ELSE now() END,
                       consent_source = CASE WHEN \(consent)::bool IS NULL THEN consent_source ELSE 'staff' END
                 WHERE workspace_id = \(workspaceID) AND id = \(id)
                RETURNING \(unescaped: Self.columns)
                """).first else { return nil }
            try conn.recordAudit(entry)
            return try PatientRecord(row: row)
        }
    }
}

extension PostgresStores {
    public var patients: PGPatientStore { PGPatientStore(conn) }
}

/// A patient as staff see them beside a conversation (the inbox) or an appointment (the book).
public struct PatientBrief: Sendable, Encodable, Equatable {
    public let id: Int64
    public let name: String?
    public let phone: String
    public let preferredLanguage: String
    public let consentWhatsapp: Bool
    enum CodingKeys: String, CodingKey {
        case id, name, phone
        case preferredLanguage = "preferred_language", consentWhatsapp = "consent_whatsapp"
    }
    public init(id: Int64, name: String?, phone: String, preferredLanguage: String, consentWhatsapp: Bool) {
        self.id = id
        self.name = name
        self.phone = phone
        self.preferredLanguage = preferredLanguage
        self.consentWhatsapp = consentWhatsapp
    }
}
