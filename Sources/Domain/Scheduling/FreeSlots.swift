import Foundation
import Postgres

/// A bookable time of one doctor.
public struct Slot: Sendable, Equatable, Codable {
    public var doctorUserID: Int64
    public var startsAt: Date
    public var endsAt: Date

    public init(doctorUserID: Int64, startsAt: Date, endsAt: Date) {
        self.doctorUserID = doctorUserID
        self.startsAt = startsAt
        self.endsAt = endsAt
    }
}

/// Free appointment slots: doctors' weekly availability (local to the workspace's timezone) cut
/// into `slot_minutes` pieces, minus every non-cancelled appointment and every time off that
/// overlaps, strictly after `from`.
public enum FreeSlots {
    /// One query: the calendar arithmetic (local days, DST) is PostgreSQL's `AT TIME ZONE`, in the
    /// workspace's zone or UTC if PostgreSQL does not know it (`medsync_known_timezone`, 0015: not a
    /// scan of `pg_timezone_names`, 30+ ms); `w` is MATERIALIZED so that is asked once; the
    /// appointments are read only inside a constant window around the slots (every slot starts
    /// after `from` and ends before `from + days + 1 day + a DST shift`, so `+ 2 days` is safe),
    /// by `appointments_live_during_idx` (0013): not every live appointment of the table.
    static func query(workspaceID: Int64, from: Date, days: Int, limit: Int, doctorID: Int64?) -> PGQuery {
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

    /// Free slots of the next `days` local days (today included), earliest first, at most `limit`;
    /// of one doctor when `doctorID` is given.
    public static func compute(_ conn: PGConnection, workspaceID: Int64, from: Date, days: Int, limit: Int = 500,
                               doctorID: Int64? = nil) throws -> [Slot] {
        let rows = try conn.query(query(workspaceID: workspaceID, from: from, days: days, limit: limit, doctorID: doctorID))
        return try rows.compactMap { row in
            guard let doctor = try row.decode(Int64?.self, "doctor_id"), let s = try row.decode(Date?.self, "starts_at"), let e = try row.decode(Date?.self, "ends_at") else { return nil }
            return Slot(doctorUserID: doctor, startsAt: s, endsAt: e)
        }
    }

    /// A short, varied offer: the first free slot of each distinct start time, at most `count`.
    public static func offer(_ slots: [Slot], count: Int) -> [Slot] {
        var seen = Set<Date>()
        var out: [Slot] = []
        for s in slots where !seen.contains(s.startsAt) {
            seen.insert(s.startsAt)
            out.append(s)
            if out.count == count { break }
        }
        return out
    }
}
