import Foundation
import Postgres

/// A workspace (clinic).
public struct Workspace: Sendable, Equatable, Codable {
    public let id: Int64
    public let name: String
    public let timezone: String
    public let createdAt: Date

    public init(id: Int64, name: String, timezone: String, createdAt: Date) {
        self.id = id
        self.name = name
        self.timezone = timezone
        self.createdAt = createdAt
    }

    init(row: PGRow) throws {
        id = try row.decode(Int64.self, "id")
        name = try row.decode(String.self, "name")
        timezone = try row.decode(String.self, "timezone")
        createdAt = try row.decode(Date.self, "created_at")
    }
}

/// The workspaces.
public protocol WorkspaceStore: TimezoneNames {
    /// A new workspace (its clinic name is its name) with default reminder settings, in one transaction.
    func create(name: String, timezone: String) throws -> Workspace
    /// Every workspace, by id.
    func list() throws -> [Workspace]
    func get(id: Int64) throws -> Workspace?
}

/// The IANA timezone names PostgreSQL knows (`pg_timezone_names`): a workspace's and a clinic
/// profile's timezone must be one, since the free slots are computed in it.
public protocol TimezoneNames {
    func isKnownTimezone(_ name: String) throws -> Bool
}

extension PGConnection {
    func isKnownTimezone(_ name: String) throws -> Bool {
        try query("SELECT 1 FROM pg_timezone_names WHERE name = \(name)").count == 1
    }
}

public struct PGWorkspaceStore: WorkspaceStore {
    let conn: PGConnection
    public init(_ conn: PGConnection) { self.conn = conn }

    static let columns: SQLFragment = "id, name, timezone, created_at"

    public func create(name: String, timezone: String) throws -> Workspace {
        try conn.transaction {
            let row = try conn.query("""
                INSERT INTO workspaces (name, timezone, clinic_name) VALUES (\(name), \(timezone), \(name))
                RETURNING \(unescaped: Self.columns)
                """).one()
            let workspace = try Workspace(row: row)
            try conn.execute("INSERT INTO reminder_settings (workspace_id) VALUES (\(workspace.id))")
            return workspace
        }
    }

    public func list() throws -> [Workspace] {
        try conn.query("SELECT \(unescaped: Self.columns) FROM workspaces ORDER BY id").map(Workspace.init(row:))
    }

    public func get(id: Int64) throws -> Workspace? {
        try conn.query("SELECT \(unescaped: Self.columns) FROM workspaces WHERE id = \(id)").first.map(Workspace.init(row:))
    }

    public func isKnownTimezone(_ name: String) throws -> Bool { try conn.isKnownTimezone(name) }
}

extension PostgresStores {
    public var workspaces: PGWorkspaceStore { PGWorkspaceStore(conn) }
}
