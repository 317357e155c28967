import Foundation

/// A workspace's appointment reminder settings (read by `medsync-jobs reminders`).
public enum ReminderSettings {
    /// The guide's default template key: the appt_reminder template.
    public static let defaultTemplateKey = ReminderSettingsRecord.defaults.templateKey

    /// The template a stored key sends: `reminder_default` is appt_reminder; unknown keys fall back to it too.
    public static func templateKey(_ stored: String) -> String {
        stored == defaultTemplateKey || Templates.template(stored) == nil ? "appt_reminder" : stored
    }

    /// A PUT body: every field optional; what is missing keeps its value.
    public struct Update: Sendable, Decodable {
        public var enabled: Bool?
        public var hoursBefore: Int?
        public var templateKey: String?
        public var customMessage: String?
        public var language: String?
        enum CodingKeys: String, CodingKey {
            case enabled, language
            case hoursBefore = "hours_before", templateKey = "template_key", customMessage = "custom_message"
        }
        public init(enabled: Bool? = nil, hoursBefore: Int? = nil, templateKey: String? = nil, customMessage: String? = nil, language: String? = nil) {
            self.enabled = enabled
            self.hoursBefore = hoursBefore
            self.templateKey = templateKey
            self.customMessage = customMessage
            self.language = language
        }
    }

    public static let customPlaceholders: Set<String> = ["patient_name", "when", "doctor_name"]

    public static func get(_ store: some ClinicStore, workspaceID: Int64) throws -> ReminderSettingsRecord {
        guard let value = try store.reminderSettings(workspaceID: workspaceID) else {
            throw AppError(.notFound, "There is no workspace \(workspaceID).")
        }
        return value
    }

    public static func validate(_ v: ReminderSettingsRecord) throws(AppError) {
        guard (1...72).contains(v.hoursBefore) else { throw AppError.validation("hours_before", "must be between 1 and 72.") }
        guard v.templateKey == defaultTemplateKey || Templates.template(v.templateKey) != nil else {
            throw AppError.validation("template_key", "one of \(([defaultTemplateKey] + Templates.all.map(\.key)).joined(separator: ", ")).")
        }
        guard Templates.languages.contains(v.language) else { throw AppError.validation("language", "en or es.") }
        if let m = v.customMessage {
            guard m.count <= 1000 else { throw AppError.validation("custom_message", "at most 1000 characters.") }
            let unknown = Templates.placeholders(in: m).filter { !customPlaceholders.contains($0) }
            guard unknown.isEmpty else {
                throw AppError.validation("custom_message", "unknown placeholder(s) \(unknown.map { "{\($0)}" }.joined(separator: ", ")); use {patient_name}, {when}, {doctor_name}.")
            }
        }
        if v.templateKey == "custom", (v.customMessage ?? "").trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            throw AppError.validation("custom_message", "required when template_key is custom.")
        }
    }

    public static func put(_ store: some ClinicStore, actor: StaffActor, _ update: Update) throws -> ReminderSettingsRecord {
        let value = try store.updateReminderSettings(workspaceID: actor.workspaceID, userID: actor.userID) { current in
            var v = current
            if let x = update.enabled { v.enabled = x }
            if let x = update.hoursBefore { v.hoursBefore = x }
            if let x = update.templateKey { v.templateKey = x }
            if let x = update.customMessage { v.customMessage = x.isEmpty ? nil : x }
            if let x = update.language { v.language = x }
            try validate(v)
            return (v, actor.audit("reminder_settings.update", "workspace", String(actor.workspaceID),
                                   ["enabled": String(v.enabled), "hours_before": String(v.hoursBefore), "template_key": v.templateKey,
                                    "language": v.language]))
        }
        guard let value else { throw AppError(.notFound, "There is no workspace \(actor.workspaceID).") }
        return value
    }
}
