import Foundation
import Postgres

public struct PGAppointmentStore: AppointmentStore {
    let conn: PGConnection
    public init(_ conn: PGConnection) { self.conn = conn }

    static let select: SQLFragment = """
        SELECT a.id, a.status, a.starts_at, a.ends_at, a.reason, a.doctor_id, a.created_at,
               NULLIF(u.name, '') AS doctor_name,   -- never the email: patients see this name
               p.id AS p_id, p.name AS p_name, p.phone AS p_phone, p.preferred_language AS p_lang, p.consent_whatsapp AS p_consent
          FROM appointments a
          JOIN patients p ON p.workspace_id = a.workspace_id AND p.id = a.patient_id
          LEFT JOIN users u ON u.id = a.doctor_id
        """

    // MARK: appointments

    public func list(workspaceID: Int64, _ f: AppointmentFilter, limit: Int) throws -> [AppointmentRecord] {
        try conn.query("""
            \(unescaped: Self.select)
             WHERE a.workspace_id = \(workspaceID)
               AND (\(f.from)::timestamptz IS NULL OR a.starts_at >= \(f.from)::timestamptz)
               AND (\(f.to)::timestamptz IS NULL OR a.starts_at < \(f.to)::timestamptz)
               AND (\(f.status)::text IS NULL OR a.status = \(f.status)::text)
               AND (\(f.doctorID)::bigint IS NULL OR a.doctor_id = \(f.doctorID)::bigint)
               AND (\(f.patientID)::bigint IS NULL OR a.patient_id = \(f.patientID)::bigint)
             ORDER BY a.starts_at, a.id LIMIT \(limit)
            """)
            .map(AppointmentRecord.init(row:))
    }

    public func pending(workspaceID: Int64, limit: Int) throws -> [AppointmentRecord] {
        try conn.query("\(unescaped: Self.select) WHERE a.workspace_id = \(workspaceID) AND a.status = 'pending_review' ORDER BY a.starts_at, a.id LIMIT \(limit)")
            .map(AppointmentRecord.init(row:))
    }

    public func get(workspaceID: Int64, id: Int64) throws -> AppointmentRecord? {
        try conn.query("\(unescaped: Self.select) WHERE a.workspace_id = \(workspaceID) AND a.id = \(id)").first.map(AppointmentRecord.init(row:))
    }

    public func book(_ b: StaffBooking, end: (Int) throws -> Date, audit: (Int64) -> AuditEntry) throws -> StaffBookingResult {
        try conn.transaction {
            guard try conn.query("SELECT 1 FROM patients WHERE workspace_id = \(b.workspaceID) AND id = \(b.patientID)").count == 1 else {
                return .patientNotFound
            }
            guard let slot = try conn.query("""
                SELECT COALESCE((SELECT a.slot_minutes FROM doctor_availability a, workspaces w
                                  WHERE w.id = m.workspace_id AND a.workspace_id = w.id AND a.doctor_id = m.user_id
                                    AND a.weekday = extract(dow FROM \(b.startsAt)::timestamptz AT TIME ZONE w.timezone)
                                  ORDER BY a.start_time LIMIT 1), 30) AS minutes
                  FROM memberships m WHERE m.workspace_id = \(b.workspaceID) AND m.user_id = \(b.doctorID) AND m.role IN ('doctor', 'admin_doctor')
                """).first?.decode(Int.self, "minutes") else {
                return .doctorNotFound
            }
            let ends = try end(slot)
            guard let row = try conn.query("""
                INSERT INTO appointments (workspace_id, patient_id, doctor_id, starts_at, ends_at, status, reason,
                                          reviewed_by_user_id, reviewed_at, created_by_user_id)
                VALUES (\(b.workspaceID), \(b.patientID), \(b.doctorID), \(b.startsAt), \(ends), 'confirmed',
                        \(b.reason), \(b.userID), now(), \(b.userID))
                ON CONFLICT ON CONSTRAINT appointments_no_double_booking DO NOTHING
                RETURNING id
                """).first else {
                return .slotTaken
            }
            let id = try row.decode(Int64.self, "id")
            try conn.recordAudit(audit(id))
            return .booked(id)
        }
    }

