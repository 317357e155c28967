import Domain
import FastCGI
import Foundation
import Testing
@testable import FCGIApp
import MedsyncConfig
import Postgres

/// Decoded `{"error":{"code","message"}}`.
struct ErrorBody: Decodable {
    struct Detail: Decodable { let code: String; let message: String }
    let error: Detail
}

func errorBody(_ r: Response) throws -> ErrorBody { try JSONDecoder().decode(ErrorBody.self, from: Data(r.body)) }

func context(databaseURL: String = "host=/nonexistent dbname=x connect_timeout=1") throws -> AppContext {
    AppContext(config: try Config.load(environment: ["DATABASE_URL": databaseURL], dotEnvPath: nil))
}

struct Boom: Error, CustomStringConvertible { var description: String { "token=SECRET-123 row=(ana@example.com)" } }

@Suite struct RouterTests {
    let router: Router = {
        var r = Router()
        r.get("/api/items") { _, _ in .json(200, ["list": true]) }
        r.post("/api/items") { _, _ in .json(201, ["created": true]) }
        r.get("/api/items/{id}") { _, ctx in .json(200, ["id": try ctx.parameters.require("id", as: Int64.self)]) }
        r.get("/api/items/search") { _, _ in .json(200, ["search": true]) }
        r.get("/api/people/{name}/notes") { _, ctx in .json(200, ["name": try ctx.parameters.require("name", as: String.self)]) }
        r.get("/api/app-error") { _, _ in throw AppError(.windowClosed, "The 24-hour window is closed.") }
        r.post("/api/form") { req, _ in .json(200, ["a": try req.form()["a"] ?? ""]) }
        r.post("/api/json") { req, _ in .json(200, try req.decodeJSON([String: Int].self)) }
        r.get("/api/boom") { _, _ in throw Boom() }
        r.get("/api/db-down") { _, _ in throw PGError(code: .connectionFailure, serverMessage: "server closed the connection") }
        r.get("/api/db-error") { _, _ in throw PGError(code: .queryFailed, sqlState: "42P01", serverMessage: "relation \"x\" does not exist") }
        return r
    }()

    func send(_ method: String, _ uri: String, headers: [String: String] = [:], body: String = "") throws -> Response {
        router.handle(Request(method: method, uri: uri, headers: headers, body: Array(body.utf8)), try context())
    }

    @Test func routesByMethodAndPath() throws {
        #expect(try send("GET", "/api/items").status == 200)
        #expect(try send("POST", "/api/items").status == 201)
        #expect(try send("get", "/api/items?x=1").status == 200)
    }

    @Test func unknownPathIs404JSON() throws {
        for uri in ["/api/nope", "/api/items/1/extra", "/api/items/", "/", "/api/people//notes"] {
            let r = try send("GET", uri)
            #expect(r.status == 404, "\(uri)")
            #expect(r.header("Content-Type") == "application/json; charset=utf-8")
            #expect(try errorBody(r).error.code == "not_found")
        }
    }

    @Test func wrongMethodIs405WithAllow() throws {
        let r = try send("DELETE", "/api/items")
        #expect(r.status == 405)
        #expect(r.header("Allow") == "GET, POST")
        let body = try errorBody(r)
        #expect(body.error.code == "method_not_allowed")
        #expect(body.error.message.contains("DELETE"))
    }

    @Test func headIsServedByGet() throws {
        #expect(try send("HEAD", "/api/items").status == 200)
    }

    @Test func capturesArePercentDecodedAndLiteralsWin() throws {
        #expect(String(decoding: try send("GET", "/api/items/42").body, as: UTF8.self) == #"{"id":42}"#)
        #expect(String(decoding: try send("GET", "/api/items/search").body, as: UTF8.self) == #"{"search":true}"#)
        #expect(String(decoding: try send("GET", "/api/people/Jos%C3%A9%20P/notes").body, as: UTF8.self) == #"{"name":"José P"}"#)
        // A non-numeric id is no such resource.
        let r = try send("GET", "/api/items/abc")
        #expect(r.status == 404)
        #expect(try errorBody(r).error.code == "not_found")
    }

    @Test func appErrorIsItsOwnJSONError() throws {
        let r = try send("GET", "/api/app-error")
        #expect(r.status == 409)
        let body = try errorBody(r)
        #expect(body.error.code == "window_closed")
        #expect(body.error.message == "The 24-hour window is closed.")
    }

    @Test func bodyErrorsAre400Or415() throws {
        let bad = try send("POST", "/api/form", headers: ["Content-Type": "application/x-www-form-urlencoded"], body: "a=%zz")
        #expect(bad.status == 400)
        #expect(try errorBody(bad).error.code == "malformed_form")
        let utf = try send("POST", "/api/form", headers: ["Content-Type": "application/x-www-form-urlencoded"], body: "a=%FF")
        #expect(try errorBody(utf).error.code == "invalid_utf8")
        let media = try send("POST", "/api/form", headers: ["Content-Type": "text/csv"], body: "a,b")
        #expect(media.status == 415)
        #expect(try errorBody(media).error.code == "unsupported_media_type")
        let json = try send("POST", "/api/json", headers: ["Content-Type": "application/json"], body: "{\"a\":")
        #expect(json.status == 400)
        #expect(try errorBody(json).error.code == "malformed_json")
        let ok = try send("POST", "/api/json", headers: ["Content-Type": "application/json"], body: "{\"a\":1}")
        #expect(ok.status == 200)
    }

    @Test func anyOtherErrorIs500WithoutDetails() throws {
        let r = try send("GET", "/api/boom")
        #expect(r.status == 500)
        let body = try errorBody(r)
        #expect(body.error.code == "internal_error")
        let text = String(decoding: r.body, as: UTF8.self)
        #expect(!text.contains("SECRET") && !text.contains("ana@example.com"))
        let db = try send("GET", "/api/db-error")
        #expect(db.status == 500)
        #expect(!String(decoding: db.body, as: UTF8.self).contains("relation"))
    }

    @Test func lostDatabaseIs503() throws {
        let r = try send("GET", "/api/db-down")
        #expect(r.status == 503)
        #expect(try errorBody(r).error.code == "database_unavailable")
    }

    /// A handler's context is a value made for its request: one kept after the answer still has its
    /// own captures, route and request_id, whatever the worker handled next.
    @Test func eachRequestGetsAContextOfItsOwn() throws {
        final class Kept: @unchecked Sendable { var contexts: [RequestContext] = [] }
        let kept = Kept()
        var r = Router()
        r.get("/api/things/{id}") { _, ctx in
            kept.contexts.append(ctx)
            return .json(200, ["ok": true])
        }
        let worker = try context()
        for n in 1...2 {
            var request = Request(method: "GET", uri: "/api/things/\(n)")
            request.requestID = "r\(n)"
            #expect(r.handle(request, worker).status == 200)
        }
        #expect(try kept.contexts.map { try $0.parameters.require("id", as: Int64.self) } == [1, 2])
        #expect(kept.contexts.map(\.route) == ["GET /api/things/{id}", "GET /api/things/{id}"])
        #expect(kept.contexts.map { $0.logger[metadataKey: "request_id"].map { "\($0)" } } == ["r1", "r2"])
        #expect(kept.contexts.allSatisfy { $0.app === worker })
    }

    @Test func theAppRoutesIncludeHealth() throws {
        let r = Router.medsync().handle(Request(method: "POST", uri: "/api/health"), try context())
        #expect(r.status == 405)
    }
}
