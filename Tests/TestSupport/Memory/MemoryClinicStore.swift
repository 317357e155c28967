import Foundation
import Store

/// The clinic's settings in memory (see `MemoryAuditStore`): one profile per workspace, Content SIDs
/// per template, reminder settings (the defaults until changed). Audit entries go to `audit`.
public final class MemoryClinicStore: ClinicStore, @unchecked Sendable {
    public var profiles: [Int64: ClinicProfileRecord] = [:]
    public var contentSids: [Int64: [String: [String: String]]] = [:]
    public var reminders: [Int64: ReminderSettingsRecord] = [:]
    /// The timezones PostgreSQL would know (Foundation's list stands in for `pg_timezone_names`).
    public var knownTimezones: Set<String> = Set(TimeZone.knownTimeZoneIdentifiers).union(["UTC"])
    public let audit: MemoryAuditStore

    public init(audit: MemoryAuditStore = MemoryAuditStore()) { self.audit = audit }

    /// A workspace as `Workspaces.create` makes one.
    public func add(workspaceID: Int64, name: String, timezone: String = "UTC", defaultLanguage: String = "es") {
        profiles[workspaceID] = ClinicProfileRecord(id: workspaceID, name: name, clinicName: name, clinicInfo: nil, address: nil, phone: nil,
                                                    timezone: timezone, defaultLanguage: defaultLanguage)
    }

    public func profile(workspaceID: Int64) throws -> ClinicProfileRecord? { profiles[workspaceID] }

    public func isKnownTimezone(_ name: String) throws -> Bool { knownTimezones.contains(name) }

    public func updateProfile(workspaceID: Int64, _ c: ClinicProfileChange, audit entry: AuditEntry) throws -> ClinicProfileRecord? {
        guard let p = profiles[workspaceID] else { return nil }
        let r = ClinicProfileRecord(id: p.id, name: p.name, clinicName: c.clinicName ?? p.clinicName, clinicInfo: c.clinicInfo ?? p.clinicInfo,
                                    address: c.address ?? p.address, phone: c.phone ?? p.phone, timezone: c.timezone ?? p.timezone,
                                    defaultLanguage: c.defaultLanguage ?? p.defaultLanguage)
        profiles[workspaceID] = r
        try audit.record(entry)
        return r
    }

    public func updateContentSids(workspaceID: Int64, templateKey: String, _ values: [String: String?], audit entry: AuditEntry) throws -> [String: String]? {
        guard profiles[workspaceID] != nil else { return nil }
        var sids = contentSids[workspaceID]?[templateKey] ?? [:]
        for (lang, sid) in values { sids[lang] = sid }
        contentSids[workspaceID, default: [:]][templateKey] = sids.isEmpty ? nil : sids
        try audit.record(entry)
        return sids
    }

    public func reminderSettings(workspaceID: Int64) throws -> ReminderSettingsRecord? {
        guard profiles[workspaceID] != nil else { return nil }
        return reminders[workspaceID] ?? .defaults
    }

    public func updateReminderSettings(workspaceID: Int64, userID: Int64?,
                                       change: (ReminderSettingsRecord) throws -> (ReminderSettingsRecord, AuditEntry)) throws -> ReminderSettingsRecord? {
        guard let current = try reminderSettings(workspaceID: workspaceID) else { return nil }
        let (v, entry) = try change(current)
        reminders[workspaceID] = v
        try audit.record(entry)
        return v
    }
}