    public func review(workspaceID: Int64, id: Int64, accept: Bool, userID: Int64, audit: AuditEntry) throws -> AppointmentStatusResult {
        try conn.transaction {
            let n = try conn.execute("""
                UPDATE appointments
                   SET status = \(accept ? "confirmed" : "cancelled"), reviewed_by_user_id = \(userID), reviewed_at = now(),
                       cancelled_at = CASE WHEN \(accept ? "confirmed" : "cancelled") = 'cancelled' THEN now() ELSE cancelled_at END
                 WHERE workspace_id = \(workspaceID) AND id = \(id) AND status = 'pending_review'
                """)
            guard let current = try get(workspaceID: workspaceID, id: id) else { return .notFound }   // another workspace's id
            guard n == 1 else { return .refused(current: current) }
            try conn.recordAudit(audit)
            return .done(current)
        }
    }

    public func cancel(workspaceID: Int64, id: Int64, audit: AuditEntry) throws -> AppointmentStatusResult {
        try conn.transaction {
            let n = try conn.execute("""
                UPDATE appointments SET status = 'cancelled', cancelled_at = now()
                 WHERE workspace_id = \(workspaceID) AND id = \(id) AND status <> 'cancelled'
                """)
            guard let current = try get(workspaceID: workspaceID, id: id) else { return .notFound }
            guard n == 1 else { return .refused(current: current) }
            try conn.recordAudit(audit)
            return .done(current)
        }
    }

    public func reschedule(workspaceID: Int64, id: Int64, startsAt: Date, end: (Date, Date) throws -> Date,
                           audit: (Date) -> AuditEntry) throws -> AppointmentMoveResult {
        try conn.transaction {
            guard let row = try conn.query("SELECT status, starts_at, ends_at FROM appointments WHERE workspace_id = \(workspaceID) AND id = \(id) FOR UPDATE").first else {
                return .notFound
            }
            let status = try row.decode(String.self, "status")
            let oldStart = try row.decode(Date.self, "starts_at"), oldEnd = try row.decode(Date.self, "ends_at")
            guard status != "cancelled" else { return .cancelled }
            let ends = try end(oldStart, oldEnd)
            do {
                try conn.transaction {
                    try conn.execute("UPDATE appointments SET starts_at = \(startsAt), ends_at = \(ends) WHERE workspace_id = \(workspaceID) AND id = \(id)")
                }
            } catch let e as PGError where e.constraint == "appointments_no_double_booking" {
                return .slotTaken
            }
            try conn.recordAudit(audit(oldStart))
            guard let moved = try get(workspaceID: workspaceID, id: id) else { return .notFound }
            return .moved(moved)
        }
    }

    public func noticeContext(workspaceID: Int64, patientID: Int64) throws -> AppointmentNoticeContext? {
        guard let row = try conn.query("""
            SELECT w.timezone, COALESCE(NULLIF(w.clinic_name, ''), w.name) AS clinic, COALESCE(p.preferred_language, s.language, w.default_language) AS lang
              FROM workspaces w JOIN patients p ON p.workspace_id = w.id AND p.id = \(patientID)
              LEFT JOIN reminder_settings s ON s.workspace_id = w.id
             WHERE w.id = \(workspaceID)
            """).first else { return nil }
        return AppointmentNoticeContext(timezone: try row.decode(String?.self, "timezone") ?? "UTC", clinicName: try row.decode(String?.self, "clinic") ?? "",
                                        language: try row.decode(String?.self, "lang"))
    }

    public func keepPendingOffer(workspaceID: Int64, conversationID: Int64, offerJSON: String) throws {
        try conn.execute("""
            UPDATE whatsapp_conversations SET pending_intent = \(PGJSON(offerJSON))::jsonb
             WHERE workspace_id = \(workspaceID) AND id = \(conversationID)
            """)
    }

    // MARK: doctors

    public func doctors(workspaceID: Int64) throws -> [DoctorRecord] {
        try conn.query("""
            SELECT u.id, u.name, u.email, m.role FROM memberships m JOIN users u ON u.id = m.user_id
             WHERE m.workspace_id = \(workspaceID) AND m.role IN ('doctor', 'admin_doctor')
             ORDER BY COALESCE(NULLIF(u.name, ''), u.email), u.id
            """).map { row in
            DoctorRecord(id: try row.decode(Int64.self, "id"), name: try row.decode(String?.self, "name"), email: try row.decode(String.self, "email"),
                         role: try row.decode(String.self, "role"))
        }
    }

    public func isDoctor(workspaceID: Int64, userID: Int64) throws -> Bool {
        try conn.query("SELECT 1 FROM memberships WHERE workspace_id = \(workspaceID) AND user_id = \(userID) AND role IN ('doctor', 'admin_doctor')").count == 1
    }

