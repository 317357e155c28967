import Domain
import FastCGI
import Foundation
import Testing
import TestSupport
@testable import FCGIApp

@Suite struct StaffOpenAPITests {
    /// OpenAPI paths use the same `{name}` templates as the router.
    @Test func everyRouteIsDocumentedAndEveryDocumentedOperationIsRouted() throws {
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.bytes)) as? [String: Any])
        #expect(doc["openapi"] as? String == "3.1.0")
        let paths = try #require(doc["paths"] as? [String: [String: Any]])
        var documented = Set<String>()
        for (path, ops) in paths {
            for method in ops.keys where ["get", "post", "put", "patch", "delete"].contains(method) { documented.insert("\(method.uppercased()) \(path)") }
        }
        let routed = Set(Router.medsync().routes.map { "\($0.method) \($0.pattern)" })
        #expect(routed.subtracting(documented).sorted() == [], "routes missing from openapi.json")
        #expect(documented.subtracting(routed).sorted() == [], "documented operations with no route")
    }

    /// Each operation says who may call it as the router's declaration does: no security for a
    /// public route, the bearer token for the signed-in user's own, the token and X-Account-Id for a
    /// workspace route, whose `x-roles` are the roles it allows.
    @Test func everyOperationsSecurityAndRolesAreTheRoutes() throws {
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(OpenAPIDocument.bytes)) as? [String: Any])
        let paths = try #require(doc["paths"] as? [String: [String: Any]])
        let router = Router.medsync()
        #expect(router.routes.count >= 60)
        for route in router.routes {
            let op = try #require(paths[route.pattern]?[route.method.lowercased()] as? [String: Any], "\(route.name) not documented")
            let security = (op["security"] as? [[String: [String]]])?.map { $0.keys.sorted() } ?? [["account", "bearer"]]
            let roles = op["x-roles"] as? [String]
            switch route.access {
            case .anyone:
                #expect(security == [], "\(route.name): \(security)")
                #expect(roles == nil, "\(route.name)")
            case .signedIn:
                #expect(security == [["bearer"]], "\(route.name): \(security)")
                #expect(roles == nil, "\(route.name)")
            case .members(let allowed):
                #expect(security == [["account", "bearer"]], "\(route.name): \(security)")
                #expect(roles == Role.allCases.filter(allowed.contains).map(\.rawValue), "\(route.name): \(roles ?? [])")
            }
        }
    }

    @Test(.needsStack) func servedDocumentIsTheRepositoryFile() throws {
        let file = try String(contentsOfFile: "\(projectRoot)/Sources/FCGIApp/OpenAPI/openapi.json", encoding: .utf8)
        let check = try runCommand(["python3", "openapi/generate.py", "--check"])
        #expect(check.status == 0, "\(check.stderr)")
        let w = try StaffWorld()
        let r = w.call("GET", "/api/openapi.json")
        #expect(r.status == 200)
        #expect(r.text == file)
    }

    @Test(.needsStack) func metricsOnlyForLoopbackOrToken() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A")
        let owner = try w.member("o@a.example", workspace: a, role: .owner)
        _ = w.router.handleMeasured(Request(method: "GET", uri: "/api/whatsapp/senders", headers: ["Authorization": "Bearer \(owner.token)", "X-Account-Id": String(a)]), w.ctx)
        let remote = w.call("GET", "/metrics", remote: "203.0.113.9")
        #expect(remote.status == 403)
        let forwarded = w.call("GET", "/metrics", headers: ["X-Forwarded-For": "203.0.113.9"], remote: "127.0.0.1")
        #expect(forwarded.status == 403)
        #expect(w.call("GET", "/metrics", headers: ["X-Forwarded-For": "127.0.0.1"], remote: "127.0.0.1").status == 200)
        let local = w.call("GET", "/metrics", remote: "127.0.0.1")
        #expect(local.status == 200)
        #expect(local.text.contains(#"medsync_http_requests_total{method="GET",route="/api/whatsapp/senders",status="200"}"#))
        #expect(local.text.contains("medsync_http_request_duration_seconds_bucket{route=\"/api/whatsapp/senders\",le=\"+Inf\"}"))
        #expect(local.text.contains("# TYPE medsync_messages gauge"))
        #expect(local.text.contains("medsync_webhooks_inbound 0"))
    }
}
