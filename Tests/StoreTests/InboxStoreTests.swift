import Domain
import Foundation
import Postgres
import Store
import Testing
import TestSupport

/// The inbox's PostgreSQL store: the list's order, cursor, ILIKE search (with `%` and `_` literal)
/// and changes since; the thread's pages; delete and hand-off committed with their audit entry or
/// not at all; and under row-level security, the web workers' role sees only its workspace's inbox.
@Suite(.needsStack) struct InboxStoreTests {
    struct World {
        let url: String
        let conn: PGConnection
        let ws: Int64
        let sender: Int64
        var store: PGInboxStore { PostgresStores(conn).inbox }

        init() throws {
            url = try TestDatabase.create()
            conn = try PGConnection(url)
            ws = try Workspaces.create(conn, name: "Inbox", timezone: "UTC").id
            sender = try conn.query("""
                INSERT INTO whatsapp_senders (workspace_id, phone_number, display_name) VALUES (\(ws), '+15550001000', 'Front desk') RETURNING id
                """).one().decode(Int64.self, "id")
        }

        /// A conversation whose last message (inbound, unread) was `minutesAgo` minutes ago.
        func conversation(_ name: String, phone: String, body: String, minutesAgo: Double, workspace: Int64? = nil, sender: Int64? = nil) throws -> Int64 {
            let ws = workspace ?? self.ws
            let at = Date().addingTimeInterval(-minutesAgo * 60)
            let patient = try conn.query("""
                INSERT INTO patients (workspace_id, phone, name, consent_whatsapp) VALUES (\(ws), \(phone), \(name), true) RETURNING id
                """).one().decode(Int64.self, "id")
            let id = try conn.query("""
                INSERT INTO whatsapp_conversations (workspace_id, patient_id, sender_id, last_inbound_at, last_message_at, unread_count)
                VALUES (\(ws), \(patient), \(sender ?? self.sender), \(at), \(at), 1) RETURNING id
                """).one().decode(Int64.self, "id")
            try conn.execute("""
                INSERT INTO whatsapp_messages (workspace_id, conversation_id, direction, body, status, created_at)
                VALUES (\(ws), \(id), 'inbound', \(body), 'received', \(at))
                """)
            return id
        }

        func auditActions() throws -> [String] {
            try conn.query("SELECT action FROM audit_log WHERE workspace_id = \(ws) ORDER BY id").map { try $0.decode(String.self, "action") }
        }
    }

    @Test func theListSortsPagesSearchesAndKeepsWhatChanged() throws {
        let w = try World()
        let ana = try w.conversation("Ana", phone: "+15550000001", body: "100% sure", minutesAgo: 30)
        let bo = try w.conversation("Bo", phone: "+15550000002", body: "see you", minutesAgo: 20)
        let cy = try w.conversation("Cy", phone: "+15550000003", body: "a_b", minutesAgo: 10)
        let all = try w.store.conversations(workspaceID: w.ws, after: nil, search: nil, changedAfter: nil, limit: 10)
        #expect(all.map(\.id) == [cy, bo, ana])
        #expect(all[0].patient.name == "Cy" && all[0].lastMessage?.body == "a_b" && all[0].unreadCount == 1 && all[0].state == "bot")
        let after = try w.store.conversations(workspaceID: w.ws, after: InboxCursor(sortMicros: all[1].sortMicros, id: all[1].id), search: nil,
                                              changedAfter: nil, limit: 10)
        #expect(after.map(\.id) == [ana])
        // ILIKE on name, phone and any message; `%` and `_` match only themselves.
        #expect(try w.store.conversations(workspaceID: w.ws, after: nil, search: "BO", changedAfter: nil, limit: 10).map(\.id) == [bo])
        #expect(try w.store.conversations(workspaceID: w.ws, after: nil, search: "0000003", changedAfter: nil, limit: 10).map(\.id) == [cy])
        #expect(try w.store.conversations(workspaceID: w.ws, after: nil, search: "100%", changedAfter: nil, limit: 10).map(\.id) == [ana])
        #expect(try w.store.conversations(workspaceID: w.ws, after: nil, search: "_", changedAfter: nil, limit: 10).map(\.id) == [cy])
        // Changed after: the conversation touched since.
        let mark = try w.store.now()
        try w.conn.execute("UPDATE whatsapp_conversations SET unread_count = 2 WHERE id = \(bo)")
        #expect(try w.store.conversations(workspaceID: w.ws, after: nil, search: nil, changedAfter: mark, limit: 10).map(\.id) == [bo])
        // Deleted: neither listed nor found.
        try w.conn.execute("UPDATE whatsapp_conversations SET deleted_at = now() WHERE id = \(ana)")
        #expect(try w.store.conversations(workspaceID: w.ws, after: nil, search: nil, changedAfter: nil, limit: 10).map(\.id) == [cy, bo])
        #expect(try w.store.conversation(workspaceID: w.ws, id: ana) == nil)
        #expect(try w.store.conversation(workspaceID: w.ws + 1, id: bo) == nil)
    }

