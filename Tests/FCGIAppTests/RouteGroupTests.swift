import Domain
import FastCGI
import Foundation
import Testing
import TestSupport
@testable import FCGIApp

/// The edge in Hummingbird's shape: route groups behind a middleware that resolves a typed context
/// before the handler runs, and typed path parameters.
@Suite struct RouteGroupTests {
    /// Lets a request through only with `X-Pass: <name>`, handing the handler that name.
    struct PassMiddleware: ContextMiddleware {
        struct Pass: HandlerContext {
            let name: String
            let requestContext: RequestContext
        }
        func access(_: Void) -> RouteAccess { .signedIn }
        func resolve(_ request: Request, _ ctx: RequestContext, _: Void) throws -> Pass {
            guard let name = request.header("x-pass") else { throw AppError(.forbidden, "No pass.") }
            return Pass(name: name, requestContext: ctx)
        }
    }

    /// Counts the handler's runs (the router runs on the test's thread).
    final class Runs: @unchecked Sendable { var count = 0 }

    func router(_ runs: Runs) -> Router {
        var r = Router()
        r.group(PassMiddleware()) { g in
            g.post("/api/guarded/{id}") { request, pass in
                let name = pass.name
                runs.count += 1
                let body: [String: Int] = try request.decodeJSON()
                return .json(200, ["name": name, "n": String(body["n"] ?? 0)])
            }
        }
        r.get("/api/open/{id}") { _, ctx in .json(200, ["id": try ctx.parameters.require("id", as: Int64.self)]) }
        r.get("/api/open/{id}/typo") { _, ctx in .json(200, ["id": try ctx.parameters.require("nope", as: Int64.self)]) }
        return r
    }

    func send(_ r: Router, _ method: String, _ uri: String, headers: [String: String] = [:], body: String = "") throws -> Response {
        r.handle(Request(method: method, uri: uri, headers: headers, body: Array(body.utf8)), try context())
    }

    @Test func theMiddlewareRunsBeforeTheHandlerAndHandsItsContext() throws {
        let runs = Runs()
        let r = router(runs)
        let json = ["Content-Type": "application/json"]
        // Refused by the middleware: its error, and the handler never ran (not even the body was read).
        let refused = try send(r, "POST", "/api/guarded/1", headers: json, body: "{")
        #expect(refused.status == 403)
        #expect(try errorBody(refused).error.code == "forbidden")
        #expect(runs.count == 0)
        // Let through: the handler gets what the middleware resolved.
        let ok = try send(r, "POST", "/api/guarded/1", headers: json.merging(["X-Pass": "ana"]) { $1 }, body: #"{"n":3}"#)
        #expect(ok.status == 200)
        #expect(try JSONDecoder().decode([String: String].self, from: Data(ok.body)) == ["name": "ana", "n": "3"])
        #expect(runs.count == 1)
        // Routing answers first: an unknown path or method never reaches the middleware.
        #expect(try send(r, "POST", "/api/guarded").status == 404)
        let wrong = try send(r, "GET", "/api/guarded/1")
        #expect(wrong.status == 405)
        #expect(try errorBody(wrong).error.code == "method_not_allowed")
        // The group's routes are ordinary routes of the router (the role table and metrics see them),
        // with the access their middleware gives them.
        #expect(r.routes.first { $0.name == "POST /api/guarded/{id}" }?.access == .signedIn)
        #expect(r.routes.first { $0.name == "GET /api/open/{id}" }?.access == .anyone)
    }

    @Test func anIdParameterIsAPositiveInt64OrNoSuchResource() throws {
        let r = router(Runs())
        #expect(String(decoding: try send(r, "GET", "/api/open/%34%32").body, as: UTF8.self) == #"{"id":42}"#)
        for bad in ["abc", "0", "-1", "1.5", "9223372036854775808", "%20"] {
            let answer = try send(r, "GET", "/api/open/\(bad)")
            #expect(answer.status == 404, "\(bad)")
            #expect(try errorBody(answer).error.code == "not_found", "\(bad)")
        }
        // A name the pattern does not capture is the route's own mistake: 500, not the client's.
        let typo = try send(r, "GET", "/api/open/1/typo")
        #expect(typo.status == 500)
        #expect(try errorBody(typo).error.code == "internal_error")
    }

    /// Every workspace route of the app sits behind the staff middleware: no token is 401, a token
    /// without `X-Account-Id` is 400 `missing_account`, whatever the route and body; the signed-in
    /// user's own routes need the token too.
    @Test(.needsStack) func everyStaffRouteResolvesTheMemberBeforeItsHandler() throws {
        let w = try StaffWorld()
        let ws = try w.workspace("Edge")
        let owner = try w.member("owner@edge.example", workspace: ws, role: .owner)
        for route in Router.medsync().roleTable.keys.sorted() {
            let parts = route.split(separator: " ", maxSplits: 1).map(String.init)
            let path = parts[1].replacingOccurrences(of: "{id}", with: "1").replacingOccurrences(of: "{user_id}", with: "1")
                .replacingOccurrences(of: "{template_id}", with: "followup")
            let anonymous = w.call(parts[0], path, json: [:] as [String: Any])
            #expect(anonymous.status == 401, "\(route): \(anonymous.text)")
            #expect(anonymous.errorCode == "unauthorized", "\(route)")
            let noAccount = w.call(parts[0], path, token: owner.token, json: [:] as [String: Any])
            #expect(noAccount.status == 400, "\(route): \(noAccount.text)")
            #expect(noAccount.errorCode == "missing_account", "\(route)")
        }
        let own = Router.medsync().routes.filter { $0.access == .signedIn }.map(\.name)
        #expect(own.count >= 6)
        for route in own {
            let parts = route.split(separator: " ").map(String.init)
            let anonymous = w.call(parts[0], parts[1], json: [:] as [String: Any])
            #expect(anonymous.status == 401, "\(route): \(anonymous.text)")
            #expect(anonymous.errorCode == "unauthorized", "\(route)")
        }
    }

    /// A path id that names no row (not a positive integer) is 404 `not_found` on every id route.
    @Test(.needsStack) func badPathIdsAreNotFoundOnEveryIdRoute() throws {
        let w = try StaffWorld()
        let ws = try w.workspace("Edge")
        let owner = try w.member("owner@edge.example", workspace: ws, role: .owner)
        // Routes whose body is read before the id get a body they accept.
        let bodies: [String: Any] = [
            "PUT /api/doctors/{id}/availability": ["weekly": [] as [Any]],
            "PATCH /api/patients/{id}": ["name": "x"],
            "POST /api/appointments/{id}/reschedule": ["starts_at": "2030-01-07T10:00:00Z"],
            "PATCH /api/members/{user_id}": ["role": "staff"],
        ]
        let idRoutes = Router.medsync().roleTable.keys.filter { $0.contains("{id}") || $0.contains("{user_id}") }.sorted()
        #expect(idRoutes.count >= 20)
        for route in idRoutes {
            let parts = route.split(separator: " ", maxSplits: 1).map(String.init)
            for bad in ["abc", "0", "-7", "99999999999999999999"] {
                let path = parts[1].replacingOccurrences(of: "{id}", with: bad).replacingOccurrences(of: "{user_id}", with: bad)
                let r = w.call(parts[0], path, token: owner.token, account: ws, json: bodies[route])
                #expect(r.status == 404, "\(route) with \(bad): \(r.text)")
                #expect(r.errorCode == "not_found", "\(route) with \(bad)")
            }
        }
    }
}
