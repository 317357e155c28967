import Domain
import Foundation
import Testing
import TestSupport
import Postgres

/// The invariants the schema itself enforces, checked against the migrated schema.
@Suite("Schema invariants", .needsStack)
struct PostgresSchemaTests {
    /// A migrated database with one workspace, a doctor, a patient, a sender and a conversation.
    struct Fixture {
        let conn: PGConnection
        let workspace: Int64
        let doctor: Int64
        let patient: Int64
        let sender: Int64
        let conversation: Int64

        init() throws {
            conn = try PGConnection(try TestDatabase.create())
            workspace = try Workspaces.create(conn, name: "Clínica Uno", timezone: "America/Mexico_City").id
            doctor = try Users.create(conn, email: "doc@uno.mx", workspaceID: workspace, role: .doctor).id
            patient = try conn.query("INSERT INTO patients (workspace_id, phone, name) VALUES (\(workspace), '+5215512345678', 'Ana') RETURNING id")[0].int64("id")!
            sender = try Fixture.addSender(conn, workspace: workspace, phone: "+15550000001")
            conversation = try conn.query("""
                INSERT INTO whatsapp_conversations (workspace_id, patient_id, sender_id) VALUES (\(workspace), \(patient), \(sender)) RETURNING id
                """)[0].int64("id")!
        }

        @discardableResult
        static func addSender(_ conn: PGConnection, workspace: Int64, phone: String) throws -> Int64 {
            try conn.query("INSERT INTO whatsapp_senders (workspace_id, phone_number) VALUES (\(workspace), \(phone)) RETURNING id")[0].int64("id")!
        }

        @discardableResult
        func addMessage(sid: String?, direction: String = "outbound", status: String = "queued") throws -> Int64 {
            try conn.query("""
                INSERT INTO whatsapp_messages (workspace_id, conversation_id, direction, body, status, twilio_sid)
                VALUES (\(workspace), \(conversation), \(direction), 'hola', \(status), \(sid)) RETURNING id
                """)[0].int64("id")!
        }

        func status(sid: String) throws -> (String, Int?) {
            let row = try conn.query("SELECT status, error_code FROM whatsapp_messages WHERE twilio_sid = \(sid)")[0]
            return (row.string("status")!, row.int("error_code"))
        }

        func count(_ sql: String, _ params: [PGValue] = []) throws -> Int {
            try conn.query(sql, params)[0].int("n")!
        }
    }

    @Test func duplicateMessageSidIsRejected() throws {
        let f = try Fixture()
        try f.addMessage(sid: "SM0001", direction: "inbound", status: "received")
        let error = try #require(throws: PGError.self) { try f.addMessage(sid: "SM0001", direction: "inbound", status: "received") }
        #expect(error.isUniqueViolation)
        #expect(error.constraint == "whatsapp_messages_twilio_sid_key")
        // The idempotent insert the webhook uses stores nothing new.
        let again = try f.conn.execute("""
            INSERT INTO whatsapp_messages (workspace_id, conversation_id, direction, status, twilio_sid)
            VALUES (\(f.workspace), \(f.conversation), 'inbound', 'received', 'SM0001') ON CONFLICT (twilio_sid) DO NOTHING
            """)
        #expect(again == 0)
        // Outbound messages not yet accepted by Twilio have no SID; many may wait at once.
        try f.addMessage(sid: nil)
        try f.addMessage(sid: nil)
        #expect(try f.count("SELECT count(*) AS n FROM whatsapp_messages") == 3)
    }

