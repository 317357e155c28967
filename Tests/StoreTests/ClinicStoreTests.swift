import Domain
import Foundation
import Postgres
import Store
import Testing
import TestSupport

/// The clinic's PostgreSQL store: the profile's clear-or-keep columns, Content SIDs kept per
/// template in one jsonb (a template left without SIDs disappears), timezones as PostgreSQL knows
/// them, reminder settings written with their defaults on first read.
@Suite(.needsStack) struct ClinicStoreTests {
    @Test func profileContentSidsTimezonesAndReminderSettings() throws {
        let conn = try PGConnection(try TestDatabase.create())
        let a = try Workspaces.create(conn, name: "Sol", timezone: "UTC").id
        let store = PostgresStores(conn).clinic
        let entry = AuditEntry(workspaceID: a, userID: nil, action: "clinic.update", targetType: "workspace", targetID: String(a))

        #expect(try store.profile(workspaceID: a)?.clinicName == "Sol")
        let set = try #require(try store.updateProfile(workspaceID: a, ClinicProfileChange(clinicInfo: .some("Open 9–5"), address: .some("Main St 1")), audit: entry))
        #expect(set.clinicInfo == "Open 9–5" && set.address == "Main St 1" && set.clinicName == "Sol")
        let cleared = try #require(try store.updateProfile(workspaceID: a, ClinicProfileChange(clinicName: "Clínica Sol", address: .some(nil), timezone: "America/Bogota"), audit: entry))
        #expect(cleared.clinicInfo == "Open 9–5" && cleared.address == nil && cleared.clinicName == "Clínica Sol" && cleared.timezone == "America/Bogota")
        #expect(try store.updateProfile(workspaceID: a + 1, ClinicProfileChange(), audit: entry) == nil)
        #expect(try store.isKnownTimezone("America/Mexico_City") && !(try store.isKnownTimezone("Mars/Olympus_Mons")))

        let sid = "HX" + String(repeating: "0f", count: 16)
        #expect(try store.updateContentSids(workspaceID: a, templateKey: "appt_confirmed", ["en": sid, "es": sid], audit: entry) == ["en": sid, "es": sid])
        #expect(try store.updateContentSids(workspaceID: a, templateKey: "appt_confirmed", ["es": nil], audit: entry) == ["en": sid])
        #expect(try store.updateContentSids(workspaceID: a, templateKey: "appt_confirmed", ["en": nil], audit: entry) == [:])
        #expect(try conn.query("SELECT content_sids ? 'appt_confirmed' AS has FROM workspaces WHERE id = \(a)").one().decode(Bool.self, "has") == false)

        try conn.execute("DELETE FROM reminder_settings WHERE workspace_id = \(a)")
        #expect(try store.reminderSettings(workspaceID: a) == .defaults)
        let on = try #require(try store.updateReminderSettings(workspaceID: a, userID: nil) { current in
            var v = current
            v.enabled = true
            v.customMessage = "See you {when}"
            return (v, entry)
        })
        #expect(try store.reminderSettings(workspaceID: a) == on)
        #expect(try conn.query("SELECT count(*) AS n FROM audit_log").one().decode(Int.self, "n") == 6)
    }
}
