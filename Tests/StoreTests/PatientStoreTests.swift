import Domain
import Foundation
import Postgres
import Store
import Testing
import TestSupport

/// The patients' PostgreSQL store: the unique phone per workspace decides a duplicate, a search is a
/// literal (LIKE's `%` and `_` escaped), consent changes are stamped by the server, entries are
/// written with the change.
@Suite(.needsStack) struct PatientStoreTests {
    @Test func theUniquePhoneDecidesAndASearchIsLiteral() throws {
        let conn = try PGConnection(try TestDatabase.create())
        let a = try Workspaces.create(conn, name: "A", timezone: "UTC").id
        let b = try Workspaces.create(conn, name: "B", timezone: "UTC").id
        let store = PostgresStores(conn).patients
        func entry(_ p: PatientRecord) -> AuditEntry { AuditEntry(workspaceID: a, userID: nil, action: "patient.create", targetType: "patient", targetID: String(p.id)) }
        let ana = try #require(try store.create(NewPatient(workspaceID: a, phone: "+14155550100", name: "Ana 100%", preferredLanguage: "es", consentWhatsapp: true), audit: entry))
        #expect(ana.consentSource == "staff" && ana.consentUpdatedAt != nil)
        _ = try store.create(NewPatient(workspaceID: a, phone: "+14155550101", name: "Ana_1", preferredLanguage: nil, consentWhatsapp: false), audit: entry)
        #expect(try store.create(NewPatient(workspaceID: a, phone: "+14155550100", name: "Twice", preferredLanguage: nil, consentWhatsapp: false), audit: entry) == nil)
        #expect(try store.create(NewPatient(workspaceID: b, phone: "+14155550100", name: "Elsewhere", preferredLanguage: nil, consentWhatsapp: false), audit: entry) != nil)
        #expect(try store.list(workspaceID: a, before: nil, search: "%", digits: nil, limit: 10).map(\.name) == ["Ana 100%"])
        #expect(try store.list(workspaceID: a, before: nil, search: "a_", digits: nil, limit: 10).map(\.name) == ["Ana_1"])
        #expect(try store.list(workspaceID: a, before: nil, search: "ANA", digits: nil, limit: 10).map(\.name) == ["Ana_1", "Ana 100%"])
        #expect(try store.list(workspaceID: a, before: nil, search: "0101", digits: "0101", limit: 10).map(\.name) == ["Ana_1"])
        #expect(try store.list(workspaceID: a, before: ana.id + 1, search: nil, digits: nil, limit: 10).map(\.name) == ["Ana 100%"])
        #expect(try conn.query("SELECT count(*) AS n FROM audit_log WHERE action = 'patient.create'").one().decode(Int.self, "n") == 3)
    }

    @Test func anUpdateLocksDecidesAndWritesWithItsEntryOrNothing() throws {
        let conn = try PGConnection(try TestDatabase.create())
        let a = try Workspaces.create(conn, name: "A", timezone: "UTC").id
        let store = PostgresStores(conn).patients
        let id = try conn.query("""
            INSERT INTO patients (workspace_id, phone, name, consent_whatsapp, consent_source) VALUES (\(a), '+14155550100', 'Ana', false, 'whatsapp') RETURNING id
            """).one().decode(Int64.self, "id")
        struct Refused: Error {}
        #expect(throws: Refused.self) {
            try store.update(workspaceID: a, id: id) { current in
                #expect(current.optedOut)
                throw Refused()
            }
        }
        let entry = AuditEntry(workspaceID: a, userID: nil, action: "patient.consent", targetType: "patient", targetID: String(id))
        let updated = try #require(try store.update(workspaceID: a, id: id) { _ in (PatientChange(name: .some(nil), consentWhatsapp: true), entry) })
        #expect(updated.name == nil && updated.consentWhatsapp && updated.consentSource == "staff" && updated.consentUpdatedAt != nil && !updated.optedOut)
        #expect(try store.update(workspaceID: a + 1, id: id) { _ in (PatientChange(), entry) } == nil)
        #expect(try conn.query("SELECT count(*) AS n FROM audit_log").one().decode(Int.self, "n") == 1)
    }
}
