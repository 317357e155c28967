import Domain
import Foundation
import Postgres

// The appointment book's, patients' and clinic's use cases as tests outside their area call them:
// on a connection, through the PostgreSQL stores.

extension Patients {
    public static func create(_ conn: PGConnection, actor: StaffActor, _ input: CreateInput) throws -> View {
        try create(PostgresStores(conn).patients, actor: actor, input)
    }
    public static func get(_ conn: PGConnection, workspaceID: Int64, id: Int64, now: Date = Date()) throws -> Detail {
        try get(PostgresStores(conn).patients, workspaceID: workspaceID, id: id, now: now)
    }
}

extension ClinicProfile {
    public static func get(_ conn: PGConnection, workspaceID: Int64) throws -> View { try get(PostgresStores(conn).clinic, workspaceID: workspaceID) }
    public static func put(_ conn: PGConnection, actor: StaffActor, _ u: Update) throws -> View { try put(PostgresStores(conn).clinic, actor: actor, u) }
}

extension ReminderSettings {
    public static func get(_ conn: PGConnection, workspaceID: Int64) throws -> Value { try get(PostgresStores(conn).clinic, workspaceID: workspaceID) }
    public static func put(_ conn: PGConnection, actor: StaffActor, _ update: Update) throws -> Value {
        try put(PostgresStores(conn).clinic, actor: actor, update)
    }
}

extension AppointmentBook {
    public static func list(_ conn: PGConnection, workspaceID: Int64, _ f: Filter, now: Date = Date()) throws -> [StaffAppointments.View] {
        try list(PostgresStores(conn).appointments, workspaceID: workspaceID, f, now: now)
    }
}

extension Doctors {
    public static func list(_ conn: PGConnection, workspaceID: Int64) throws -> [View] { try list(PostgresStores(conn).appointments, workspaceID: workspaceID) }
}

extension FreeSlots {
    public static func compute(_ conn: PGConnection, workspaceID: Int64, from: Date, days: Int, limit: Int = 500, doctorID: Int64? = nil) throws -> [Slot] {
        try PostgresStores(conn).appointments.freeSlots(workspaceID: workspaceID, from: from, days: days, limit: limit, doctorID: doctorID)
    }
}
