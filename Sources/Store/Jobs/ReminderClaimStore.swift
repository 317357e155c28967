import Foundation
import Postgres

/// A workspace with reminders enabled, as the reminder run reads it: its settings (nil where the
/// row leaves them to the product guide's defaults), whether it has a primary sender and whether
/// any appointment is due.
public struct ReminderWorkspace: Sendable, Equatable {
    public let workspaceID: Int64
    public let timezone: String?
    public let hoursBefore: Int?
    public let templateKey: String?
    public let customMessage: String?
    public let language: String?
    public let hasSender: Bool?
    public let hasDue: Bool?

    public init(workspaceID: Int64, timezone: String?, hoursBefore: Int?, templateKey: String?, customMessage: String?,
                language: String?, hasSender: Bool?, hasDue: Bool?) {
        self.workspaceID = workspaceID
        self.timezone = timezone
        self.hoursBefore = hoursBefore
        self.templateKey = templateKey
        self.customMessage = customMessage
        self.language = language
        self.hasSender = hasSender
        self.hasDue = hasDue
    }

    init(row: PGRow) throws {
        self.init(workspaceID: try row.decode(Int64.self, "id"), timezone: try row.decode(String?.self, "timezone"),
                  hoursBefore: try row.decode(Int?.self, "hours_before"), templateKey: try row.decode(String?.self, "template_key"),
                  customMessage: try row.decode(String?.self, "custom_message"), language: try row.decode(String?.self, "language"),
                  hasSender: try row.decode(Bool?.self, "has_sender"), hasDue: try row.decode(Bool?.self, "has_due"))
    }
}

/// A confirmed or cancelled appointment in a workspace's reminder window that has no reminder for
/// its start time yet, with its patient and doctor.
public struct DueAppointment: Sendable, Equatable {
    public let id: Int64
    public let startsAt: Date
    /// The start as PostgreSQL wrote it, for the claim: a Date round trip can be a microsecond off,
    /// and the claim would then match nothing ("claimed elsewhere", never sent).
    public let startsAtText: String
    public let status: String?
    public let patientID: Int64
    public let patientName: String?
    public let phone: String
    public let preferredLanguage: String?
    public let consentWhatsApp: Bool?
    public let consentUpdatedAt: Date?
    /// Never the email address.
    public let doctorName: String?

    public init(id: Int64, startsAt: Date, startsAtText: String, status: String?, patientID: Int64, patientName: String?, phone: String,
                preferredLanguage: String?, consentWhatsApp: Bool?, consentUpdatedAt: Date?, doctorName: String?) {
        self.id = id
        self.startsAt = startsAt
        self.startsAtText = startsAtText
        self.status = status
        self.patientID = patientID
        self.patientName = patientName
        self.phone = phone
        self.preferredLanguage = preferredLanguage
        self.consentWhatsApp = consentWhatsApp
        self.consentUpdatedAt = consentUpdatedAt
        self.doctorName = doctorName
    }

    init(row: PGRow) throws {
        self.init(id: try row.decode(Int64.self, "id"), startsAt: try row.decode(Date.self, "starts_at"),
                  startsAtText: try row.decode(String.self, "starts_at"), status: try row.decode(String?.self, "status"),
                  patientID: try row.decode(Int64.self, "patient_id"), patientName: try row.decode(String?.self, "patient_name"),
                  phone: try row.decode(String.self, "phone"), preferredLanguage: try row.decode(String?.self, "preferred_language"),
                  consentWhatsApp: try row.decode(Bool?.self, "consent_whatsapp"), consentUpdatedAt: try row.decode(Date?.self, "consent_updated_at"),
                  doctorName: try row.decode(String?.self, "doctor_name"))
    }
}

/// What a claimed reminder ended as (its reminder_log row): sent, skipped or failed, with Twilio's
/// SID, error code and the message row when there are.
public struct ReminderResult: Sendable, Equatable {
    public var status: String
    public var reason: String?
    public var sid: String?
    public var errorCode: Int?
    public var messageID: Int64?

    public init(status: String, reason: String? = nil, sid: String? = nil, errorCode: Int? = nil, messageID: Int64? = nil) {
        self.status = status
        self.reason = reason
        self.sid = sid
        self.errorCode = errorCode
        self.messageID = messageID
    }
}

/// The reminder run's claims (reminder_log): exactly once across hosts, an appointment is claimed by
/// inserting its row (unique per appointment, kind and start time) before Twilio is called; the run
/// that loses the insert leaves it to the winner. Nothing here is held open across a Twilio call:
/// each method is one statement, committed.
public protocol ReminderClaimStore {
    /// Workspaces with reminders enabled (all, or `workspaceID`), in id order, each with whether it has
    /// a primary sender and anything due at `now` for `kind`.
    func enabledWorkspaces(kind: String, now: Date, workspaceID: Int64?) throws -> [ReminderWorkspace]
    /// Claims left `sending` since before `before` (a run killed mid-call) become failed/interrupted,
    /// never resent; returns how many.
    func markInterrupted(before: Date, workspaceID: Int64?) throws -> Int
    /// The workspace's appointments starting in (`after`, `through`] with no `kind` reminder for their start, earliest first.
    func dueAppointments(workspaceID: Int64, kind: String, after: Date, through: Date) throws -> [DueAppointment]
    /// Inserts the claim (`sending`, or `skipped` with `skipReason`) if the appointment still starts at
    /// `startsAtText` and nobody claimed it; returns its id, nil when lost.
    func claim(workspaceID: Int64, appointmentID: Int64, startsAtText: String, kind: String, skipReason: String?) throws -> Int64?
    /// Nothing went out: the claim is given back for the next run.
    func release(claimID: Int64) throws
    /// What the claimed reminder ended as.
    func record(claimID: Int64, _ result: ReminderResult) throws
}

