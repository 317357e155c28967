import Domain
import Foundation
import Postgres
import Store
import Testing
import TestSupport

/// The audit log's PostgreSQL store: entries come back newest first, in their workspace only, with
/// the member's email and the details as written.
@Suite(.needsStack) struct AuditStoreTests {
    @Test func entriesNewestFirstPerWorkspaceWithTheMembersEmail() throws {
        let conn = try PGConnection(try TestDatabase.create())
        let a = try Workspaces.create(conn, name: "A", timezone: "UTC").id
        let b = try Workspaces.create(conn, name: "B", timezone: "UTC").id
        let store = PostgresStores(conn).audit
        try store.record(AuditEntry(workspaceID: a, userID: nil, action: "clinic.update", targetType: "workspace", targetID: String(a), details: ["fields": "name"]))
        try store.record(AuditEntry(workspaceID: b, userID: nil, action: "sender.link", targetType: "sender", targetID: "1"))
        try store.record(AuditEntry(workspaceID: a, userID: nil, action: "patient.create", targetType: "patient", targetID: "7"))
        let listed = try store.list(workspaceID: a, before: nil, limit: 10)
        #expect(listed.map(\.action) == ["patient.create", "clinic.update"])
        #expect(listed.last?.details == ["fields": "name"])
        let older = try store.list(workspaceID: a, before: listed[0].id, limit: 10)
        #expect(older.map(\.action) == ["clinic.update"])
    }
}
