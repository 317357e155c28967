import Domain
import FastCGI

/// `GET /api/openapi.json`: the OpenAPI 3.1 document of this API (openapi/openapi.json, compiled in).
@Sendable func openAPIDocument(_ request: Request, _ ctx: AppContext) throws -> Response {
    Response(status: 200, headers: [("Content-Type", "application/json; charset=utf-8")], body: Array(OpenAPIDocument.json.utf8))
}
