import Domain
import Foundation
import TestSupport
import Testing
import Postgres

/// Each worker keeps its statements prepared, and after five executions PostgreSQL may run a prepared
/// statement with a generic plan: one chosen without the parameters' values. A generic plan that
/// scans a whole table costs more with every row the clinic ever stored (the bot's overlap check once
/// did: a sequential scan of every appointment, per booking). These tests force generic plans on
/// tables big enough for the planner to care and count the sequential scans the webhook caused.
@Suite("The webhook's statements under cached generic plans (fresh database)")
struct HotPathPlanTests {
    /// The tables that grow with a clinic's history (the small ones, such as workspaces and senders,
    /// are legitimately read whole).
    static let growing = ["appointments", "patients", "whatsapp_conversations", "whatsapp_messages"]

    /// `seq_scan` of each growing table, after this session's and the measured session's counters
    /// were flushed to the shared statistics.
    static func sequentialScans(_ conn: PGConnection, flushing others: [PGConnection]) throws -> [String: Int64] {
        for c in others + [conn] { try c.execute("SELECT pg_stat_force_next_flush()") }
        try conn.execute("SELECT pg_stat_clear_snapshot()")
        var out: [String: Int64] = [:]
        for r in try conn.query("SELECT relname, seq_scan FROM pg_stat_user_tables WHERE relname = ANY(\(growing))") {
            out[try r.decode(String.self, "relname")] = try r.decode(Int64.self, "seq_scan")
        }
        return out
    }

    @Test("hello, then \"1\": every read of appointments, patients, conversations and messages goes through an index", .needsStack)
    func shortcutAndBotUseIndexes() throws {
        let clinic = try InboundClinic()
        let ws = clinic.workspaceID, sid = clinic.sender.senderID
        // A clinic with a history: 20,000 patients with a conversation and two messages each, and
        // 20,000 past appointments of the doctor, plus 20,000 of another clinic's doctor.
        try clinic.conn.execute("""
            WITH p AS (
                INSERT INTO patients (workspace_id, phone, name, consent_whatsapp)
                SELECT \(ws), '+1888' || lpad(i::text, 8, '0'), 'Patient ' || i, true FROM generate_series(1, 20000) i RETURNING id
            ), c AS (
                INSERT INTO whatsapp_conversations (workspace_id, patient_id, sender_id, last_message_at)
                SELECT \(ws), id, \(sid), now() - interval '1 day' FROM p RETURNING id
            )
            INSERT INTO whatsapp_messages (workspace_id, conversation_id, direction, body, status, twilio_sid)
            SELECT \(ws), c.id, d, 'earlier', CASE d WHEN 'inbound' THEN 'received' ELSE 'sent' END,
                   CASE d WHEN 'inbound' THEN 'SMhist' || c.id END
              FROM c, unnest(ARRAY['inbound', 'outbound']) d
            """)
        try clinic.conn.execute("""
            INSERT INTO appointments (workspace_id, patient_id, doctor_id, starts_at, ends_at, status)
            SELECT \(ws), (SELECT min(id) FROM patients WHERE workspace_id = \(ws)), \(clinic.doctorID),
                   \(InboundClinic.now)::timestamptz - i * interval '1 hour', \(InboundClinic.now)::timestamptz - i * interval '1 hour' + interval '30 minutes', 'confirmed'
              FROM generate_series(1, 20000) i
            """)
        let other = try InboundClinic(url: clinic.url, senderPhone: "+15550002000")
        try clinic.conn.execute("INSERT INTO patients (workspace_id, phone, consent_whatsapp) VALUES (\(other.workspaceID), '+18880000000', true)")
        try clinic.conn.execute("""
            INSERT INTO appointments (workspace_id, patient_id, doctor_id, starts_at, ends_at, status)
            SELECT \(other.workspaceID), (SELECT id FROM patients WHERE workspace_id = \(other.workspaceID)), \(other.doctorID),
                   \(InboundClinic.now)::timestamptz + i * interval '1 hour', \(InboundClinic.now)::timestamptz + i * interval '1 hour' + interval '30 minutes', 'pending_review'
              FROM generate_series(1, 20000) i
            """)
        try clinic.conn.execute("ANALYZE")

        let worker = try PGConnection(clinic.url)
        try worker.execute("SET plan_cache_mode = force_generic_plan")
        let service = clinic.service(connection: worker)
        let before = try Self.sequentialScans(clinic.conn, flushing: [worker])
        for i in 0..<3 {
            let phone = "+1888" + String(format: "%08d", i + 1)   // patients with a history
            let hello = try service.handle(InboundWebhook(form: InboundClinic.params(from: phone, body: "hello")))
            #expect(hello.reply?.contains("1. ") == true, "\(hello)")
            let booked = try service.handle(InboundWebhook(form: InboundClinic.params(from: phone, body: "1")))
            #expect(booked.appointmentID != nil, "\(booked)")
        }
        let newcomer = try service.handle(InboundWebhook(form: InboundClinic.params(from: "+5215500000001", body: "hello")))
        #expect(newcomer.kind == .replied)
        let after = try Self.sequentialScans(clinic.conn, flushing: [worker])
        for table in Self.growing {
            #expect(after[table, default: -1] - before[table, default: -1] == 0, "sequential scans of \(table)")
        }
    }

