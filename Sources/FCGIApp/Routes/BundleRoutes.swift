import Domain
import FastCGI
import Foundation

/// Bulk messages: preview an uploaded list, send a batch, its progress, the batches sent.
enum BundleRoutes {
    static func register(in router: inout Router) {
        router.group(AuthMiddleware.staff) { r in
            r.post("/api/whatsapp/bundle/preview", allow: .everyone, preview)
            r.post("/api/whatsapp/bundle/send", allow: .admins) { request, ctx in
                let input: Bundles.SendInput = try request.decodeJSON()
                return .json(202, try Bundles.send(ctx.stores.bundles, messages: ctx.stores.messages, actor: ctx.actor, input, idempotencyKey: request.header("idempotency-key")))
            }
            r.get("/api/whatsapp/bundle/{id}", allow: .everyone) { _, ctx in
                .json(200, try Bundles.progress(ctx.stores.bundles, workspaceID: ctx.workspaceID, id: ctx.parameters.require("id", as: Int64.self)))
            }
            r.get("/api/whatsapp/bundles", allow: .everyone) { request, ctx in
                let q = try queryParams(request)
                return .json(200, try Bundles.history(ctx.stores.bundles, workspaceID: ctx.workspaceID, before: try idQuery(q, "cursor"),
                                                      limit: intQuery(q, "limit", default: 20)))
            }
        }
    }

    /// multipart/form-data with a `file` part (.csv or .xlsx) and an optional `default_country_code`
    /// part (digits, e.g. 52) for numbers written without their country code.
    @Sendable static func preview(_ request: Request, _ ctx: StaffContext) throws -> Response {
        let parts = try request.multipart()
        guard let file = parts.first(where: { $0.name == "file" }) else {
            throw AppError.validation("file", "upload the list as a multipart part named file (.csv or .xlsx).")
        }
        guard !file.data.isEmpty else { throw AppError(.invalidFile, "The file is empty.") }
        let cc = parts.first { $0.name == "default_country_code" }.map { String(decoding: $0.data, as: UTF8.self) }
        let table = try BundleFile.read(data: file.data, filename: file.filename, contentType: file.contentType)
        return .json(200, try Bundles.preview(table, defaultCountryCode: cc))
    }
}

/// The routes under this prefix may send `MEDSYNC_MAX_UPLOAD_BYTES` (5 MiB), the others
/// `MEDSYNC_MAX_BODY_BYTES` (1 MiB); nginx has a location with the same limit.
let uploadRoutePrefix = "/api/whatsapp/bundle/"
