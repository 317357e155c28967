import Domain
import FastCGI

/// Runs before the handlers of a route group and hands them a typed context (Hummingbird's
/// middleware + request context, without the async): it reads the request and its context, refuses
/// (throws an `AppError`) or answers the `Context` the group's handlers take. `AuthMiddleware`
/// resolves the signed-in user or the acting workspace member.
protocol ContextMiddleware: Sendable {
    associatedtype Context: HandlerContext
    /// What each route of the group declares with it: the roles it allows (`AuthMiddleware.staff`),
    /// or nothing.
    associatedtype Requirement: Sendable = Void
    /// How the router lists a route of the group declared with `requirement`.
    func access(_ requirement: Requirement) -> RouteAccess
    func resolve(_ request: Request, _ ctx: RequestContext, _ requirement: Requirement) throws -> Context
}

/// The routes of one feature that share a middleware, registered with `Router.group`:
///
///     router.group(AuthMiddleware.staff) { r in
///         r.get("/api/clinic", allow: .everyone) { _, ctx in .json(200, try ClinicProfile.get(ctx.stores.clinic, workspaceID: ctx.workspaceID)) }
///     }
///
/// Every route the group adds runs its handler only with the context the middleware resolved for
/// what the route declared, so no handler of the group can forget (or repeat) the check; a
/// workspace route does not compile without its roles.
struct RouteGroup<Middleware: ContextMiddleware> {
    typealias Handler = @Sendable (Request, Middleware.Context) throws -> Response

    fileprivate struct Entry {
        let method: String
        let pattern: String
        let requirement: Middleware.Requirement
        let handler: Handler
    }

    fileprivate var entries: [Entry] = []

    mutating func add(_ method: String, _ pattern: String, _ requirement: Middleware.Requirement, _ handler: @escaping Handler) {
        entries.append(Entry(method: method, pattern: pattern, requirement: requirement, handler: handler))
    }
}

/// A group whose routes declare the roles they allow (the workspace routes).
extension RouteGroup where Middleware.Requirement == Set<Role> {
    mutating func get(_ pattern: String, allow roles: Set<Role>, _ handler: @escaping Handler) { add("GET", pattern, roles, handler) }
    mutating func post(_ pattern: String, allow roles: Set<Role>, _ handler: @escaping Handler) { add("POST", pattern, roles, handler) }
    mutating func put(_ pattern: String, allow roles: Set<Role>, _ handler: @escaping Handler) { add("PUT", pattern, roles, handler) }
    mutating func patch(_ pattern: String, allow roles: Set<Role>, _ handler: @escaping Handler) { add("PATCH", pattern, roles, handler) }
    mutating func delete(_ pattern: String, allow roles: Set<Role>, _ handler: @escaping Handler) { add("DELETE", pattern, roles, handler) }
}

/// A group whose routes declare nothing more (the signed-in user's own routes).
extension RouteGroup where Middleware.Requirement == Void {
    mutating func get(_ pattern: String, _ handler: @escaping Handler) { add("GET", pattern, (), handler) }
    mutating func post(_ pattern: String, _ handler: @escaping Handler) { add("POST", pattern, (), handler) }
    mutating func put(_ pattern: String, _ handler: @escaping Handler) { add("PUT", pattern, (), handler) }
    mutating func patch(_ pattern: String, _ handler: @escaping Handler) { add("PATCH", pattern, (), handler) }
    mutating func delete(_ pattern: String, _ handler: @escaping Handler) { add("DELETE", pattern, (), handler) }
}

extension Router {
    /// Registers the routes `build` adds, each behind `middleware`: the router matches the route
    /// (404/405 as for any route), the middleware resolves its context, then the handler runs; what
    /// the handler throws is logged with the resolved context's logger (its workspace).
    mutating func group<M: ContextMiddleware>(_ middleware: M, _ build: (inout RouteGroup<M>) -> Void) {
        var group = RouteGroup<M>()
        build(&group)
        for entry in group.entries {
            let handler = entry.handler, requirement = entry.requirement
            add(entry.method, entry.pattern, access: middleware.access(requirement)) { request, ctx in
                let resolved = try middleware.resolve(request, ctx, requirement)
                do {
                    return try handler(request, resolved)
                } catch {
                    return Router.response(for: error, request: request, ctx: resolved.requestContext)
                }
            }
        }
    }
}