    @Test func statusOnlyMovesForward() throws {
        let f = try Fixture()
        try f.addMessage(sid: "SMa")
        for (update, expected) in [("sent", "sent"), ("delivered", "delivered"), ("sent", "delivered"), ("queued", "delivered"),
                                   ("delivered", "delivered"), ("read", "read"), ("delivered", "read")] {
            try f.conn.execute("UPDATE whatsapp_messages SET status = \(update) WHERE twilio_sid = 'SMa'")
            #expect(try f.status(sid: "SMa").0 == expected, "after \(update)")
        }
        // failed is final and keeps its error code.
        try f.addMessage(sid: "SMb")
        try f.conn.execute("UPDATE whatsapp_messages SET status = 'failed', error_code = 63016 WHERE twilio_sid = 'SMb'")
        for late in ["sent", "delivered", "read", "undelivered", "queued"] {
            try f.conn.execute("UPDATE whatsapp_messages SET status = \(late), error_code = NULL WHERE twilio_sid = 'SMb'")
            #expect(try f.status(sid: "SMb") == ("failed", 63016), "after \(late)")
        }
        // undelivered after delivered is an advance (Twilio reports it late), then final.
        try f.addMessage(sid: "SMc", status: "delivered")
        try f.conn.execute("UPDATE whatsapp_messages SET status = 'undelivered', error_code = 63024 WHERE twilio_sid = 'SMc'")
        try f.conn.execute("UPDATE whatsapp_messages SET status = 'read' WHERE twilio_sid = 'SMc'")
        #expect(try f.status(sid: "SMc") == ("undelivered", 63024))
        // Unknown statuses are refused outright.
        let bad = try #require(throws: PGError.self) {
            try f.conn.execute("UPDATE whatsapp_messages SET status = 'teleported' WHERE twilio_sid = 'SMa'")
        }
        #expect(bad.sqlState == "23514")
    }

    @Test func fourthActiveSenderIsRejected() throws {
        let f = try Fixture()
        let second = try Fixture.addSender(f.conn, workspace: f.workspace, phone: "+15550000002")
        try Fixture.addSender(f.conn, workspace: f.workspace, phone: "+15550000003")
        let error = try #require(throws: PGError.self) {
            try Fixture.addSender(f.conn, workspace: f.workspace, phone: "+15550000004")
        }
        #expect(error.sqlState == "23514")
        #expect(error.constraint == "whatsapp_senders_max_active")
        #expect(try f.count("SELECT count(*) AS n FROM whatsapp_senders WHERE is_active") == 3)
        // Deactivating one frees its place.
        try f.conn.execute("UPDATE whatsapp_senders SET is_active = false WHERE id = \(second)")
        try Fixture.addSender(f.conn, workspace: f.workspace, phone: "+15550000004")
        #expect(try f.count("SELECT count(*) AS n FROM whatsapp_senders WHERE is_active") == 3)
    }

    @Test func oneActiveWorkspacePerNumber() throws {
        let f = try Fixture()
        let other = try Workspaces.create(f.conn, name: "Clínica Dos", timezone: "Europe/Madrid").id
        let error = try #require(throws: PGError.self) {
            try Fixture.addSender(f.conn, workspace: other, phone: "+15550000001")
        }
        #expect(error.isUniqueViolation)
        #expect(error.constraint == "sender_number_claims_held_key")
        // Deactivated, the number stays the first workspace's: refused all the same.
        try f.conn.transaction {
            try f.conn.execute("UPDATE whatsapp_senders SET is_active = false WHERE id = \(f.sender)")
        }
        let kept = try #require(throws: PGError.self) { try Fixture.addSender(f.conn, workspace: other, phone: "+15550000001") }
        #expect(kept.constraint == "sender_number_claims_held_key")
        // Once it released the number, another workspace may link it.
        try f.conn.execute("UPDATE sender_number_claims SET released_at = now() WHERE phone_number = '+15550000001'")
        try Fixture.addSender(f.conn, workspace: other, phone: "+15550000001")
        #expect(try f.count("SELECT count(*) AS n FROM sender_number_claims WHERE phone_number = '+15550000001' AND released_at IS NULL AND workspace_id = \(other)") == 1)
        // Phones are E.164.
        let bad = try #require(throws: PGError.self) { try Fixture.addSender(f.conn, workspace: other, phone: "5551234") }
        #expect(bad.sqlState == "23514")
    }

    @Test func exactlyOnePrimarySender() throws {
        let f = try Fixture()
        // The first active sender became primary by itself.
        #expect(try f.conn.query("SELECT is_primary FROM whatsapp_senders WHERE id = \(f.sender)")[0].bool("is_primary") == true)
        let second = try Fixture.addSender(f.conn, workspace: f.workspace, phone: "+15550000002")
        #expect(try f.count("SELECT count(*) AS n FROM whatsapp_senders WHERE is_primary") == 1)

        let twoPrimaries = try #require(throws: PGError.self) {
            try f.conn.execute("UPDATE whatsapp_senders SET is_primary = true WHERE id = \(second)")
        }
        #expect(twoPrimaries.isUniqueViolation)
        #expect(twoPrimaries.constraint == "whatsapp_senders_one_primary_key")

        // Zero primaries while senders are active is refused at commit.
        let none = try #require(throws: PGError.self) {
            try f.conn.transaction {
                try f.conn.execute("UPDATE whatsapp_senders SET is_primary = false WHERE workspace_id = \(f.workspace)")
            }
        }
        #expect(none.constraint == "whatsapp_senders_exactly_one_primary")
        #expect(try f.count("SELECT count(*) AS n FROM whatsapp_senders WHERE is_primary") == 1)

        // Moving the primary in one transaction (clear, then set) is allowed.
        try f.conn.transaction {
            try f.conn.execute("UPDATE whatsapp_senders SET is_primary = false WHERE workspace_id = \(f.workspace) AND is_primary")
            try f.conn.execute("UPDATE whatsapp_senders SET is_primary = true WHERE id = \(second)")
        }
        #expect(try f.conn.query("SELECT id FROM whatsapp_senders WHERE is_primary")[0].int64("id") == second)
        // Deactivating the primary without naming another is refused; with a successor it works.
        #expect(throws: PGError.self) {
            try f.conn.transaction { try f.conn.execute("UPDATE whatsapp_senders SET is_active = false WHERE id = \(second)") }
        }
        try f.conn.transaction {
            try f.conn.execute("UPDATE whatsapp_senders SET is_active = false WHERE id = \(second)")
            try f.conn.execute("UPDATE whatsapp_senders SET is_primary = true WHERE id = \(f.sender)")
        }
        // The last active sender may be deactivated: no active sender, no primary needed.
        try f.conn.transaction { try f.conn.execute("UPDATE whatsapp_senders SET is_active = false WHERE id = \(f.sender)") }
        #expect(try f.count("SELECT count(*) AS n FROM whatsapp_senders WHERE is_primary OR is_active") == 0)
    }

    @Test func doubleBookingIsRejected() throws {
        let f = try Fixture()
        let insert = """
            INSERT INTO appointments (workspace_id, patient_id, doctor_id, starts_at, ends_at, status)
            VALUES ($1, $2, $3, $4::timestamptz, $4::timestamptz + interval '30 minutes', $5) RETURNING id
            """
        let start = "2030-01-15 15:00:00+00"
        let first = try f.conn.query(insert, [PGValue(f.workspace), PGValue(f.patient), PGValue(f.doctor), PGValue(start), "pending_review"])[0].int64("id")!
        let error = try #require(throws: PGError.self) {
            try f.conn.query(insert, [PGValue(f.workspace), PGValue(f.patient), PGValue(f.doctor), PGValue(start), "confirmed"])
        }
        #expect(error.sqlState == "23P01")   // exclusion_violation
        #expect(error.constraint == "appointments_no_double_booking")
        // Not only the same start: any overlap with the doctor's live appointments is refused (0014),
        // an appointment that starts when the other ends is not an overlap.
        let overlapping = try #require(throws: PGError.self) {
            try f.conn.query(insert, [PGValue(f.workspace), PGValue(f.patient), PGValue(f.doctor), "2030-01-15 15:15:00+00", "confirmed"])
        }
        #expect(overlapping.constraint == "appointments_no_double_booking")
        try f.conn.query(insert, [PGValue(f.workspace), PGValue(f.patient), PGValue(f.doctor), "2030-01-15 15:30:00+00", "confirmed"])
        // A cancelled appointment frees the slot.
        try f.conn.execute("UPDATE appointments SET status = 'cancelled' WHERE id = \(first)")
        try f.conn.query(insert, [PGValue(f.workspace), PGValue(f.patient), PGValue(f.doctor), PGValue(start), "confirmed"])
        // A patient of another workspace can never be booked here.
        let other = try Workspaces.create(f.conn, name: "Otra", timezone: "UTC").id
        let stranger = try f.conn.query("INSERT INTO patients (workspace_id, phone) VALUES (\(other), '+5215599999999') RETURNING id")[0].int64("id")!
        let cross = try #require(throws: PGError.self) {
            try f.conn.query(insert, [PGValue(f.workspace), PGValue(stranger), PGValue(f.doctor), "2030-01-16 15:00:00+00", "confirmed"])
        }
        #expect(cross.sqlState == "23503")
    }

    @Test func reminderOncePerAppointmentKindAndTime() throws {
        let f = try Fixture()
        let appointment = try f.conn.query("""
            INSERT INTO appointments (workspace_id, patient_id, doctor_id, starts_at, ends_at, status)
            VALUES (\(f.workspace), \(f.patient), \(f.doctor), '2030-02-01 15:00+00', '2030-02-01 15:30+00', 'confirmed') RETURNING id
            """)[0].int64("id")!
        let claim = """
            INSERT INTO reminder_log (workspace_id, appointment_id, kind, scheduled_for)
            SELECT workspace_id, id, 'reminder', starts_at FROM appointments WHERE id = $1
            ON CONFLICT (appointment_id, kind, scheduled_for) DO NOTHING
            """
        #expect(try f.conn.execute(claim, [PGValue(appointment)]) == 1)
        #expect(try f.conn.execute(claim, [PGValue(appointment)]) == 0)   // a second run claims nothing
        let error = try #require(throws: PGError.self) {
            try f.conn.execute("INSERT INTO reminder_log (workspace_id, appointment_id, kind, scheduled_for) VALUES (\(f.workspace), \(appointment), 'reminder', '2030-02-01 15:00+00')")
        }
        #expect(error.isUniqueViolation)
        // Rescheduled: reminded again for the new time.
        try f.conn.execute("UPDATE appointments SET starts_at = starts_at + interval '1 day', ends_at = ends_at + interval '1 day' WHERE id = \(appointment)")
        #expect(try f.conn.execute(claim, [PGValue(appointment)]) == 1)
        #expect(try f.count("SELECT count(*) AS n FROM reminder_log") == 2)
    }

    @Test func oneSendPerBundleRecipient() throws {
        let f = try Fixture()
        let batch = try f.conn.query("INSERT INTO bundle_batches (workspace_id, sender_id, body) VALUES (\(f.workspace), \(f.sender), 'Hola {name}') RETURNING id")[0].int64("id")!
        let add = "INSERT INTO bundle_recipients (batch_id, workspace_id, name, phone) VALUES ($1, $2, $3, $4)"
        try f.conn.execute(add, [PGValue(batch), PGValue(f.workspace), "Ana", "+5215511111111"])
        let error = try #require(throws: PGError.self) {
            try f.conn.execute(add, [PGValue(batch), PGValue(f.workspace), "Ana again", "+5215511111111"])
        }
        #expect(error.isUniqueViolation)
        #expect(error.constraint == "bundle_recipients_once")
    }

    @Test func checksRefuseOutOfRangeValues() throws {
        let f = try Fixture()
        for hours in [0, 73] {
            let e = try #require(throws: PGError.self) {
                try f.conn.execute("UPDATE reminder_settings SET hours_before = \(hours) WHERE workspace_id = \(f.workspace)")
            }
            #expect(e.sqlState == "23514")
        }
        let role = try #require(throws: PGError.self) {
            try f.conn.execute("UPDATE memberships SET role = 'superuser' WHERE user_id = \(f.doctor)")
        }
        #expect(role.sqlState == "23514")
        let lang = try #require(throws: PGError.self) {
            try f.conn.execute("UPDATE patients SET preferred_language = 'fr' WHERE id = \(f.patient)")
        }
        #expect(lang.sqlState == "23514")
        let patientPhone = try #require(throws: PGError.self) {
            try f.conn.execute("INSERT INTO patients (workspace_id, phone) VALUES (\(f.workspace), '+0123456789')")
        }
        #expect(patientPhone.sqlState == "23514")
        let samePhone = try #require(throws: PGError.self) {
            try f.conn.execute("INSERT INTO patients (workspace_id, phone) VALUES (\(f.workspace), '+5215512345678')")
        }
        #expect(samePhone.isUniqueViolation)
    }

    /// 0016: the single-column checks of the tables every webhook writes are domain checks now, under
    /// the names of the table checks they replaced. The database refuses the same values with the same
    /// SQLSTATE and constraint name, whether a value comes as a parameter (checked as it is bound), a
    /// literal or an expression, on insert and on update; NULL stays allowed where it was, NOT NULL
    /// stays on the column.
    @Test func columnChecksMovedToDomainsRefuseTheSameValuesUnderTheSameNames() throws {
        let f = try Fixture()
        let message = try f.addMessage(sid: "SMd", direction: "inbound", status: "received")
        func refused(_ constraint: String, _ query: PGQuery, sourceLocation: SourceLocation = #_sourceLocation) {
            let error = #expect(throws: PGError.self, sourceLocation: sourceLocation) { try f.conn.execute(query) }
            #expect(error?.sqlState == "23514", sourceLocation: sourceLocation)
            #expect(error?.constraint == constraint, sourceLocation: sourceLocation)
        }
        let (ws, patient, conv) = (f.workspace, f.patient, f.conversation)

        // patients: phone (E.164), preferred_language (en, es or unknown), consent_source.
        for phone in ["+0123456789", "5215512345679", "+52 1 55", "+1234567890123456"] {
            refused("patients_phone_check", "INSERT INTO patients (workspace_id, phone) VALUES (\(ws), \(phone))")
        }
        refused("patients_phone_check", "UPDATE patients SET phone = 'not a phone' WHERE id = \(patient)")
        refused("patients_phone_check", "UPDATE patients SET phone = phone || 'x' WHERE id = \(patient)")
        #expect(throws: PGError.self) { try f.conn.execute("INSERT INTO patients (workspace_id, phone) VALUES (\(ws), NULL)") }
        refused("patients_preferred_language_check", "UPDATE patients SET preferred_language = \("fr") WHERE id = \(patient)")
        refused("patients_preferred_language_check", "INSERT INTO patients (workspace_id, phone, preferred_language) VALUES (\(ws), '+5215500000001', 'EN')")
        refused("patients_consent_source_check", "UPDATE patients SET consent_source = \("robot") WHERE id = \(patient)")
        refused("patients_consent_source_check", "UPDATE patients SET consent_source = 'Staff' WHERE id = \(patient)")
        try f.conn.execute("UPDATE patients SET preferred_language = NULL, consent_source = NULL WHERE id = \(patient)")
        try f.conn.execute("UPDATE patients SET preferred_language = \("es"), consent_source = \("bundle"), phone = \("+5215512345670") WHERE id = \(patient)")
        let row = try f.conn.query("SELECT phone, preferred_language, consent_source FROM patients WHERE id = \(patient)")[0]
        #expect(row.string("phone") == "+5215512345670" && row.string("preferred_language") == "es" && row.string("consent_source") == "bundle")

        // whatsapp_conversations: state (bot, handoff), unread_count >= 0.
        refused("whatsapp_conversations_state_check", "UPDATE whatsapp_conversations SET state = \("closed") WHERE id = \(conv)")
        refused("whatsapp_conversations_state_check", "UPDATE whatsapp_conversations SET state = NULLIF('x', 'y') WHERE id = \(conv)")
        #expect(throws: PGError.self) { try f.conn.execute("UPDATE whatsapp_conversations SET state = NULL WHERE id = \(conv)") }
        refused("whatsapp_conversations_unread_count_check", "UPDATE whatsapp_conversations SET unread_count = unread_count - 1 WHERE id = \(conv)")
        refused("whatsapp_conversations_unread_count_check", "UPDATE whatsapp_conversations SET unread_count = \(-1) WHERE id = \(conv)")
        try f.conn.execute("UPDATE whatsapp_conversations SET state = \("handoff"), unread_count = unread_count + 2 WHERE id = \(conv)")
        let c = try f.conn.query("SELECT state, unread_count FROM whatsapp_conversations WHERE id = \(conv)")[0]
        #expect(c.string("state") == "handoff" && c.int("unread_count") == 2)

        // whatsapp_messages: direction, media (a JSON array), status.
        refused("whatsapp_messages_direction_check", """
            INSERT INTO whatsapp_messages (workspace_id, conversation_id, direction, status) VALUES (\(ws), \(conv), \("sideways"), 'queued')
            """)
        refused("whatsapp_messages_direction_check", "UPDATE whatsapp_messages SET direction = 'Inbound' WHERE id = \(message)")
        refused("whatsapp_messages_media_check", """
            INSERT INTO whatsapp_messages (workspace_id, conversation_id, direction, status, media) VALUES (\(ws), \(conv), 'outbound', 'queued', '{}')
            """)
        refused("whatsapp_messages_media_check", "UPDATE whatsapp_messages SET media = \("{\"url\": \"https://x\"}") WHERE id = \(message)")
        refused("whatsapp_messages_media_check", "UPDATE whatsapp_messages SET media = jsonb_build_object('url', body) WHERE id = \(message)")
        refused("whatsapp_messages_status_check", """
            INSERT INTO whatsapp_messages (workspace_id, conversation_id, direction, status) VALUES (\(ws), \(conv), 'outbound', \("teleported"))
            """)
        #expect(throws: PGError.self) {
            try f.conn.execute("INSERT INTO whatsapp_messages (workspace_id, conversation_id, direction, status) VALUES (\(ws), \(conv), 'outbound', NULL)")
        }
        try f.conn.execute("UPDATE whatsapp_messages SET media = \("[{\"url\": \"https://x\", \"content_type\": \"image/png\"}]") WHERE id = \(message)")
        #expect(try f.count("SELECT count(*)::int AS n FROM whatsapp_messages WHERE jsonb_array_length(media) = 1 AND media -> 0 ->> 'content_type' = 'image/png'") == 1)

        // None of these tables keeps a single-column CHECK of its own; appointments keeps its two.
        let tableChecks = try f.conn.query("""
            SELECT conrelid::regclass::text AS t, conname FROM pg_constraint
             WHERE contype = 'c' AND conrelid IN ('patients'::regclass, 'whatsapp_conversations'::regclass, 'whatsapp_messages'::regclass, 'appointments'::regclass)
             ORDER BY conname
            """).map { "\($0.string("t") ?? "")/\($0.string("conname") ?? "")" }
        #expect(tableChecks == ["appointments/appointments_check", "appointments/appointments_status_check"])
    }

    /// The indexes of 0012–0014 (bench/scale: each hot statement whose plan grew with its table's size got
    /// one), with the columns, order and predicate the statements need; the ones they replaced are gone.
    @Test func hotStatementsHaveTheIndexesThatKeepThemIndependentOfTableSize() throws {
        let f = try Fixture()
        var defs: [String: String] = [:]
        for row in try f.conn.query("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'") {
            defs[row.string("indexname") ?? ""] = row.string("indexdef")
        }
        #expect(defs["whatsapp_conversations_inbox_order_idx"]
                == "CREATE INDEX whatsapp_conversations_inbox_order_idx ON public.whatsapp_conversations USING btree (workspace_id, COALESCE(last_message_at, created_at) DESC, id DESC) WHERE (deleted_at IS NULL)")
        #expect(defs["whatsapp_conversations_changed_idx"]
                == "CREATE INDEX whatsapp_conversations_changed_idx ON public.whatsapp_conversations USING btree (workspace_id, updated_at) WHERE (deleted_at IS NULL)")
        #expect(defs["whatsapp_messages_conversation_id_idx"]
                == "CREATE INDEX whatsapp_messages_conversation_id_idx ON public.whatsapp_messages USING btree (conversation_id, id)")
        #expect(defs["reminder_log_sending_idx"]
                == "CREATE INDEX reminder_log_sending_idx ON public.reminder_log USING btree (created_at) WHERE (status = 'sending'::text)")
        #expect(defs["whatsapp_conversations_inbox_idx"] == nil, "replaced by whatsapp_conversations_inbox_order_idx")
        // 0014: one exclusion constraint's index serves the booking (no overlap with the doctor's live
        // appointments) and the free slots' window (FreeSlots), and replaced the three that did.
        #expect(defs["appointments_no_double_booking"]
                == "CREATE INDEX appointments_no_double_booking ON public.appointments USING gist (doctor_id, tstzrange(starts_at, ends_at)) WHERE (status <> 'cancelled'::text)")
        #expect(defs["appointments_doctor_live_ends_idx"] == nil && defs["appointments_live_during_idx"] == nil)
        // 0014: whatsapp_messages keeps the indexes something reads.
        #expect(Set(defs.keys.filter { $0.hasPrefix("whatsapp_messages_") })
                == ["whatsapp_messages_pkey", "whatsapp_messages_conversation_id_idx", "whatsapp_messages_twilio_sid_key", "whatsapp_messages_one_reply_key"])
    }
}
