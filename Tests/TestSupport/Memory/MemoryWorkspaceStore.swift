import Foundation
import Store

/// The workspaces in memory (see MemoryAuditStore). Timezones are the ones Foundation knows, which
/// for the names the tests use are PostgreSQL's `pg_timezone_names` too.
public final class MemoryWorkspaceStore: WorkspaceStore, @unchecked Sendable {
    public private(set) var workspaces: [Workspace] = []
    /// Workspaces that got their default reminder settings (PostgreSQL: a `reminder_settings` row).
    public private(set) var withReminderSettings: Set<Int64> = []
    public init() {}

    public func create(name: String, timezone: String) throws -> Workspace {
        let workspace = Workspace(id: Int64(workspaces.count + 1), name: name, timezone: timezone, createdAt: Date())
        workspaces.append(workspace)
        withReminderSettings.insert(workspace.id)
        return workspace
    }

    public func list() throws -> [Workspace] { workspaces }

    public func get(id: Int64) throws -> Workspace? { workspaces.first { $0.id == id } }

    public func isKnownTimezone(_ name: String) throws -> Bool {
        name == "UTC" || TimeZone.knownTimeZoneIdentifiers.contains(name)
    }
}
