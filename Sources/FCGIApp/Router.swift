import Domain
import MedsyncLog
import FastCGI
import Foundation
import Postgres

/// Method + path pattern routing. Patterns are `/`-separated segments; `{name}` captures one
/// non-empty segment (percent-decoded), read in the handler as a typed value with
/// `ctx.parameters.require("name", as: Int64.self)` (Parameters.swift).
/// A path no pattern matches is 404 `not_found`; a matched path without the method is 405
/// `method_not_allowed` with `Allow`. HEAD is served by the GET route.
///
/// A route is declared once, with what guards it (Hummingbird's `RouterGroup`): the public ones on the
/// router, the others in a group behind `AuthMiddleware` (`group`, RouteGroup.swift), a workspace
/// route with the roles it allows (`r.put("/api/clinic", allow: .admins)`). Everything that lists
/// routes reads `routes` (the role table, README and OpenAPI checks, metrics' labels).
///
/// Handlers are thin functions `(Request, RequestContext) throws -> Response`, given a context value
/// made for their request (the group's handlers get what the middleware resolved instead). What they
/// throw becomes the API's JSON error: `AppError` as itself, `BodyError` as 400/415, a lost database
/// connection as 503 `database_unavailable`, anything else as 500 `internal_error` (details only in the log).
struct Router: Sendable {
    typealias Handler = @Sendable (Request, RequestContext) throws -> Response

    struct Route: Sendable {
        enum Segment: Sendable, Equatable {
            case literal(String)
            case capture(String)
        }
        let method: String
        let pattern: String
        let segments: [Segment]
        /// Who may call it, as declared.
        let access: RouteAccess
        let handler: Handler

        /// "METHOD /pattern", the route's name in the role table, README and logs.
        var name: String { "\(method) \(pattern)" }
    }

    private(set) var routes: [Route] = []

    mutating func add(_ method: String, _ pattern: String, access: RouteAccess = .anyone, _ handler: @escaping Handler) {
        let segments: [Route.Segment] = Router.split(pattern).map { s in
            if s.hasPrefix("{"), s.hasSuffix("}"), s.count > 2 { return .capture(String(s.dropFirst().dropLast())) }
            return .literal(s)
        }
        routes.append(Route(method: method.uppercased(), pattern: pattern, segments: segments, access: access, handler: handler))
    }

    /// Public routes (no token; a webhook checks its signature, metrics its own rule).
    mutating func get(_ pattern: String, _ handler: @escaping Handler) { add("GET", pattern, handler) }
    mutating func post(_ pattern: String, _ handler: @escaping Handler) { add("POST", pattern, handler) }
    mutating func put(_ pattern: String, _ handler: @escaping Handler) { add("PUT", pattern, handler) }
    mutating func patch(_ pattern: String, _ handler: @escaping Handler) { add("PATCH", pattern, handler) }
    mutating func delete(_ pattern: String, _ handler: @escaping Handler) { add("DELETE", pattern, handler) }

    /// Answers one request: routing, then the handler, with every thrown error mapped to its response.
    func handle(_ request: Request, _ app: AppContext) -> Response { dispatch(request, app).response }

    /// `handle`, also giving the pattern of the most specific route the path matches whatever the
    /// method (`routeLabel(for:)`, "unmatched" when none), from the same one pass over the routes.
    func dispatch(_ request: Request, _ app: AppContext) -> (response: Response, label: String) {
        let path = Router.split(request.path)
        var matched: [(Route, [String: String])] = []
        for route in routes {
            if let params = Router.match(route.segments, path) { matched.append((route, params)) }
        }
        guard let label = matched.map(\.0).max(by: Router.lessSpecific)?.pattern else {
            return (Response.error(AppError(.notFound, "No route for \(request.path).")).storedNowhere(), "unmatched")
        }
        return (respond(request, app, matched).storedNowhere(), label)
    }

    private func respond(_ request: Request, _ app: AppContext, _ matched: [(Route, [String: String])]) -> Response {
        let method = request.method.uppercased()
        let candidates = matched.filter { $0.0.method == method || (method == "HEAD" && $0.0.method == "GET") }
        guard let (route, params) = candidates.max(by: { Router.lessSpecific($0.0, $1.0) }) else {
            let allowed = Set(matched.map(\.0.method)).sorted().joined(separator: ", ")
            var response = Response.error(AppError(.methodNotAllowed, "\(request.method) is not allowed on \(request.path) (allowed: \(allowed))."))
            response.headers.append(("Allow", allowed))
            return response
        }
        let ctx = RequestContext(app: app, route: route.name, parameters: Parameters(params), requestID: request.requestID)
        do {
            return try route.handler(request, ctx)
        } catch {
            return Router.response(for: error, request: request, ctx: ctx)
        }
    }

    /// The JSON error for something a handler threw, logged (when it is the server's) with the
    /// request's metadata.
    static func response(for error: any Error, request: Request, ctx: RequestContext) -> Response {
        switch error {
        case let e as AppError:
            if ErrorStatus.answer(for: e).status >= 500 { ctx.logger.error("\(request.method) \(request.path): \(e)") }
            return .error(e)
        case let e as BodyError:
            return .error(e)
        case let e as PGError where e.isConnectionFailure:
            ctx.logger.error("\(request.method) \(request.path): \(e.debugDescription)")
            ctx.dropDatabaseConnection()
            return .error(AppError.databaseUnavailable)
        case let e as PGError:
            // debugDescription: SQLSTATE, message, constraint — never the DETAIL (row values).
            ctx.logger.error("\(request.method) \(request.path): \(e.debugDescription)")
            return .error(AppError.internal)
        default:
            ctx.logger.error("\(request.method) \(request.path): \(type(of: error)): \(String(describing: error))")
            return .error(AppError.internal)
        }
    }

    static func split(_ path: String) -> [String] {
        path.split(separator: "/", omittingEmptySubsequences: false).dropFirst().map(String.init)
    }

    static func match(_ pattern: [Route.Segment], _ path: [String]) -> [String: String]? {
        guard pattern.count == path.count else { return nil }
        var params: [String: String] = [:]
        for (segment, part) in zip(pattern, path) {
            switch segment {
            case .literal(let s):
                guard s == part else { return nil }
            case .capture(let name):
                guard !part.isEmpty, let decoded = part.removingPercentEncoding else { return nil }
                params[name] = decoded
            }
        }
        return params
    }

    /// Literal segments win over captures, from the left: /patients/search before /patients/{id}.
    static func lessSpecific(_ a: Route, _ b: Route) -> Bool {
        for (x, y) in zip(a.segments, b.segments) {
            switch (x, y) {
            case (.capture, .literal): return true
            case (.literal, .capture): return false
            default: continue
            }
        }
        return false
    }
}

extension Response {
    /// An AppError as `{"error":{"code":"...","message":"..."}}` with the status `ErrorStatus` gives
    /// its code (a code missing there: 500 `internal_error`). `retryAfter` becomes a `Retry-After`
    /// header (seconds).
    static func error(_ error: AppError) -> Response {
        let (status, e) = ErrorStatus.answer(for: error)
        var response = Response.error(status, code: e.code.rawValue, message: e.message)
        if let seconds = e.retryAfter { response.headers.append(("Retry-After", String(max(1, seconds)))) }
        return response
    }
}
