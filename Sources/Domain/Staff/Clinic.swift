import Foundation
import Postgres

/// The clinic's profile (what the bot tells patients: name, information, address, phone; the
/// timezone its times are read in; the default language) and its Meta Content template SIDs.
public enum ClinicProfile {
    public struct View: Sendable, Encodable, Equatable {
        public let id: Int64
        public let name: String
        public let clinicName: String
        public let clinicInfo: String?
        public let address: String?
        public let phone: String?
        public let timezone: String
        public let defaultLanguage: String
        enum CodingKeys: String, CodingKey {
            case id, name, address, phone, timezone
            case clinicName = "clinic_name", clinicInfo = "clinic_info", defaultLanguage = "default_language"
        }
    }

    /// A PUT body: a missing field keeps its value; `null` clears clinic_info, address and phone.
    public struct Update: Sendable, Decodable {
        public var clinicName: String?
        public var clinicInfo: String??
        public var address: String??
        public var phone: String??
        public var timezone: String?
        public var defaultLanguage: String?
        enum CodingKeys: String, CodingKey {
            case address, phone, timezone
            case clinicName = "clinic_name", clinicInfo = "clinic_info", defaultLanguage = "default_language"
        }
        public init(clinicName: String? = nil, clinicInfo: String?? = nil, address: String?? = nil, phone: String?? = nil,
                    timezone: String? = nil, defaultLanguage: String? = nil) {
            self.clinicName = clinicName
            self.clinicInfo = clinicInfo
            self.address = address
            self.phone = phone
            self.timezone = timezone
            self.defaultLanguage = defaultLanguage
        }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            clinicName = try c.decodeIfPresent(String.self, forKey: .clinicName)
            clinicInfo = try c.decodeClearable(.clinicInfo)
            address = try c.decodeClearable(.address)
            phone = try c.decodeClearable(.phone)
            timezone = try c.decodeIfPresent(String.self, forKey: .timezone)
            defaultLanguage = try c.decodeIfPresent(String.self, forKey: .defaultLanguage)
        }
    }

    static let columns: SQLFragment = "id, name, COALESCE(NULLIF(clinic_name, ''), name) AS clinic_name, clinic_info, address, phone, timezone, default_language"

    static func view(_ row: PGRow) throws -> View {
        View(id: try row.decode(Int64.self, "id"), name: try row.decode(String.self, "name"), clinicName: try row.decode(String.self, "clinic_name"),
             clinicInfo: try row.decode(String?.self, "clinic_info"), address: try row.decode(String?.self, "address"),
             phone: try row.decode(String?.self, "phone"), timezone: try row.decode(String?.self, "timezone") ?? "UTC",
             defaultLanguage: try row.decode(String?.self, "default_language") ?? "es")
    }

    public static func get(_ conn: PGConnection, workspaceID: Int64) throws -> View {
        guard let row = try conn.query("SELECT \(unescaped: columns) FROM workspaces WHERE id = \(workspaceID)").first else {
            throw AppError(.notFound, "There is no workspace \(workspaceID).")
        }
        return try view(row)
    }

    /// Changes the profile (the role matrix lets owners and admin doctors); audited with the fields changed.
    public static func put(_ conn: PGConnection, actor: StaffActor, _ u: Update) throws -> View {
        func text(_ value: String??, _ field: String, max: Int) throws -> String?? {
            guard case .some(let inner) = value else { return .none }
            guard let s = inner?.trimmingCharacters(in: .whitespacesAndNewlines), !s.isEmpty else { return .some(nil) }
            guard s.count <= max else { throw AppError.validation(field, "at most \(max) characters.") }
            return .some(s)
        }
        var clinicName: String? = nil
        if let n = u.clinicName {
            let s = n.trimmingCharacters(in: .whitespacesAndNewlines)
            guard (1...200).contains(s.count) else { throw AppError.validation("clinic_name", "1 to 200 characters.") }
            clinicName = s
        }
        let info = try text(u.clinicInfo, "clinic_info", max: 2000)
        let address = try text(u.address, "address", max: 500)
        var phone = try text(u.phone, "phone", max: 40)
        if case .some(.some(let p)) = phone {
            guard let e164 = Phone.normalize(p) else {
                throw AppError.validation("phone", "\"\(p.prefix(40))\" is not an international number, e.g. +5215512345678.")
            }
            phone = .some(e164)
        }
        if let tz = u.timezone { try Workspaces.validateTimezone(conn, tz) }
        if let l = u.defaultLanguage, !Templates.languages.contains(l) { throw AppError.validation("default_language", "en or es.") }
        var changed: [String] = []
        if clinicName != nil { changed.append("clinic_name") }
        if info != nil { changed.append("clinic_info") }
        if address != nil { changed.append("address") }
        if phone != nil { changed.append("phone") }
        if u.timezone != nil { changed.append("timezone") }
        if u.defaultLanguage != nil { changed.append("default_language") }
        return try conn.transaction {
            // A NULL value keeps a column; the flags tell "clear" from "keep" for clearable ones.
            guard let row = try conn.query("""
                UPDATE workspaces
                   SET clinic_name = COALESCE(\(clinicName)::text, clinic_name),
                       clinic_info = CASE WHEN \(info != nil)::bool THEN \(info ?? nil)::text ELSE clinic_info END,
                       address = CASE WHEN \(address != nil)::bool THEN \(address ?? nil)::text ELSE address END,
                       phone = CASE WHEN \(phone != nil)::bool THEN \(phone ?? nil)::text ELSE phone END,
                       timezone = COALESCE(\(u.timezone)::text, timezone),
                       default_language = COALESCE(\(u.defaultLanguage)::text, default_language)
                 WHERE id = \(actor.workspaceID)
                RETURNING \(unescaped: columns)
                """).first else {
                throw AppError(.notFound, "There is no workspace \(actor.workspaceID).")
            }
            try Audit.record(conn, actor, action: "clinic.update", targetType: "workspace", targetID: String(actor.workspaceID),
                             details: ["fields": changed.joined(separator: ",")])
            return try view(row)
        }
    }
}

