import Foundation

public enum Workspaces {
    /// Creates a workspace (clinic) with default reminder settings. The timezone must be an IANA
    /// name PostgreSQL knows (`pg_timezone_names`), e.g. `America/Mexico_City`.
    public static func create(_ store: some WorkspaceStore, name: String, timezone: String) throws -> Workspace {
        let name = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty, name.count <= 200 else {
            throw AppError(.invalidName, "workspace name must be 1 to 200 characters")
        }
        try validateTimezone(store, timezone)
        return try store.create(name: name, timezone: timezone)
    }

    public static func list(_ store: some WorkspaceStore) throws -> [Workspace] {
        try store.list()
    }

    public static func get(_ store: some WorkspaceStore, id: Int64) throws -> Workspace? {
        try store.get(id: id)
    }

    public static func validateTimezone(_ store: some TimezoneNames, _ timezone: String) throws {
        guard !timezone.isEmpty, try store.isKnownTimezone(timezone) else {
            throw AppError(.invalidTimezone, "unknown timezone \"\(timezone)\": use an IANA name such as America/Mexico_City")
        }
    }
}
