import Foundation

public struct Workspace: Sendable, Equatable, Codable {
    public let id: Int64
    public let name: String
    public let timezone: String
    public let createdAt: Date

    init(row: PGRow) {
        id = row.int64("id") ?? 0
        name = row.string("name") ?? ""
        timezone = row.string("timezone") ?? "UTC"
        createdAt = row.date("created_at") ?? Date(timeIntervalSince1970: 0)
    }
}

public enum Workspaces {
    static let columns = "id, name, timezone, created_at"

    /// Creates a workspace (clinic) with default reminder settings. The timezone must be an IANA
    /// name PostgreSQL knows (`pg_timezone_names`), e.g. `America/Mexico_City`.
    public static func create(_ conn: PGConnection, name: String, timezone: String) throws -> Workspace {
        let name = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty, name.count <= 200 else {
            throw AppError.invalid("invalid_name", "workspace name must be 1 to 200 characters")
        }
        try validateTimezone(conn, timezone)
        return try conn.transaction {
            let rows = try conn.query(
                "INSERT INTO workspaces (name, timezone, clinic_name) VALUES ($1, $2, $1) RETURNING " + columns,
                [PGValue(name), PGValue(timezone)])
            let workspace = Workspace(row: rows[0])
            try conn.execute("INSERT INTO reminder_settings (workspace_id) VALUES ($1)", [PGValue(workspace.id)])
            return workspace
        }
    }

    public static func list(_ conn: PGConnection) throws -> [Workspace] {
        try conn.query("SELECT " + columns + " FROM workspaces ORDER BY id").map(Workspace.init(row:))
    }

    public static func get(_ conn: PGConnection, id: Int64) throws -> Workspace? {
        try conn.query("SELECT " + columns + " FROM workspaces WHERE id = $1", [PGValue(id)]).first.map(Workspace.init(row:))
    }

    public static func validateTimezone(_ conn: PGConnection, _ timezone: String) throws {
        guard !timezone.isEmpty,
              try conn.query("SELECT 1 FROM pg_timezone_names WHERE name = $1", [PGValue(timezone)]).count == 1 else {
            throw AppError.invalid("invalid_timezone", "unknown timezone \"\(timezone)\": use an IANA name such as America/Mexico_City")
        }
    }
}
