import Domain
import MedsyncLog
import FastCGI
import Postgres

/// What operators and clients read without a staff token: health, liveness, the API document,
/// metrics (which checks its own loopback-or-token rule).
enum SystemRoutes {
    static func register(in router: inout Router) {
        router.get("/api/health", health)
        router.get("/api/ping", ping)
        router.get("/api/openapi.json", openAPIDocument)
        router.get("/metrics", metricsEndpoint)
    }
}

/// 200 `{"status":"ok"}` without touching the database: the worker answers (process liveness, and
/// the benchmark of the FastCGI edge alone).
@Sendable func ping(_ request: Request, _ ctx: RequestContext) throws -> Response { pingResponse }

/// Encoded once: the edge's benchmark measures the edge, not a JSONEncoder per request.
private let pingResponse = Response.json(200, ["status": "ok"])

/// 200 `{"status":"ok","database":"ok","version":"…"}` (the binary's digest, BinaryVersion) when this worker's connection can read the schema
/// (`schema_migrations`: reachable AND migrated), 503 `database_unavailable` otherwise.
@Sendable func health(_ request: Request, _ ctx: RequestContext) throws -> Response {
    do {
        try ctx.stores.checkSchema()
    } catch let error as PGError {
        ctx.logger.error("health: database unavailable: \(error.debugDescription)")
        return .error(AppError.databaseUnavailable)
    }
    return .json(200, ["status": "ok", "database": "ok", "version": BinaryVersion.current])
}
