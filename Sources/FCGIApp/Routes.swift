/// Every route of medsync-fcgi: each feature registers its own routes (`XRoutes.register(in:)`,
/// in Routes/), those of the staff API in a group behind `AuthMiddleware`, each workspace route
/// with the roles it allows (`allow:`); a new feature adds one line here.
extension Router {
    static func medsync() -> Router {
        var r = Router()
        SystemRoutes.register(in: &r)
        WebhookRoutes.register(in: &r)
        AuthRoutes.register(in: &r)
        MessagingRoutes.register(in: &r)
        AppointmentRoutes.register(in: &r)
        ReminderRoutes.register(in: &r)
        SenderRoutes.register(in: &r)
        BundleRoutes.register(in: &r)
        AuditRoutes.register(in: &r)
        ClinicRoutes.register(in: &r)
        DoctorRoutes.register(in: &r)
        PatientRoutes.register(in: &r)
        MemberRoutes.register(in: &r)
        InvitationRoutes.register(in: &r)
        return r
    }
}
