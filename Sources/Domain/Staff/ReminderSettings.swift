import Foundation
import Postgres

/// A workspace's appointment reminder settings (read by `medsync-jobs reminders`).
public enum ReminderSettings {
    public struct Value: Sendable, Codable, Equatable {
        public var enabled: Bool
        public var hoursBefore: Int
        public var templateKey: String
        public var customMessage: String?
        public var language: String
        enum CodingKeys: String, CodingKey {
            case enabled, language
            case hoursBefore = "hours_before", templateKey = "template_key", customMessage = "custom_message"
        }
        /// The product guide's defaults: off until the clinic turns reminders on.
        public static let defaults = Value(enabled: false, hoursBefore: 24, templateKey: defaultTemplateKey, customMessage: nil, language: "es")
    }

    /// The guide's default template key: the appt_reminder template.
    public static let defaultTemplateKey = "reminder_default"

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

    public static func get(_ conn: PGConnection, workspaceID: Int64) throws -> Value {
        try conn.execute("INSERT INTO reminder_settings (workspace_id) VALUES (\(workspaceID)) ON CONFLICT DO NOTHING")
        guard let row = try conn.query("SELECT enabled, hours_before, template_key, custom_message, language FROM reminder_settings WHERE workspace_id = \(workspaceID)").first else {
            throw AppError(.notFound, "There is no workspace \(workspaceID).")
        }
        let d = Value.defaults
        return Value(enabled: try row.decode(Bool?.self, "enabled") ?? d.enabled, hoursBefore: try row.decode(Int?.self, "hours_before") ?? d.hoursBefore,
                     templateKey: try row.decode(String?.self, "template_key") ?? d.templateKey, customMessage: try row.decode(String?.self, "custom_message"),
                     language: try row.decode(String?.self, "language") ?? d.language)
    }

    public static func validate(_ v: Value) throws(AppError) {
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

    public static func put(_ conn: PGConnection, actor: StaffActor, _ update: Update) throws -> Value {
        return try conn.transaction {
            var v = try get(conn, workspaceID: actor.workspaceID)
            if let x = update.enabled { v.enabled = x }
            if let x = update.hoursBefore { v.hoursBefore = x }
            if let x = update.templateKey { v.templateKey = x }
            if let x = update.customMessage { v.customMessage = x.isEmpty ? nil : x }
            if let x = update.language { v.language = x }
            try validate(v)
            try conn.execute("""
                UPDATE reminder_settings SET enabled = \(v.enabled), hours_before = \(v.hoursBefore), template_key = \(v.templateKey), custom_message = \(v.customMessage), language = \(v.language), updated_by = \(actor.userID)
                 WHERE workspace_id = \(actor.workspaceID)
                """)
            try Audit.record(conn, actor, action: "reminder_settings.update", targetType: "workspace", targetID: String(actor.workspaceID),
                             details: ["enabled": String(v.enabled), "hours_before": String(v.hoursBefore), "template_key": v.templateKey,
                                       "language": v.language])
            return v
        }
    }
}