    @Test func theThreadPagesBackPollsAndIsMarkedRead() throws {
        let w = try World()
        let c = try w.conversation("Ana", phone: "+15550000001", body: "one", minutesAgo: 5)
        for body in ["two", "three"] {
            try w.conn.execute("INSERT INTO whatsapp_messages (workspace_id, conversation_id, direction, body, status) VALUES (\(w.ws), \(c), 'inbound', \(body), 'received')")
        }
        let newest = try w.store.messages(workspaceID: w.ws, conversationID: c, before: nil, limit: 2)
        #expect(newest.map(\.body) == ["three", "two"] && newest[0].media == "[]")
        #expect(try w.store.messages(workspaceID: w.ws, conversationID: c, before: newest[1].id, limit: 2).map(\.body) == ["one"])
        let mark = try w.store.now()
        try w.conn.execute(#"UPDATE whatsapp_messages SET media = '[{"url": "u"}]'::jsonb WHERE id = \#(newest[1].id)"#)
        #expect(try w.store.messages(workspaceID: w.ws, conversationID: c, changedAfter: mark, limit: 10).map(\.body) == ["two"])
        try w.store.markRead(workspaceID: w.ws, conversationID: c)
        #expect(try w.store.conversation(workspaceID: w.ws, id: c)?.unreadCount == 0)
    }

    @Test func deleteAndHandoffCommitWithTheirAuditEntryOrNotAtAll() throws {
        let w = try World()
        let c = try w.conversation("Ana", phone: "+15550000001", body: "hi", minutesAgo: 5)
        try w.conn.execute("UPDATE whatsapp_conversations SET pending_intent = '{\"slots\": []}'::jsonb WHERE id = \(c)")
        let actor = OperatorActor(workspaceID: w.ws)
        #expect(try w.store.setState(workspaceID: w.ws, id: c, state: "handoff", audit: actor.audit("conversation.handoff", "conversation", String(c))))
        let row = try w.conn.query("SELECT state, pending_intent::text AS intent FROM whatsapp_conversations WHERE id = \(c)").one()
        #expect(try row.decode(String.self, "state") == "handoff" && row.decode(String?.self, "intent") == nil)
        // An entry that cannot be written (no such workspace) takes the change with it.
        let orphan = AuditEntry(workspaceID: -1, userID: nil, action: "conversation.delete", targetType: "conversation", targetID: String(c))
        #expect(throws: PGError.self) { _ = try w.store.delete(workspaceID: w.ws, id: c, audit: orphan) }
        #expect(try w.store.conversation(workspaceID: w.ws, id: c) != nil)
        #expect(try w.store.delete(workspaceID: w.ws, id: c, audit: actor.audit("conversation.delete", "conversation", String(c))))
        // Not found (deleted now, or another workspace's): false, and no entry.
        #expect(try !w.store.delete(workspaceID: w.ws, id: c, audit: actor.audit("conversation.delete", "conversation", String(c))))
        #expect(try !w.store.setState(workspaceID: w.ws, id: c, state: "bot", audit: actor.audit("conversation.resume_bot", "conversation", String(c))))
        #expect(try w.auditActions() == ["conversation.handoff", "conversation.delete"])
    }

    @Test func underRowLevelSecurityTheWorkersRoleSeesOnlyItsWorkspacesInbox() throws {
        let w = try World()
        let other = try Workspaces.create(w.conn, name: "Other", timezone: "UTC").id
        let otherSender = try w.conn.query("""
            INSERT INTO whatsapp_senders (workspace_id, phone_number, display_name) VALUES (\(other), '+15550002000', 'Other desk') RETURNING id
            """).one().decode(Int64.self, "id")
        let mine = try w.conversation("Ana", phone: "+15550000001", body: "hi", minutesAgo: 5)
        let theirs = try w.conversation("Bo", phone: "+15550000002", body: "hi", minutesAgo: 1, workspace: other, sender: otherSender)
        let name = try #require(w.url.split(separator: " ").last { $0.hasPrefix("dbname=") }?
            .dropFirst("dbname=".count).trimmingCharacters(in: CharacterSet(charactersIn: "'")))
        let app = try PGConnection(try PGConnection.conninfo(try StackEnvironment.shared()["MEDSYNC_APP_DATABASE_URL"], database: name))
        app.workspace = .id(w.ws)
        let inbox = PostgresStores(app).inbox
        #expect(try inbox.conversations(workspaceID: w.ws, after: nil, search: nil, changedAfter: nil, limit: 10).map(\.id) == [mine])
        // Asked for the other workspace's, it sees nothing, and cannot change it.
        #expect(try inbox.conversations(workspaceID: other, after: nil, search: nil, changedAfter: nil, limit: 10).isEmpty)
        #expect(try !inbox.setState(workspaceID: other, id: theirs, state: "handoff",
                                    audit: OperatorActor(workspaceID: w.ws).audit("conversation.handoff", "conversation", String(theirs))))
        // Its own: changed, with the entry (the policy lets the audit row in).
        #expect(try inbox.setState(workspaceID: w.ws, id: mine, state: "handoff",
                                   audit: OperatorActor(workspaceID: w.ws).audit("conversation.handoff", "conversation", String(mine))))
        #expect(try w.auditActions() == ["conversation.handoff"])
        let messages = PostgresStores(app).messages
        #expect(try messages.primarySender(workspaceID: other) == nil)
        #expect(try messages.primarySender(workspaceID: w.ws)?.id == w.sender)
    }
}
