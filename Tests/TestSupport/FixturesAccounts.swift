import Domain
import Foundation
import HTTPClient
import MedsyncConfig
import Postgres

// The accounts' use cases on a PostgreSQL connection: what the tests against the stack, across every
// area, call as fixtures (`Workspaces.create(conn, …)`,
// `Users.create(conn, …)`, `Tokens.create(conn, …)`), each forwarding to the PostgreSQL store.

extension Workspaces {
    public static func create(_ conn: PGConnection, name: String, timezone: String) throws -> Workspace {
        try create(PostgresStores(conn).workspaces, name: name, timezone: timezone)
    }
}

extension Users {
    public static func create(_ conn: PGConnection, email: String, name: String? = nil, passwordHash: String? = nil,
                              workspaceID: Int64, role: Role) throws -> User {
        try create(PostgresStores(conn).members, email: email, name: name, passwordHash: passwordHash, workspaceID: workspaceID, role: role)
    }

    public static func find(_ conn: PGConnection, email: String) throws -> User? { try find(PostgresStores(conn).members, email: email) }
    public static func find(_ conn: PGConnection, id: Int64) throws -> User? { try find(PostgresStores(conn).members, id: id) }
}

extension Memberships {
    public static func role(_ conn: PGConnection, userID: Int64, workspaceID: Int64) throws -> Role? {
        try role(PostgresStores(conn).members, userID: userID, workspaceID: workspaceID)
    }
}

extension Tokens {
    public static func create(_ conn: PGConnection, userID: Int64, name: String = "", ttl: Int = defaultTTL,
                              maxAge: Int = defaultMaxAge, client: StaffAuth.Client = StaffAuth.Client()) throws -> String {
        try create(PostgresStores(conn).members, userID: userID, name: name, ttl: ttl, maxAge: maxAge, client: client)
    }

    public static func authenticate(_ conn: PGConnection, token: String, ttl: Int = defaultTTL) throws -> Int64? {
        try authenticate(PostgresStores(conn).members, token: token, ttl: ttl)
    }
}

extension Senders {
    public static func link(_ conn: PGConnection, http: HTTPClient, config: Config, actor: some AuditActor, _ input: LinkInput) throws -> View {
        try link(PostgresStores(conn).senders, http: http, config: config, actor: actor, input)
    }

    public static func provision(_ conn: PGConnection, http: HTTPClient, config: Config, actor: some AuditActor,
                                 _ input: ProvisionInput) throws -> View {
        try provision(PostgresStores(conn).senders, http: http, config: config, actor: actor, input)
    }
}