public struct PGReminderClaimStore: ReminderClaimStore {
    let conn: PGConnection
    public init(_ conn: PGConnection) { self.conn = conn }

    public func enabledWorkspaces(kind: String, now: Date, workspaceID: Int64?) throws -> [ReminderWorkspace] {
        // A workspace without a reminder_settings row has the product guide's defaults: reminders off.
        // One statement also tells, per workspace, whether it has a primary sender and whether anything
        // is due (the due query's condition, below): a run with nothing to do costs two statements,
        // not two per clinic. A workspace with something due is then read in full, just before its
        // claims, as before (its rows are never older than its own turn).
        try conn.query("""
            SELECT w.id, w.timezone, s.hours_before, s.template_key, s.custom_message, s.language,
                   EXISTS (SELECT 1 FROM whatsapp_senders ws WHERE ws.workspace_id = w.id AND ws.is_active AND ws.is_primary) AS has_sender,
                   EXISTS (SELECT 1 FROM appointments a
                            WHERE a.workspace_id = w.id AND a.status IN ('confirmed', 'cancelled')
                              AND a.starts_at > \(now)::timestamptz - make_interval(hours => s.hours_before)
                              AND a.starts_at <= \(now)::timestamptz + make_interval(hours => s.hours_before)
                              AND NOT EXISTS (SELECT 1 FROM reminder_log l
                                               WHERE l.appointment_id = a.id AND l.kind = \(kind) AND l.scheduled_for = a.starts_at)) AS has_due
              FROM workspaces w JOIN reminder_settings s ON s.workspace_id = w.id
             WHERE s.enabled AND (\(workspaceID)::bigint IS NULL OR w.id = \(workspaceID))
             ORDER BY w.id
            """).compactMap { row in
            guard try row.decode(Int64?.self, "id") != nil else { return nil }
            return try ReminderWorkspace(row: row)
        }
    }

    public func markInterrupted(before: Date, workspaceID: Int64?) throws -> Int {
        try conn.execute("""
            UPDATE reminder_log SET status = 'failed', reason = 'interrupted'
             WHERE status = 'sending' AND created_at < \(before) AND (\(workspaceID)::bigint IS NULL OR workspace_id = \(workspaceID))
            """)
    }

    public func dueAppointments(workspaceID: Int64, kind: String, after: Date, through: Date) throws -> [DueAppointment] {
        try conn.query("""
            SELECT a.id, a.starts_at, a.status, p.id AS patient_id, p.name AS patient_name, p.phone,
                   p.preferred_language, p.consent_whatsapp, p.consent_updated_at,
                   NULLIF(u.name, '') AS doctor_name  -- never the email address
              FROM appointments a
              JOIN patients p ON p.workspace_id = a.workspace_id AND p.id = a.patient_id
              LEFT JOIN users u ON u.id = a.doctor_id
             WHERE a.workspace_id = \(workspaceID) AND a.status IN ('confirmed', 'cancelled')
               AND a.starts_at > \(after) AND a.starts_at <= \(through)
               AND NOT EXISTS (SELECT 1 FROM reminder_log l
                                WHERE l.appointment_id = a.id AND l.kind = \(kind) AND l.scheduled_for = a.starts_at)
             ORDER BY a.starts_at, a.id
            """).map(DueAppointment.init(row:))
    }

    public func claim(workspaceID: Int64, appointmentID: Int64, startsAtText: String, kind: String, skipReason: String?) throws -> Int64? {
        // The insert that wins the unique key owns this reminder. It re-reads the appointment so a
        // reschedule or cancel since the due query is honoured.
        try conn.query("""
            INSERT INTO reminder_log (workspace_id, appointment_id, kind, scheduled_for, status, reason)
            SELECT a.workspace_id, a.id, \(kind), a.starts_at, \(skipReason == nil ? "sending" : "skipped"), \(skipReason) FROM appointments a
             WHERE a.workspace_id = \(workspaceID) AND a.id = \(appointmentID) AND a.starts_at = \(startsAtText)
            ON CONFLICT ON CONSTRAINT reminder_log_once DO NOTHING
            RETURNING id
            """).first?.decode(Int64?.self, "id")
    }

    public func release(claimID: Int64) throws {
        try conn.execute("DELETE FROM reminder_log WHERE id = \(claimID) AND status = 'sending'")
    }

    public func record(claimID: Int64, _ result: ReminderResult) throws {
        try conn.execute("""
            UPDATE reminder_log SET status = \(result.status), reason = \(result.reason), twilio_sid = \(result.sid), error_code = \(result.errorCode), message_id = \(result.messageID)
             WHERE id = \(claimID)
            """)
    }
}

extension PostgresStores {
    public var reminderClaims: PGReminderClaimStore { PGReminderClaimStore(conn) }
}
