/// Every route of medsync-fcgi. Each feature registers its routes in its own file under Routes/
/// (`func registerXRoutes(_ r: inout Router)`) and adds one line here.
extension Router {
    static func medsync() -> Router {
        var r = Router()
        registerHealthRoutes(&r)
        registerWebhookRoutes(&r)
        registerStaffRoutes(&r)
        registerClinicRoutes(&r)
        return r
    }
}
