import Foundation

/// The clinic's patients: list and search, add, read (with upcoming appointments and conversations),
/// change name, language and consent (timestamped and audited; a patient who opted out by STOP is
/// opted back in only with an explicit confirmation).
public enum Patients {
    public struct Page: Sendable, Encodable {
        public let items: [PatientRecord]
        public let nextCursor: String?
        enum CodingKeys: String, CodingKey { case items, nextCursor = "next_cursor" }
    }

    /// Newest first; `search` matches the name (case-insensitive) or the phone (digits); `cursor` is
    /// the `next_cursor` of the previous page.
    public static func list(_ store: some PatientStore, workspaceID: Int64, search: String?, cursor: String?, limit: Int) throws -> Page {
        let limit = min(max(limit, 1), 200)
        var before: Int64? = nil
        if let cursor, !cursor.isEmpty {
            guard let n = FlexibleID.parse(cursor) else { throw AppError.validation("cursor", "use the next_cursor of the previous page.") }
            before = n
        }
        let term = search?.trimmingCharacters(in: .whitespacesAndNewlines).prefix(100)
        let digits = term.map { String($0.filter { $0.isASCII && $0.isNumber }) }
        let rows = try store.list(workspaceID: workspaceID, before: before, search: term.map(String.init), digits: digits, limit: limit + 1)
        let items = Array(rows.prefix(limit))
        return Page(items: items, nextCursor: rows.count > limit ? items.last.map { String($0.id) } : nil)
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

    public static func create(_ store: some PatientStore, actor: StaffActor, _ input: CreateInput) throws -> PatientRecord {
        guard let phone = Phone.normalize(input.phone) else {
            throw AppError.validation("phone", "\"\(input.phone.prefix(40))\" is not an E.164 number, e.g. +5215512345678.")
        }
        let name = try cleanName(input.name)
        let lang = try language(input.preferredLanguage)
        let consent = input.consentWhatsapp ?? false
        guard let view = try store.create(NewPatient(workspaceID: actor.workspaceID, phone: phone, name: name, preferredLanguage: lang, consentWhatsapp: consent),
                                          audit: { actor.audit("patient.create", "patient", String($0.id), ["consent_whatsapp": String(consent)]) }) else {
            throw AppError(.patientExists, "A patient with the phone \(phone) already exists in this workspace.")
        }
        return view
    }

    public struct Detail: Sendable, Encodable {
        public let patient: PatientRecord
        public let upcomingAppointments: [PatientAppointmentSummary]
        public let conversationIDs: [Int64]
        enum CodingKeys: String, CodingKey { case patient, upcomingAppointments = "upcoming_appointments", conversationIDs = "conversation_ids" }
    }

    public static func get(_ store: some PatientStore, workspaceID: Int64, id: Int64, now: Date = Date()) throws -> Detail {
        guard let patient = try store.get(workspaceID: workspaceID, id: id) else {
            throw AppError(.notFound, "There is no patient \(id) in this workspace.")
        }
        return Detail(patient: patient, upcomingAppointments: try store.upcomingAppointments(workspaceID: workspaceID, patientID: id, after: now),
                      conversationIDs: try store.conversationIDs(workspaceID: workspaceID, patientID: id))
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

    public static func update(_ store: some PatientStore, actor: StaffActor, id: Int64, _ u: Update) throws -> PatientRecord {
        let name: String?? = try u.name.map { try cleanName($0) }
        let lang: String?? = try u.preferredLanguage.map { try language($0) }
        let updated = try store.update(workspaceID: actor.workspaceID, id: id) { current in
            var consentChange: Bool? = nil
            if let wanted = u.consentWhatsapp, wanted != current.consentWhatsapp {
                if wanted, current.optedOut, u.consentConfirmed != true {
                    throw AppError(.consentConfirmationRequired, "The patient opted out by replying STOP: set consent_confirmed to true to confirm they asked to receive WhatsApp messages again.")
                }
                consentChange = wanted
            }
            var fields: [String] = []
            if name != nil { fields.append("name") }
            if lang != nil { fields.append("preferred_language") }
            var details = ["fields": fields.joined(separator: ",")]
            if let consentChange { details["consent_whatsapp"] = String(consentChange) }
            return (PatientChange(name: name, preferredLanguage: lang, consentWhatsapp: consentChange),
                    actor.audit(consentChange == nil ? "patient.update" : "patient.consent", "patient", String(id), details))
        }
        guard let updated else { throw AppError(.notFound, "There is no patient \(id) in this workspace.") }
        return updated
    }
}
