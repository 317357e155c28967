import Domain
import FastCGI

/// Runs before the handlers of a route group and hands them a typed context (Hummingbird's
/// middleware + request context, without the async): it reads the request and the worker's
/// context, refuses (throws an `AppError`) or answers the `Context` the group's handlers take.
/// `AuthMiddleware` (Auth.swift) resolves the signed-in user or the acting workspace member.
protocol ContextMiddleware: Sendable {
    associatedtype Context
    func resolve(_ request: Request, _ ctx: AppContext) throws -> Context
}

/// The routes of one feature that share a middleware, registered with `Router.group`:
///
///     router.group(AuthMiddleware.staff) { r in
///         r.get("/api/clinic") { _, ctx in .json(200, try ClinicProfile.get(ctx.db(), workspaceID: ctx.workspaceID)) }
///     }
///
/// Every route the group adds runs its handler only with the context the middleware resolved, so
/// no handler of the group can forget (or repeat) the check.
struct RouteGroup<Middleware: ContextMiddleware> {
    typealias Handler = @Sendable (Request, Middleware.Context) throws -> Response

    fileprivate struct Entry {
        let method: String
        let pattern: String
        let handler: Handler
    }

    fileprivate var entries: [Entry] = []

    mutating func add(_ method: String, _ pattern: String, _ handler: @escaping Handler) {
        entries.append(Entry(method: method, pattern: pattern, handler: handler))
    }

    mutating func get(_ pattern: String, _ handler: @escaping Handler) { add("GET", pattern, handler) }
    mutating func post(_ pattern: String, _ handler: @escaping Handler) { add("POST", pattern, handler) }
    mutating func put(_ pattern: String, _ handler: @escaping Handler) { add("PUT", pattern, handler) }
    mutating func patch(_ pattern: String, _ handler: @escaping Handler) { add("PATCH", pattern, handler) }
    mutating func delete(_ pattern: String, _ handler: @escaping Handler) { add("DELETE", pattern, handler) }
}

extension Router {
    /// Registers the routes `build` adds, each behind `middleware`: the router matches the route
    /// (404/405 as for any route), the middleware resolves its context, then the handler runs.
    mutating func group<M: ContextMiddleware>(_ middleware: M, _ build: (inout RouteGroup<M>) -> Void) {
        var group = RouteGroup<M>()
        build(&group)
        for entry in group.entries {
            let handler = entry.handler
            add(entry.method, entry.pattern) { request, ctx in try handler(request, middleware.resolve(request, ctx)) }
        }
    }
}
