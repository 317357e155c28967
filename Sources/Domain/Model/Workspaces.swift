import Foundation
import Postgres

public struct Workspace: Sendable, Equatable, Codable {
    public let id: Int64
    public let name: String
    public let timezone: String
    public let createdAt: Date

    init(row: PGRow) throws {
        id = try row.decode(Int64.self, "id")
        name = try row.decode(String.self, "name")
        timezone = try row.decode(String.self, "timezone")
        createdAt = try row.decode(Date.self, "created_at")
    }
}

public enum Workspaces {
    static let columns: SQLFragment = "id, name, timezone, created_at"

    /// Creates a workspace (clinic) with default reminder settings. The timezone must be an IANA
    /// name PostgreSQL knows (`pg_timezone_names`), e.g. `America/Mexico_City`.
    public static func create(_ conn: PGConnection, name: String, timezone: String) throws -> Workspace {
        let name = name.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !name.isEmpty, name.count <= 200 else {
            throw AppError(.invalidName, "workspace name must be 1 to 200 characters")
        }
        try validateTimezone(conn, timezone)
        return try conn.transaction {
            let row = try conn.query("""
                INSERT INTO workspaces (name, timezone, clinic_name) VALUES (\(name), \(timezone), \(name))
                RETURNING \(unescaped: columns)
                """).one()
            let workspace = try Workspace(row: row)
            try conn.execute("INSERT INTO reminder_settings (workspace_id) VALUES (\(workspace.id))")
            return workspace
        }
    }

    public static func list(_ conn: PGConnection) throws -> [Workspace] {
        try conn.query("SELECT \(unescaped: columns) FROM workspaces ORDER BY id").map(Workspace.init(row:))
    }

    public static func get(_ conn: PGConnection, id: Int64) throws -> Workspace? {
        try conn.query("SELECT \(unescaped: columns) FROM workspaces WHERE id = \(id)").first.map(Workspace.init(row:))
    }

    public static func validateTimezone(_ conn: PGConnection, _ timezone: String) throws {
        guard !timezone.isEmpty,
              try conn.query("SELECT 1 FROM pg_timezone_names WHERE name = \(timezone)").count == 1 else {
            throw AppError(.invalidTimezone, "unknown timezone \"\(timezone)\": use an IANA name such as America/Mexico_City")
        }
    }
}
