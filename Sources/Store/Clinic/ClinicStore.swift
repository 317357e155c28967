import Foundation
import Postgres

/// The clinic's profile as the API shows it.
public struct ClinicProfileRecord: Sendable, Encodable, Equatable {
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
    public init(id: Int64, name: String, clinicName: String, clinicInfo: String?, address: String?, phone: String?, timezone: String,
                defaultLanguage: String) {
        self.id = id
        self.name = name
        self.clinicName = clinicName
        self.clinicInfo = clinicInfo
        self.address = address
        self.phone = phone
        self.timezone = timezone
        self.defaultLanguage = defaultLanguage
    }
    init(row: PGRow) throws {
        self.init(id: try row.decode(Int64.self, "id"), name: try row.decode(String.self, "name"), clinicName: try row.decode(String.self, "clinic_name"),
                  clinicInfo: try row.decode(String?.self, "clinic_info"), address: try row.decode(String?.self, "address"),
                  phone: try row.decode(String?.self, "phone"), timezone: try row.decode(String?.self, "timezone") ?? "UTC",
                  defaultLanguage: try row.decode(String?.self, "default_language") ?? "es")
    }
}

/// A change to the profile, its values checked: `nil` keeps a field; `.some(nil)` clears
/// clinic_info, address or phone.
public struct ClinicProfileChange: Sendable, Equatable {
    public var clinicName: String?
    public var clinicInfo: String??
    public var address: String??
    public var phone: String??
    public var timezone: String?
    public var defaultLanguage: String?
    public init(clinicName: String? = nil, clinicInfo: String?? = nil, address: String?? = nil, phone: String?? = nil, timezone: String? = nil,
                defaultLanguage: String? = nil) {
        self.clinicName = clinicName
        self.clinicInfo = clinicInfo
        self.address = address
        self.phone = phone
        self.timezone = timezone
        self.defaultLanguage = defaultLanguage
    }
}

/// A workspace's appointment reminder settings (read by `medsync-jobs reminders`).
public struct ReminderSettingsRecord: Sendable, Codable, Equatable {
    public var enabled: Bool
    public var hoursBefore: Int
    public var templateKey: String
    public var customMessage: String?
    public var language: String
    enum CodingKeys: String, CodingKey {
        case enabled, language
        case hoursBefore = "hours_before", templateKey = "template_key", customMessage = "custom_message"
    }
    public init(enabled: Bool, hoursBefore: Int, templateKey: String, customMessage: String?, language: String) {
        self.enabled = enabled
        self.hoursBefore = hoursBefore
        self.templateKey = templateKey
        self.customMessage = customMessage
        self.language = language
    }
    /// The product guide's defaults: off until the clinic turns reminders on; `reminder_default` is
    /// the appt_reminder template.
    public static let defaults = ReminderSettingsRecord(enabled: false, hoursBefore: 24, templateKey: "reminder_default", customMessage: nil, language: "es")
}

/// The clinic's own settings: its profile (what the bot tells patients), the Meta Content template
/// SIDs and the reminder settings.
public protocol ClinicStore: TimezoneNames {
    func profile(workspaceID: Int64) throws -> ClinicProfileRecord?
    /// Writes the change and its audit entry; nil when there is no such workspace.
    func updateProfile(workspaceID: Int64, _ change: ClinicProfileChange, audit: AuditEntry) throws -> ClinicProfileRecord?
    /// Sets (a SID) or removes (nil) the template's SIDs per language with the audit entry; answers
    /// the template's SIDs after the change, nil when there is no such workspace.
    func updateContentSids(workspaceID: Int64, templateKey: String, _ values: [String: String?], audit: AuditEntry) throws -> [String: String]?
    /// The workspace's reminder settings (the defaults written first when it has none); nil when there is no such workspace.
    func reminderSettings(workspaceID: Int64) throws -> ReminderSettingsRecord?
    /// Reads the settings, asks `change` for the new values (and the audit entry)
    /// and writes both in one transaction; nil when there is no such workspace.
    func updateReminderSettings(workspaceID: Int64, userID: Int64?,
                                change: (ReminderSettingsRecord) throws -> (ReminderSettingsRecord, AuditEntry)) throws -> ReminderSettingsRecord?
}

public struct PGClinicStore: ClinicStore {
    let conn: PGConnection
    public init(_ conn: PGConnection) { self.conn = conn }