/// Meta Content template SIDs (`workspaces.content_sids`): what lets templates and reminders go out
/// once the 24-hour window has closed.
public enum ContentSids {
    /// `HX` and 32 hexadecimal digits.
    public static func isValid(_ sid: String) -> Bool {
        sid.utf8.count == 34 && sid.hasPrefix("HX") && sid.utf8.dropFirst(2).allSatisfy { (48...57).contains($0) || (97...102).contains($0) || (65...70).contains($0) }
    }

    /// A PUT body: `{"en": "HX…", "es": null}`; a missing language keeps its SID, `null` removes it.
    public struct Update: Sendable, Decodable {
        public var values: [String: String?]
        public init(values: [String: String?]) { self.values = values }
        struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: Key.self)
            var v: [String: String?] = [:]
            for key in c.allKeys {
                v[key.stringValue] = try c.decodeClearable(key)
            }
            values = v
        }
    }

    /// Sets or removes the SIDs of one template; answers the template's SIDs after the change.
    public static func put(_ conn: PGConnection, actor: StaffActor, templateKey: String, _ update: Update) throws -> [String: String] {
        guard Templates.template(templateKey) != nil else {
            throw AppError(.unknownTemplateID, "There is no template \"\(templateKey.prefix(60))\" (available: \(Templates.all.map(\.key).joined(separator: ", "))).")
        }
        guard !update.values.isEmpty else { throw AppError.validation("body", "give en and/or es (a Content SID, or null to remove it).") }
        var details: [String: String] = ["template_id": templateKey]
        for (lang, sid) in update.values {
            guard Templates.languages.contains(lang) else { throw AppError.validation(String(lang.prefix(20)), "only en and es have Content SIDs.") }
            if let sid {
                guard isValid(sid) else { throw AppError.validation(lang, "a Content SID is HX followed by 32 hexadecimal digits.") }
            }
            details[lang] = sid ?? "removed"
        }
        return try conn.transaction {
            guard let row = try conn.query("SELECT content_sids -> \(templateKey)::text AS sids FROM workspaces WHERE id = \(actor.workspaceID) FOR UPDATE").first else {
                throw AppError(.notFound, "There is no workspace \(actor.workspaceID).")
            }
            var sids = try row.decodeJSON([String: String]?.self, "sids") ?? [:]
            for (lang, sid) in update.values { sids[lang] = sid }
            let json = try PGValue.json(encoding: sids)
            try conn.execute("""
                UPDATE workspaces SET content_sids = CASE WHEN \(json)::jsonb = '{}'::jsonb THEN content_sids - \(templateKey)::text
                                                          ELSE jsonb_set(content_sids, ARRAY[\(templateKey)::text], \(json)::jsonb) END
                 WHERE id = \(actor.workspaceID)
                """)
            try Audit.record(conn, actor, action: "template.content_sids", targetType: "template", targetID: templateKey, details: details)
            return sids
        }
    }
}
