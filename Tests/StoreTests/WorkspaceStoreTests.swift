import Domain
import Foundation
import Postgres
import Store
import Testing
import TestSupport

/// The workspaces' PostgreSQL store: a workspace comes with its reminder settings row; timezones are
/// PostgreSQL's own names.
@Suite(.needsStack) struct WorkspaceStoreTests {
    @Test func aWorkspaceComesWithDefaultReminderSettingsAndTimezonesArePostgresNames() throws {
        let conn = try PGConnection(try TestDatabase.create())
        let store = PostgresStores(conn).workspaces
        let a = try store.create(name: "Clínica Norte", timezone: "America/Mexico_City")
        #expect(try store.get(id: a.id) == a)
        #expect(try store.list() == [a])
        let settings = try conn.query("SELECT enabled, hours_before FROM reminder_settings WHERE workspace_id = \(a.id)")
        #expect(settings.count == 1)
        #expect(settings[0].int("hours_before") == 24)
        #expect(try conn.query("SELECT clinic_name FROM workspaces WHERE id = \(a.id)").first?.string("clinic_name") == "Clínica Norte")
        #expect(try store.isKnownTimezone("Europe/Madrid"))
        #expect(try store.isKnownTimezone("UTC"))
        #expect(try !store.isKnownTimezone("Mars/Olympus"))
        #expect(try !store.isKnownTimezone("america/mexico city"))
    }
}
