import Foundation

/// The clinic's profile (what the bot tells patients: name, information, address, phone; the
/// timezone its times are read in; the default language) and its Meta Content template SIDs.
public enum ClinicProfile {
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

    public static func get(_ store: some ClinicStore, workspaceID: Int64) throws -> ClinicProfileRecord {
        guard let view = try store.profile(workspaceID: workspaceID) else {
            throw AppError(.notFound, "There is no workspace \(workspaceID).")
        }
        return view
    }

    /// Changes the profile (the role matrix lets owners and admin doctors); audited with the fields changed.
    public static func put(_ store: some ClinicStore, actor: StaffActor, _ u: Update) throws -> ClinicProfileRecord {
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
        if let tz = u.timezone { try Workspaces.validateTimezone(store, tz) }
        if let l = u.defaultLanguage, !Templates.languages.contains(l) { throw AppError.validation("default_language", "en or es.") }
        var changed: [String] = []
        if clinicName != nil { changed.append("clinic_name") }
        if info != nil { changed.append("clinic_info") }
        if address != nil { changed.append("address") }
        if phone != nil { changed.append("phone") }
        if u.timezone != nil { changed.append("timezone") }
        if u.defaultLanguage != nil { changed.append("default_language") }
        let change = ClinicProfileChange(clinicName: clinicName, clinicInfo: info, address: address, phone: phone, timezone: u.timezone,
                                         defaultLanguage: u.defaultLanguage)
        guard let view = try store.updateProfile(workspaceID: actor.workspaceID, change,
                                                 audit: actor.audit("clinic.update", "workspace", String(actor.workspaceID), ["fields": changed.joined(separator: ",")])) else {
            throw AppError(.notFound, "There is no workspace \(actor.workspaceID).")
        }
        return view
    }
}
