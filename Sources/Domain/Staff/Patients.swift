import Foundation
import Postgres

/// The clinic's patients: list and search, add, read (with upcoming appointments and conversations),
/// change name, language and consent (timestamped and audited; a patient who opted out by STOP is
/// opted back in only with an explicit confirmation).
public enum Patients {
    public struct View: Sendable, Encodable {
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
        init(row: PGRow) throws {
            id = try row.decode(Int64.self, "id")
            name = try row.decode(String?.self, "name")
            phone = try row.decode(String.self, "phone")
            preferredLanguage = try row.decode(String?.self, "preferred_language")
            consentWhatsapp = try row.decode(Bool?.self, "consent_whatsapp") ?? false
            consentUpdatedAt = try row.decode(Date?.self, "consent_updated_at")
            consentSource = try row.decode(String?.self, "consent_source")
            optedOut = !consentWhatsapp && consentSource == "whatsapp"
            createdAt = try row.decode(Date.self, "created_at")
        }
    }

    static let columns: SQLFragment = "id, name, phone, preferred_language, consent_whatsapp, consent_updated_at, consent_source, created_at"

    public struct Page: Sendable, Encodable {
        public let items: [View]
        public let nextCursor: String?
        enum CodingKeys: String, CodingKey { case items, nextCursor = "next_cursor" }
    }

    /// Newest first; `search` matches the name (case-insensitive) or the phone (digits); `cursor` is
    /// the `next_cursor` of the previous page.
    public static func list(_ conn: PGConnection, workspaceID: Int64, search: String?, cursor: String?, limit: Int) throws -> Page {
        let limit = min(max(limit, 1), 200)
        var before: Int64? = nil
        if let cursor, !cursor.isEmpty {
            guard let n = FlexibleID.parse(cursor) else { throw AppError.validation("cursor", "use the next_cursor of the previous page.") }
            before = n
        }
        let term = search?.trimmingCharacters(in: .whitespacesAndNewlines).prefix(100)
        let pattern = term.flatMap { $0.isEmpty ? nil : "%" + likeEscape(String($0)) + "%" }
        let digits = term.map { $0.filter { $0.isASCII && $0.isNumber } }.flatMap { $0.isEmpty ? nil : "%" + String($0) + "%" }
        let rows = try conn.query("""
            SELECT \(unescaped: columns)
              FROM patients
             WHERE workspace_id = \(workspaceID) AND (\(before)::bigint IS NULL OR id < \(before)::bigint)
               AND (\(pattern)::text IS NULL OR name ILIKE \(pattern)::text OR (\(digits)::text IS NOT NULL AND phone LIKE \(digits)::text))
             ORDER BY id DESC LIMIT \(limit + 1)
            """)
        let items = try rows.prefix(limit).map(View.init(row:))
        return Page(items: items, nextCursor: rows.count > limit ? items.last.map { String($0.id) } : nil)
    }

    static func likeEscape(_ s: String) -> String {
        s.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_")
    }

    public struct CreateInput: Sendable, Decodable {
        public var phone: String
        public var name: String?
        public var preferredLanguage: String?
        public var consentWhatsapp: Bool?
        enum CodingKeys: String, CodingKey {
            case phone, name
            case preferredLanguage = "preferred_language", consentWhatsapp = "consent_whatsapp"
        }
        public init(phone: String, name: String? = nil, preferredLanguage: String? = nil, consentWhatsapp: Bool? = nil) {
            self.phone = phone
            self.name = name
            self.preferredLanguage = preferredLanguage
            self.consentWhatsapp = consentWhatsapp
        }
    }

    static func cleanName(_ name: String?) throws -> String? {
        guard let n = name?.trimmingCharacters(in: .whitespacesAndNewlines), !n.isEmpty else { return nil }
        guard n.count <= 200 else { throw AppError.validation("name", "at most 200 characters.") }
        return n
    }

    static func language(_ l: String?) throws -> String? {
        guard let l, !l.isEmpty else { return nil }
        guard Templates.languages.contains(l) else { throw AppError.validation("preferred_language", "en or es.") }
        return l
    }

    public static func create(_ conn: PGConnection, actor: StaffActor, _ input: CreateInput) throws -> View {
        guard let phone = Phone.normalize(input.phone) else {
            throw AppError.validation("phone", "\"\(input.phone.prefix(40))\" is not an E.164 number, e.g. +5215512345678.")
        }
        let name = try cleanName(input.name)
        let lang = try language(input.preferredLanguage)
        let consent = input.consentWhatsapp ?? false
        return try conn.transaction {
            guard let row = try conn.query("""
                INSERT INTO patients (workspace_id, phone, name, preferred_language, consent_whatsapp, consent_updated_at, consent_source)
                VALUES (\(actor.workspaceID), \(phone), \(name), \(lang), \(consent),
                        CASE WHEN \(consent)::bool THEN now() END, CASE WHEN \(consent)::bool THEN 'staff' END)
                ON CONFLICT (workspace_id, phone) DO NOTHING
                RETURNING \(unescaped: columns)
                """).first else {
                throw AppError(.patientExists, "A patient with the phone \(phone) already exists in this workspace.")
            }
            let view = try View(row: row)
            try Audit.record(conn, actor, action: "patient.create", targetType: "patient", targetID: String(view.id),
                             details: ["consent_whatsapp": String(consent)])
            return view
        }
    }

    public struct AppointmentSummary: Sendable, Encodable {
        public let id: Int64
        public let status: String
        public let startsAt: Date
        public let endsAt: Date
        public let doctorID: Int64?
        public let doctorName: String?
        enum CodingKeys: String, CodingKey {
            case id, status, startsAt = "starts_at", endsAt = "ends_at", doctorID = "doctor_id", doctorName = "doctor_name"
        }
    }

