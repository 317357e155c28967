import Domain
import Foundation
import Postgres
import Testing
import TestSupport

/// Migration 0007 keeps what existing clinics had and gives new ones the guide's defaults.
@Suite(.needsStack) struct GuideMigrationTests {
    @Test func existingWorkspacesKeepTheirReminderChoicesNewOnesStartWithRemindersOff() throws {
        let source = TestDatabase.sqlDirectory
        let dir = NSTemporaryDirectory() + "medsync-mig-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let files = try FileManager.default.contentsOfDirectory(atPath: source).filter { $0.hasSuffix(".sql") }
        func number(_ f: String) -> Int { Int(f.prefix { $0.isNumber }) ?? 0 }
        for f in files where number(f) < 7 { try FileManager.default.copyItem(atPath: "\(source)/\(f)", toPath: "\(dir)/\(f)") }
        let conn = try PGConnection(try TestDatabase.create(migrated: false))
        _ = try Migrator(directory: dir).migrate(conn)

        func workspace(_ name: String) throws -> Int64 {
            try #require(try conn.query("INSERT INTO workspaces (name) VALUES (\(name)) RETURNING id").first?.int64("id"))
        }
        let neverSaved = try workspace("Never saved")
        let savedOff = try workspace("Saved off")
        try conn.execute("INSERT INTO reminder_settings (workspace_id, enabled) VALUES (\(savedOff), false)")
        let savedOn = try workspace("Saved on")
        try conn.execute("INSERT INTO reminder_settings (workspace_id, enabled, template_key) VALUES (\(savedOn), true, 'followup')")
        try conn.execute("INSERT INTO patients (workspace_id, phone) VALUES (\(savedOn), '+14155550100')")

        for f in files where number(f) >= 7 { try FileManager.default.copyItem(atPath: "\(source)/\(f)", toPath: "\(dir)/\(f)") }
        _ = try Migrator(directory: dir).migrate(conn)
        func settings(_ ws: Int64) throws -> (Bool?, String?) {
            let row = try #require(try conn.query("SELECT enabled, template_key FROM reminder_settings WHERE workspace_id = \(ws)").first)
            return (row.bool("enabled"), row.string("template_key"))
        }
        #expect(try settings(neverSaved) == (true, "appt_reminder"))
        #expect(try settings(savedOff) == (false, "appt_reminder"))
        #expect(try settings(savedOn) == (true, "followup"))
        #expect(try conn.query("SELECT preferred_language FROM patients").first?.string("preferred_language") == "en")

        let fresh = try Workspaces.create(conn, name: "Brand new", timezone: "UTC")
        #expect(try settings(fresh.id) == (false, "reminder_default"))
        try conn.execute("INSERT INTO patients (workspace_id, phone) VALUES (\(fresh.id), '+14155550101')")
        #expect(try conn.query("SELECT preferred_language FROM patients WHERE workspace_id = \(fresh.id)").first?.isNull("preferred_language") == true)
    }
}