    public func timezone(workspaceID: Int64) throws -> String {
        try conn.query("SELECT timezone FROM workspaces WHERE id = \(workspaceID)").first?.decode(String?.self, "timezone") ?? "UTC"
    }

    public func availability(workspaceID: Int64, doctorID: Int64, timezone tz: String) throws -> (weekly: [DoctorWeeklyRange], timeOff: [DoctorTimeOff]) {
        let weekly = try conn.query("""
            SELECT weekday, to_char(start_time, 'HH24:MI') AS s, to_char(end_time, 'HH24:MI') AS e, slot_minutes
              FROM doctor_availability WHERE workspace_id = \(workspaceID) AND doctor_id = \(doctorID) ORDER BY weekday, start_time
            """).map { r -> DoctorWeeklyRange in
            let e = try r.decode(String.self, "e")
            return DoctorWeeklyRange(weekday: try r.decode(Int.self, "weekday"), start: try r.decode(String.self, "s"), end: e == "00:00" ? "24:00" : e,
                                     slotMinutes: try r.decode(Int?.self, "slot_minutes"))
        }
        let off = try conn.query("""
            SELECT to_char(starts_at AT TIME ZONE \(tz)::text, 'YYYY-MM-DD"T"HH24:MI') AS f,
                   to_char(ends_at AT TIME ZONE \(tz)::text, 'YYYY-MM-DD"T"HH24:MI') AS t, reason, starts_at, ends_at
              FROM doctor_time_off WHERE workspace_id = \(workspaceID) AND doctor_id = \(doctorID) ORDER BY starts_at, id
            """).map { r -> DoctorTimeOff in
            DoctorTimeOff(from: try r.decode(String.self, "f"), to: try r.decode(String.self, "t"), reason: try r.decode(String?.self, "reason"),
                          startsAt: try r.decode(Date.self, "starts_at"), endsAt: try r.decode(Date.self, "ends_at"))
        }
        return (weekly, off)
    }

    public func replaceAvailability(workspaceID: Int64, doctorID: Int64, _ rows: DoctorAvailabilityRows, audit: AuditEntry) throws {
        try conn.transaction {
            try conn.execute("DELETE FROM doctor_availability WHERE workspace_id = \(workspaceID) AND doctor_id = \(doctorID)")
            try conn.execute("DELETE FROM doctor_time_off WHERE workspace_id = \(workspaceID) AND doctor_id = \(doctorID)")
            let weekly = try PGValue.json(encoding: rows.weekly)
            try conn.execute("""
                INSERT INTO doctor_availability (workspace_id, doctor_id, weekday, start_time, end_time, slot_minutes)
                SELECT \(workspaceID), \(doctorID), r.weekday, make_interval(mins => r.start)::time,
                       CASE WHEN r."end" = 1440 THEN '24:00'::time ELSE make_interval(mins => r."end")::time END, r.slot
                  FROM jsonb_to_recordset(\(weekly)::jsonb) AS r(weekday int, start int, "end" int, slot int)
                """)
            let offJSON = try PGValue.json(encoding: rows.timeOff)
            try conn.execute("""
                INSERT INTO doctor_time_off (workspace_id, doctor_id, starts_at, ends_at, reason)
                SELECT w.id, \(doctorID), r."from"::timestamp AT TIME ZONE w.timezone, r."to"::timestamp AT TIME ZONE w.timezone, r.reason
                  FROM workspaces w, jsonb_to_recordset(\(offJSON)::jsonb) AS r("from" text, "to" text, reason text)
                 WHERE w.id = \(workspaceID)
                """)
            try conn.recordAudit(audit)
        }
    }

    // MARK: free slots

