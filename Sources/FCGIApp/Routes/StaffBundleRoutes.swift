import Domain
import FastCGI
import Foundation

/// multipart/form-data with a `file` part (.csv or .xlsx) and an optional `default_country_code`
/// part (digits, e.g. 52) for numbers written without their country code.
@Sendable func staffBundlePreview(_ request: Request, _ ctx: AppContext) throws -> Response {
    _ = try staffActor(request, ctx)
    let parts = try request.multipart()
    guard let file = parts.first(where: { $0.name == "file" }) else {
        throw AppError.validation("file", "upload the list as a multipart part named file (.csv or .xlsx).")
    }
    guard !file.data.isEmpty else { throw AppError(status: 400, code: "invalid_file", message: "The file is empty.") }
    let cc = parts.first { $0.name == "default_country_code" }.map { String(decoding: $0.data, as: UTF8.self) }
    let table = try BundleFile.read(data: file.data, filename: file.filename, contentType: file.contentType)
    return .json(200, try Bundles.preview(table, defaultCountryCode: cc))
}

@Sendable func staffBundleSend(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    let input: Bundles.SendInput = try request.decodeJSON()
    return .json(202, try Bundles.send(ctx.db(), actor: actor, input))
}

@Sendable func staffBundleProgress(_ request: Request, _ ctx: AppContext) throws -> Response {
    let actor = try staffActor(request, ctx)
    return .json(200, try Bundles.progress(ctx.db(), workspaceID: actor.workspaceID, id: ctx.id()))
}

/// The routes under this prefix may send `MEDSYNC_MAX_UPLOAD_BYTES` (5 MiB), the others
/// `MEDSYNC_MAX_BODY_BYTES` (1 MiB); nginx has a location with the same limit.
let uploadRoutePrefix = "/api/whatsapp/bundle/"
