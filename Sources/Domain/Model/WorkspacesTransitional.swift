import Postgres

extension Workspaces {
    /// Transitional, for `Clinic.update` until its statements move to their store: the timezone
    /// check on the request's connection. Goes when nobody calls it.
    public static func validateTimezone(_ conn: PGConnection, _ timezone: String) throws {
        try validateTimezone(PGWorkspaceStore(conn), timezone)
    }
}