    /// One query: the calendar arithmetic (local days, DST) is PostgreSQL's `AT TIME ZONE`, in the
    /// workspace's zone or UTC if PostgreSQL does not know it (`medsync_known_timezone`, 0015: not a
    /// scan of `pg_timezone_names`, 30+ ms); `w` is MATERIALIZED so that is asked once; the
    /// appointments are read only inside a constant window around the slots (every slot starts
    /// after `from` and ends before `from + days + 1 day + a DST shift`, so `+ 2 days` is safe),
    /// by the GiST index of the `appointments_no_double_booking` constraint (0014, which replaced
    /// 0013's `appointments_live_during_idx`): not every live appointment of the table.
    static func freeSlotsQuery(workspaceID: Int64, from: Date, days: Int, limit: Int, doctorID: Int64?) -> PGQuery {
        """
            WITH w AS MATERIALIZED (
                SELECT medsync_known_timezone(timezone) AS tz
                  FROM workspaces WHERE id = \(workspaceID)
            ), days AS (
                SELECT w.tz, d::date AS day
                  FROM w, generate_series((\(from)::timestamptz AT TIME ZONE w.tz)::date,
                                          (\(from)::timestamptz AT TIME ZONE w.tz)::date + (\(max(days, 1))::int - 1), interval '1 day') AS d
            ), slots AS (
                SELECT a.doctor_id,
                       (days.day + a.start_time + make_interval(mins => a.slot_minutes * k)) AT TIME ZONE days.tz AS starts_at,
                       a.slot_minutes
                  FROM days
                  JOIN doctor_availability a ON a.workspace_id = \(workspaceID) AND a.weekday = extract(dow FROM days.day)
                                            AND (\(doctorID)::bigint IS NULL OR a.doctor_id = \(doctorID)::bigint)
                 CROSS JOIN LATERAL generate_series(0, (extract(epoch FROM a.end_time - a.start_time)::int / 60) / a.slot_minutes - 1) AS k
            ), busy AS MATERIALIZED (
                -- a doctor's live appointments in every workspace, as busy time only (row-level
                -- security shows this workspace's rows; the function answers times, sql/0021)
                SELECT d.doctor_id, b.starts_at, b.ends_at
                  FROM (SELECT DISTINCT doctor_id FROM slots) d,
                       LATERAL medsync_doctor_busy(d.doctor_id, \(from)::timestamptz,
                                                   \(from)::timestamptz + make_interval(days => \(max(days, 1))::int + 2)) b
            )
            SELECT DISTINCT s.doctor_id, s.starts_at, s.starts_at + make_interval(mins => s.slot_minutes) AS ends_at
              FROM slots s
             WHERE s.starts_at > \(from)::timestamptz
               AND NOT EXISTS (SELECT 1 FROM busy ap
                                WHERE ap.doctor_id = s.doctor_id
                                  AND ap.starts_at < s.starts_at + make_interval(mins => s.slot_minutes)
                                  AND ap.ends_at > s.starts_at)
               AND NOT EXISTS (SELECT 1 FROM doctor_time_off t
                                WHERE t.workspace_id = \(workspaceID) AND t.doctor_id = s.doctor_id
                                  AND t.starts_at < s.starts_at + make_interval(mins => s.slot_minutes)
                                  AND t.ends_at > s.starts_at)
             ORDER BY s.starts_at, s.doctor_id
             LIMIT \(limit)
            """
    }

    public func freeSlots(workspaceID: Int64, from: Date, days: Int, limit: Int, doctorID: Int64?) throws -> [Slot] {
        let rows = try conn.query(Self.freeSlotsQuery(workspaceID: workspaceID, from: from, days: days, limit: limit, doctorID: doctorID))
        return try rows.compactMap { row in
            guard let doctor = try row.decode(Int64?.self, "doctor_id"), let s = try row.decode(Date?.self, "starts_at"), let e = try row.decode(Date?.self, "ends_at") else { return nil }
            return Slot(doctorUserID: doctor, startsAt: s, endsAt: e)
        }
    }
}

extension AppointmentRecord {
    init(row: PGRow) throws {
        self.init(id: try row.decode(Int64.self, "id"), status: try row.decode(String.self, "status"), startsAt: try row.decode(Date.self, "starts_at"),
                  endsAt: try row.decode(Date.self, "ends_at"), reason: try row.decode(String?.self, "reason"),
                  patient: Patient(id: try row.decode(Int64.self, "p_id"), name: try row.decode(String?.self, "p_name"), phone: try row.decode(String.self, "p_phone"),
                                   preferredLanguage: try row.decode(String?.self, "p_lang") ?? "en", consentWhatsapp: try row.decode(Bool?.self, "p_consent") ?? false),
                  doctorID: try row.decode(Int64?.self, "doctor_id"), doctorName: try row.decode(String?.self, "doctor_name"),
                  createdAt: try row.decode(Date.self, "created_at"))
    }
}

extension PostgresStores {
    public var appointments: PGAppointmentStore { PGAppointmentStore(conn) }
}
