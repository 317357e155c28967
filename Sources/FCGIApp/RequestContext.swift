import Domain
import FastCGI
import HTTPClient
import MedsyncConfig
import MedsyncLog
import Postgres

/// What a handler gets for one request (Hummingbird's `RequestContext`): a value the router makes for
/// the route it matched and drops with the answer. It carries the route's path captures, the route
/// ("METHOD /pattern"), a logger with the request's metadata (request_id; the staff middleware's
/// context adds workspace_id, the webhooks message_sid), and refers to the worker's resources
/// (`AppContext`: the PostgreSQL session, the HTTP client, the configuration), which outlive it.
struct RequestContext {
    let app: AppContext
    /// `{name}` captures of the route, percent-decoded.
    let parameters: Parameters
    /// "METHOD /pattern" of the route being handled.
    let route: String
    /// The worker's logger with this request's metadata.
    private(set) var logger: Logger

    init(app: AppContext, route: String = "", parameters: Parameters = Parameters(), requestID: String = "") {
        self.app = app
        self.route = route
        self.parameters = parameters
        var logger = app.logger
        if !requestID.isEmpty { logger[metadataKey: "request_id"] = "\(requestID)" }
        self.logger = logger
    }

    /// The same context whose logger also names `key` (every line logged about the request from there on).
    func logging(_ key: String, _ value: String) -> RequestContext {
        var copy = self
        copy.logger[metadataKey: key] = "\(value)"
        return copy
    }

    var config: Config { app.config }
    var authLimits: StaffAuth.Limits { app.authLimits }
    var webhookVerifier: WebhookVerifier { app.webhookVerifier }
    func db() -> PGConnection { app.db() }
    var stores: PostgresStores { app.stores }
    func http() throws -> HTTPClient { try app.http() }
    func dropDatabaseConnection() { app.dropDatabaseConnection() }
}

/// The context a route group's middleware hands its handlers: the request's context plus what the
/// middleware resolved (the user, the acting member). The worker's resources read through it.
protocol HandlerContext {
    var requestContext: RequestContext { get }
}

extension HandlerContext {
    var parameters: Parameters { requestContext.parameters }
    var logger: Logger { requestContext.logger }
    var config: Config { requestContext.config }
    var app: AppContext { requestContext.app }
    func db() -> PGConnection { requestContext.db() }
    var stores: PostgresStores { requestContext.stores }
    func http() throws -> HTTPClient { try requestContext.http() }
}

/// What the handler of a signed-in user's own route gets: the user behind the bearer token.
struct UserContext: HandlerContext {
    let userID: Int64
    /// The bearer token itself (logout revokes it).
    let token: String
    let requestContext: RequestContext
}

/// What the handler of a workspace route gets: the acting member, resolved and authorized before
/// the handler runs, with the request's context (its logger names the workspace).
struct StaffContext: HandlerContext {
    let actor: StaffActor
    let requestContext: RequestContext

    var workspaceID: Int64 { actor.workspaceID }
}