    /// PostgreSQL opens every table and index a statement could write, whether it writes a row or not:
    /// what a returning patient's "1" sends must not carry the writes only a newcomer, a reschedule or
    /// a change of language needs.
    @Test("a returning patient's \"1\": two statements, neither able to create a patient or a conversation, neither cancelling or touching the patient", .needsStack)
    func returningPatientsShortcutSendsOnlyTheWritesItNeeds() throws {
        let clinic = try InboundClinic()
        try clinic.send("+5215512345678", "hello")  // the first message creates the patient and conversation
        let worker = try PGConnection(clinic.url)
        let sid = "SMhotpathretry000000000000000001"
        let booked = try clinic.service(connection: worker).handle(InboundWebhook(form: InboundClinic.params(from: "+5215512345678", body: "1", sid: sid)))
        #expect(booked.appointmentID != nil, "\(booked)")
        let sent = Array(worker.preparedStatementNames.keys)
        #expect(sent.count == 2, "\(sent)")
        #expect(worker.statementsRun == 2, "BEGIN and COMMIT travel with the two statements")
        for sql in sent {
            for write in ["INSERT INTO patients", "UPDATE patients", "INSERT INTO whatsapp_conversations", "UPDATE appointments"] {
                #expect(!sql.contains(write), "\(write) in \(sql)")
            }
        }
        // One transaction (the message, the reply and the appointment carry one transaction id), and
        // one UPDATE of the conversation for the message and its answer, with the message's marks.
        #expect(sent.filter { $0.contains("UPDATE whatsapp_conversations") }.count == 1, "\(sent)")
        #expect(try clinic.count("""
            SELECT count(DISTINCT x::text)::int AS n FROM (
                SELECT xmin AS x FROM whatsapp_messages WHERE id = $1 OR in_reply_to_id = $1
                UNION ALL SELECT xmin FROM appointments WHERE id = $2
                UNION ALL SELECT xmin FROM whatsapp_conversations) t
            """, [PGValue(booked.messageID), PGValue(booked.appointmentID)]) == 1)
        let conversation = try #require(try clinic.conn.query("""
            SELECT c.unread_count, c.last_inbound_at = m.created_at AS inbound_at, c.last_message_at = m.created_at AS message_at, c.pending_intent IS NULL AS offer_cleared
              FROM whatsapp_conversations c JOIN whatsapp_messages m ON m.id = $1
            """, [PGValue(booked.messageID)]).first)
        #expect(conversation.int("unread_count") == 2)
        #expect(conversation.bool("inbound_at") == true && conversation.bool("message_at") == true && conversation.bool("offer_cleared") == true)

        // Twilio retries it: what the transaction's recording statement found is used as it is (it is
        // not sent twice): that statement, its ROLLBACK, the stored reply.
        let before = worker.statementsRun
        let retry = try clinic.service(connection: worker).handle(InboundWebhook(form: InboundClinic.params(from: "+5215512345678", body: "1", sid: sid)))
        #expect(retry.kind == .duplicate && retry.reply == booked.reply, "\(retry)")
        #expect(worker.statementsRun - before == 3)
    }
}