    static let columns: SQLFragment = "id, name, COALESCE(NULLIF(clinic_name, ''), name) AS clinic_name, clinic_info, address, phone, timezone, default_language"

    public func profile(workspaceID: Int64) throws -> ClinicProfileRecord? {
        try conn.query("SELECT \(unescaped: Self.columns) FROM workspaces WHERE id = \(workspaceID)").first.map(ClinicProfileRecord.init(row:))
    }

    public func isKnownTimezone(_ name: String) throws -> Bool { try conn.isKnownTimezone(name) }

    public func updateProfile(workspaceID: Int64, _ c: ClinicProfileChange, audit: AuditEntry) throws -> ClinicProfileRecord? {
        try conn.transaction {
            // A NULL value keeps a column; the flags tell "clear" from "keep" for clearable ones.
            guard let row = try conn.query("""
                UPDATE workspaces
                   SET clinic_name = COALESCE(\(c.clinicName)::text, clinic_name),
                       clinic_info = CASE WHEN \(c.clinicInfo != nil)::bool THEN \(c.clinicInfo ?? nil)::text ELSE clinic_info END,
                       address = CASE WHEN \(c.address != nil)::bool THEN \(c.address ?? nil)::text ELSE address END,
                       phone = CASE WHEN \(c.phone != nil)::bool THEN \(c.phone ?? nil)::text ELSE phone END,
                       timezone = COALESCE(\(c.timezone)::text, timezone),
                       default_language = COALESCE(\(c.defaultLanguage)::text, default_language)
                 WHERE id = \(workspaceID)
                RETURNING \(unescaped: Self.columns)
                """).first else { return nil }
            try conn.recordAudit(audit)
            return try ClinicProfileRecord(row: row)
        }
    }

    public func updateContentSids(workspaceID: Int64, templateKey: String, _ values: [String: String?], audit: AuditEntry) throws -> [String: String]? {
        try conn.transaction {
            guard let row = try conn.query("SELECT content_sids -> \(templateKey)::text AS sids FROM workspaces WHERE id = \(workspaceID) FOR UPDATE").first else {
                return nil
            }
            var sids = try row.decodeJSON([String: String]?.self, "sids") ?? [:]
            for (lang, sid) in values { sids[lang] = sid }
            let json = try PGValue.json(encoding: sids)
            try conn.execute("""
                UPDATE workspaces SET content_sids = CASE WHEN \(json)::jsonb = '{}'::jsonb THEN content_sids - \(templateKey)::text
                                                          ELSE jsonb_set(content_sids, ARRAY[\(templateKey)::text], \(json)::jsonb) END
                 WHERE id = \(workspaceID)
                """)
            try conn.recordAudit(audit)
            return sids
        }
    }

    public func reminderSettings(workspaceID: Int64) throws -> ReminderSettingsRecord? {
        try conn.execute("INSERT INTO reminder_settings (workspace_id) VALUES (\(workspaceID)) ON CONFLICT DO NOTHING")
        guard let row = try conn.query("SELECT enabled, hours_before, template_key, custom_message, language FROM reminder_settings WHERE workspace_id = \(workspaceID)").first else {
            return nil
        }
        let d = ReminderSettingsRecord.defaults
        return ReminderSettingsRecord(enabled: try row.decode(Bool?.self, "enabled") ?? d.enabled, hoursBefore: try row.decode(Int?.self, "hours_before") ?? d.hoursBefore,
                                      templateKey: try row.decode(String?.self, "template_key") ?? d.templateKey,
                                      customMessage: try row.decode(String?.self, "custom_message"), language: try row.decode(String?.self, "language") ?? d.language)
    }

    public func updateReminderSettings(workspaceID: Int64, userID: Int64?,
                                       change: (ReminderSettingsRecord) throws -> (ReminderSettingsRecord, AuditEntry)) throws -> ReminderSettingsRecord? {
        try conn.transaction {
            guard let current = try reminderSettings(workspaceID: workspaceID) else { return nil }
            let (v, entry) = try change(current)
            try conn.execute("""
                UPDATE reminder_settings SET enabled = \(v.enabled), hours_before = \(v.hoursBefore), template_key = \(v.templateKey), custom_message = \(v.customMessage), language = \(v.language), updated_by = \(userID)
                 WHERE workspace_id = \(workspaceID)
                """)
            try conn.recordAudit(entry)
            return v
        }
    }
}

extension PostgresStores {
    public var clinic: PGClinicStore { PGClinicStore(conn) }
}
