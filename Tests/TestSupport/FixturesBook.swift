import Domain
import Foundation
import Postgres

// The appointment book's, patients' and clinic's use cases as tests outside their area call them:
// on a connection, through the PostgreSQL stores.

extension ReminderSettings {
    public static func put(_ conn: PGConnection, actor: StaffActor, _ update: Update) throws -> ReminderSettingsRecord {
        try put(PostgresStores(conn).clinic, actor: actor, update)
    }
}

extension AppointmentBook {
    public static func list(_ conn: PGConnection, workspaceID: Int64, _ f: Filter, now: Date = Date()) throws -> [StaffAppointments.View] {
        try list(PostgresStores(conn).appointments, workspaceID: workspaceID, f, now: now)
    }
}

extension FreeSlots {
    public static func compute(_ conn: PGConnection, workspaceID: Int64, from: Date, days: Int, limit: Int = 500, doctorID: Int64? = nil) throws -> [Slot] {
        try PostgresStores(conn).appointments.freeSlots(workspaceID: workspaceID, from: from, days: days, limit: limit, doctorID: doctorID)
    }
}
