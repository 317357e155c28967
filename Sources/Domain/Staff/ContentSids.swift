import Foundation

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
    public static func put(_ store: some ClinicStore, actor: StaffActor, templateKey: String, _ update: Update) throws -> [String: String] {
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
        guard let sids = try store.updateContentSids(workspaceID: actor.workspaceID, templateKey: templateKey, update.values,
                                                     audit: actor.audit("template.content_sids", "template", templateKey, details)) else {
            throw AppError(.notFound, "There is no workspace \(actor.workspaceID).")
        }
        return sids
    }
}
