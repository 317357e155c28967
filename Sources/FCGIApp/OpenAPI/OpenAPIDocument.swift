import Domain
import FastCGI

/// The OpenAPI 3.1 document of this API: `OpenAPI/openapi.json` beside this file (written by
/// openapi/generate.py), embedded in the binary by SwiftPM (`.embedInCode` in Package.swift).
enum OpenAPIDocument {
    static let bytes: [UInt8] = PackageResources.openapi_json
}

/// `GET /api/openapi.json`: the document, as it is in the repository.
@Sendable func openAPIDocument(_ request: Request, _ ctx: RequestContext) throws -> Response {
    Response(status: 200, headers: [("Content-Type", "application/json; charset=utf-8")], body: OpenAPIDocument.bytes)
}
