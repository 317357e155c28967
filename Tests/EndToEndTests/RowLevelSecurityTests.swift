import Domain
import Foundation
import MedsyncCrypto
import Postgres
import Testing
import TestSupport

/// Defence below the SQL (sql/0021): the web workers' role sees only the rows of the workspace its
/// session names, even through a query that forgets `workspace_id`; it owns nothing and bypasses nothing.
@Suite(.needsStack) struct RowLevelSecurityTests {
    /// A fresh migrated database with two clinics (2 patients in A, 3 in B), its owner's connection
    /// and the runtime role's conninfo for it.
    func twoClinics() throws -> (owner: PGConnection, app: String, a: Int64, b: Int64) {
        let url = try TestDatabase.create()
        let owner = try PGConnection(url)
        let a = try Workspaces.create(owner, name: "Clinic A", timezone: "UTC").id
        let b = try Workspaces.create(owner, name: "Clinic B", timezone: "UTC").id
        for (ws, phones) in [(a, ["+15550000001", "+15550000002"]), (b, ["+15550000003", "+15550000004", "+15550000005"])] {
            for phone in phones {
                try owner.execute("INSERT INTO patients (workspace_id, phone, name) VALUES (\(ws), \(phone)::text, 'P')")
            }
        }
        let name = try #require(url.split(separator: " ").last { $0.hasPrefix("dbname=") }?
            .dropFirst("dbname=".count).trimmingCharacters(in: CharacterSet(charactersIn: "'")))
        let app = try PGConnection.conninfo(try StackEnvironment.shared()["MEDSYNC_APP_DATABASE_URL"], database: name)
        return (owner, app, a, b)
    }

    @Test func aQueryThatForgetsItsWorkspaceFilterSeesOnlyTheCurrentWorkspace() throws {
        let (_, appURL, a, b) = try twoClinics()
        let app = try PGConnection(appURL)
        func patients() throws -> Int { try app.query("SELECT count(*) AS n FROM patients").first?.decode(Int.self, "n") ?? -1 }
        // No workspace set: no rows at all.
        #expect(try patients() == 0)
        app.workspace = .id(a)
        #expect(try patients() == 2)
        #expect(try app.query("SELECT DISTINCT workspace_id FROM patients").map { try $0.decode(Int64.self, "workspace_id") } == [a])
        app.workspace = .id(b)
        #expect(try patients() == 3)
        // Back to none (what the pool does when a session changes hands): nothing again.
        app.workspace = .none
        #expect(try patients() == 0)
        #expect(try app.query("SELECT count(*) AS n FROM workspaces").first?.decode(Int.self, "n") == 0)

        // Writing into another workspace is refused by the policy, not only by a WHERE clause.
        app.workspace = .id(a)
        #expect(throws: PGError.self) {
            try app.execute("INSERT INTO patients (workspace_id, phone, name) VALUES (\(b), '+15550000009'::text, 'X')")
        }
        // Another workspace's rows cannot be changed either: the UPDATE finds none.
        #expect(try app.execute("UPDATE patients SET name = 'changed' WHERE workspace_id = \(b)") == 0)
        // A rolled-back transaction undoes a setting made inside it; the next statement sets it again.
        try app.begin()
        app.workspace = .id(b)
        #expect(try patients() == 3)
        app.rollback()
        #expect(try patients() == 3)
        app.workspace = .none
        #expect(try patients() == 0)
    }

    @Test func aWebhookSeesTheWorkspaceOfItsSender() throws {
        let (owner, appURL, a, _) = try twoClinics()
        try owner.execute("INSERT INTO whatsapp_senders (workspace_id, phone_number, display_name) VALUES (\(a), '+15557770001', 'A')")
        let app = try PGConnection(appURL)
        func patients() throws -> Int { try app.query("SELECT count(*) AS n FROM patients").first?.decode(Int.self, "n") ?? -1 }
        app.resetWorkspace()
        app.workspace = .sender(phone: "+15557770001")
        #expect(try patients() == 2)
        // A number no clinic has: no workspace, no rows.
        app.resetWorkspace()
        app.workspace = .sender(phone: "+15557770999")
        #expect(try patients() == 0)
    }

    /// The webhook's hot path: a session keeps the workspace its last webhook was routed to, and the
    /// next webhook to the same number sends no routing statement. When the number has moved to
    /// another clinic since (released by A, linked by B), the kept workspace has no active sender: the
    /// webhook is routed again and lands in B — never in A, never dropped.
    @Test func aSessionKeepsItsSendersWorkspaceAndRoutesAgainWhenTheNumberMoved() throws {
        let (owner, appURL, a, b) = try twoClinics()
        let number = "+15557770002"
        try owner.execute("INSERT INTO whatsapp_senders (workspace_id, phone_number, display_name) VALUES (\(a), \(number)::text, 'A')")
        let app = try PGConnection(appURL)
        let inbound = InboundService(conn: app, gemini: nil)
        var n = 0
        func deliver() throws -> InboundOutcome {
            n += 1
            app.resetWorkspace()  // what the pool does when a request takes the session
            return try inbound.handle(try InboundWebhook(form: [
                ("MessageSid", "SM\(Crypto.hex(Crypto.randomBytes(16)))"), ("AccountSid", "ACtest"),
                ("From", "whatsapp:+1555000900\(n)"), ("To", "whatsapp:\(number)"), ("Body", "hola"),
            ]))
        }
        func inboundMessages(_ ws: Int64) throws -> Int {
            try owner.query("SELECT count(*) AS n FROM whatsapp_messages WHERE workspace_id = \(ws) AND direction = 'inbound'")
                .first?.decode(Int.self, "n") ?? -1
        }
        #expect(try deliver().kind != .unknownSender)
        #expect(try deliver().kind != .unknownSender)
        #expect(try inboundMessages(a) == 2)
        try owner.execute("UPDATE whatsapp_senders SET is_active = false WHERE phone_number = \(number)::text")
        try owner.execute("UPDATE sender_number_claims SET released_at = now() WHERE phone_number = \(number)::text AND released_at IS NULL")
        try owner.execute("INSERT INTO whatsapp_senders (workspace_id, phone_number, display_name) VALUES (\(b), \(number)::text, 'B')")
        #expect(try deliver().kind != .unknownSender)
        #expect(try inboundMessages(b) == 1)
        #expect(try inboundMessages(a) == 2)
        // And the session now keeps B's.
        #expect(try deliver().kind != .unknownSender)
        #expect(try inboundMessages(b) == 2)
    }

    @Test func theRuntimeRoleIsNotTheOwnerNorSuperuserNorBypassesRowLevelSecurity() throws {
        let (owner, appURL, _, _) = try twoClinics()
        let app = try PGConnection(appURL)
        let me = try #require(try app.query("""
            SELECT r.rolname, r.rolsuper, r.rolbypassrls, r.rolcreaterole, r.rolcreatedb FROM pg_roles r WHERE r.rolname = current_user
            """).first)
        #expect(try me.decode(String.self, "rolname") == "medsync_app")
        #expect(try me.decode(Bool.self, "rolsuper") == false)
        #expect(try me.decode(Bool.self, "rolbypassrls") == false)
        #expect(try me.decode(Bool.self, "rolcreaterole") == false)
        #expect(try me.decode(Bool.self, "rolcreatedb") == false)
        // No role it belongs to (medsync_runtime) is superuser or bypasses RLS either, and it owns no table.
        let inherited = try app.query("""
            SELECT count(*) AS n FROM pg_roles r WHERE pg_has_role(current_user, r.oid, 'MEMBER') AND (r.rolsuper OR r.rolbypassrls)
            """).first?.decode(Int.self, "n")
        #expect(inherited == 0)
        let owned = try app.query("""
            SELECT count(*) AS n FROM pg_tables WHERE schemaname = 'public' AND pg_has_role(current_user, tableowner, 'MEMBER')
            """).first?.decode(Int.self, "n")
        #expect(owned == 0)
        #expect(try app.query("SELECT has_schema_privilege('public', 'CREATE') AS c").first?.decode(Bool.self, "c") == false)
        // Every table with a workspace_id has row-level security on, with a policy (a table added
        // later without `SELECT medsync_isolate('t')` fails here).
        let unprotected = try owner.query("""
            SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
             WHERE n.nspname = 'public' AND c.relkind = 'r'
               AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'workspace_id' AND NOT a.attisdropped)
               AND (NOT c.relrowsecurity OR NOT EXISTS (SELECT 1 FROM pg_policy p WHERE p.polrelid = c.oid))
             ORDER BY 1
            """).map { try $0.decode(String.self, "relname") }
        #expect(unprotected == [], "tenant tables without row-level security: \(unprotected)")
    }

    @Test func theStacksWorkersConnectAsTheRuntimeRole() throws {
        // One request so that a worker holds a session, then who it is.
        let env = try StackEnvironment.shared()
        _ = try httpGet("\(try env.appURL)/api/health")
        let admin = try PGConnection(try TestDatabase.adminURL)
        let users = try admin.query("""
            SELECT DISTINCT usename FROM pg_stat_activity WHERE application_name = 'medsync-fcgi' AND datname = 'medsync'
            """).map { try $0.decode(String.self, "usename") }
        #expect(users == ["medsync_app"], "\(users)")
    }
}
