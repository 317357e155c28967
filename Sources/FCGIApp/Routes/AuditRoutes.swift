import Domain
import FastCGI
import Foundation

/// The audit log, newest first (owners and admin doctors).
enum AuditRoutes {
    static func register(in router: inout Router) {
        router.group(AuthMiddleware.staff) { r in
            r.get("/api/whatsapp/audit-log", allow: .admins) { request, ctx in
                let q = try queryParams(request)
                let before = try q["before"].flatMap { s -> Int64? in
                    guard !s.isEmpty else { return nil }
                    guard let n = Int64(s) else { throw AppError.validation("before", "must be an entry id.") }
                    return n
                }
                return .json(200, ["items": try Audit.list(ctx.stores.audit, workspaceID: ctx.workspaceID, before: before,
                                                           limit: intQuery(q, "limit", default: 100))])
            }
        }
    }
}