    public struct Detail: Sendable, Encodable {
        public let patient: View
        public let upcomingAppointments: [AppointmentSummary]
        public let conversationIDs: [Int64]
        enum CodingKeys: String, CodingKey { case patient, upcomingAppointments = "upcoming_appointments", conversationIDs = "conversation_ids" }
    }

    public static func get(_ conn: PGConnection, workspaceID: Int64, id: Int64, now: Date = Date()) throws -> Detail {
        guard let row = try conn.query("SELECT \(unescaped: columns) FROM patients WHERE workspace_id = \(workspaceID) AND id = \(id)").first else {
            throw AppError(.notFound, "There is no patient \(id) in this workspace.")
        }
        let appointments = try conn.query("""
            SELECT a.id, a.status, a.starts_at, a.ends_at, a.doctor_id, NULLIF(u.name, '') AS doctor_name
              FROM appointments a LEFT JOIN users u ON u.id = a.doctor_id
             WHERE a.workspace_id = \(workspaceID) AND a.patient_id = \(id) AND a.status <> 'cancelled' AND a.ends_at > \(now)
             ORDER BY a.starts_at, a.id LIMIT 100
            """).map { r -> AppointmentSummary in
            AppointmentSummary(id: try r.decode(Int64.self, "id"), status: try r.decode(String.self, "status"),
                               startsAt: try r.decode(Date.self, "starts_at"), endsAt: try r.decode(Date.self, "ends_at"),
                               doctorID: try r.decode(Int64?.self, "doctor_id"), doctorName: try r.decode(String?.self, "doctor_name"))
        }
        let conversations = try conn.query("""
            SELECT id FROM whatsapp_conversations WHERE workspace_id = \(workspaceID) AND patient_id = \(id) AND deleted_at IS NULL ORDER BY id
            """).map { try $0.decode(Int64.self, "id") }
        return Detail(patient: try View(row: row), upcomingAppointments: appointments, conversationIDs: conversations)
    }

    /// A PATCH body: a missing field keeps its value; `null` clears the name or the language.
    public struct Update: Sendable, Decodable {
        public var name: String??
        public var preferredLanguage: String??
        public var consentWhatsapp: Bool?
        public var consentConfirmed: Bool?
        enum CodingKeys: String, CodingKey {
            case name
            case preferredLanguage = "preferred_language", consentWhatsapp = "consent_whatsapp", consentConfirmed = "consent_confirmed"
        }
        public init(name: String?? = nil, preferredLanguage: String?? = nil, consentWhatsapp: Bool? = nil, consentConfirmed: Bool? = nil) {
            self.name = name
            self.preferredLanguage = preferredLanguage
            self.consentWhatsapp = consentWhatsapp
            self.consentConfirmed = consentConfirmed
        }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decodeClearable(.name)
            preferredLanguage = try c.decodeClearable(.preferredLanguage)
            consentWhatsapp = try c.decodeIfPresent(Bool.self, forKey: .consentWhatsapp)
            consentConfirmed = try c.decodeIfPresent(Bool.self, forKey: .consentConfirmed)
        }
    }

    public static func update(_ conn: PGConnection, actor: StaffActor, id: Int64, _ u: Update) throws -> View {
        let name: String?? = try u.name.map { try cleanName($0) }
        let lang: String?? = try u.preferredLanguage.map { try language($0) }
        return try conn.transaction {
            guard let current = try conn.query("SELECT \(unescaped: columns) FROM patients WHERE workspace_id = \(actor.workspaceID) AND id = \(id) FOR UPDATE")
                    .first.map(View.init(row:)) else {
                throw AppError(.notFound, "There is no patient \(id) in this workspace.")
            }
            var consentChange: Bool? = nil
            if let wanted = u.consentWhatsapp, wanted != current.consentWhatsapp {
                if wanted, current.optedOut, u.consentConfirmed != true {
                    throw AppError(.consentConfirmationRequired, "The patient opted out by replying STOP: set consent_confirmed to true to confirm they asked to receive WhatsApp messages again.")
                }
                consentChange = wanted
            }
            guard let row = try conn.query("""
                UPDATE patients
                   SET name = CASE WHEN \(name != nil)::bool THEN \(name ?? nil)::text ELSE name END,
                       preferred_language = CASE WHEN \(lang != nil)::bool THEN \(lang ?? nil)::text ELSE preferred_language END,
                       consent_whatsapp = COALESCE(\(consentChange)::bool, consent_whatsapp),
                       consent_updated_at = CASE WHEN \(consentChange)::bool IS NULL THEN consent_updated_at ELSE now() END,
                       consent_source = CASE WHEN \(consentChange)::bool IS NULL THEN consent_source ELSE 'staff' END
                 WHERE workspace_id = \(actor.workspaceID) AND id = \(id)
                RETURNING \(unescaped: columns)
                """).first else {
                throw AppError(.notFound, "There is no patient \(id) in this workspace.")
            }
            var fields: [String] = []
            if name != nil { fields.append("name") }
            if lang != nil { fields.append("preferred_language") }
            var details = ["fields": fields.joined(separator: ",")]
            if let consentChange { details["consent_whatsapp"] = String(consentChange) }
            try Audit.record(conn, actor, action: consentChange == nil ? "patient.update" : "patient.consent", targetType: "patient",
                             targetID: String(id), details: details)
            return try View(row: row)
        }
    }
}
