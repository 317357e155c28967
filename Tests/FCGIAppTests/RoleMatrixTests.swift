import Domain
import FastCGI
import Foundation
import Testing
import TestSupport
@testable import FCGIApp

/// The role table, route by route, as the router's routes declare it (`allow:`): for every workspace
/// route and every role, a member with that role is let through (not 403) when the route allows it
/// and refused with 403 `forbidden` otherwise. The README's table and route list say the same thing
/// as the router.
@Suite struct RoleMatrixTests {
    /// A workspace with one member of `role` and one thing of each kind the routes take ids of.
    struct Fixture {
        let w: StaffWorld
        let ws: Int64
        let token: String
        let ids: [String: Int64]
    }

    static func fixture(role: Role) throws -> Fixture {
        let w = try StaffWorld()
        let ws = try w.workspace("Matrix")
        let owner = try w.member("owner@m.example", workspace: ws, role: .owner)
        let member = role == .owner ? owner : try w.member("\(role.rawValue)@m.example", workspace: ws, role: role)
        let sender = try w.sender(ws, "+14155550100")
        let patient = try w.patient(ws, name: "Pat", phone: "+14155551000")
        let conversation = try w.conversation(ws, patient: patient, sender: sender)
        let appointment = try w.appointment(ws, patient: patient, doctor: owner.id)
        let batch = try Bundles.send(w.conn, actor: StaffActor(userID: owner.id, workspaceID: ws, role: .owner),
                                     .init(body: "hi {name}", recipients: [.init(name: "Pat", phone: "+14155551000", language: "en")],
                                           consentConfirmed: true)).batchID
        return Fixture(w: w, ws: ws, token: member.token,
                       ids: ["conversations": conversation, "pending-appointments": appointment, "senders": sender, "bundle": batch,
                             "patient": patient])
    }

    /// A request body: JSON, or raw bytes with their headers.
    struct Sample {
        var json: Any? = nil
        var body: [UInt8]? = nil
        var headers: [String: String] = [:]
    }

    /// Bodies that take a route past reading its body to its use case, given the fixture's patient
    /// (every other route is called without one: its role is checked before its body is read).
    static let sampleBodies: [String: @Sendable (Int64) -> Sample] = [
        "POST /api/whatsapp/send": { Sample(json: ["patient_id": $0, "body": "hi"]) },
        "POST /api/whatsapp/send-template": {
            Sample(json: ["patient_id": $0, "template_id": "followup", "variables": ["patient_name": "x", "doctor_name": "y"]])
        },
        "POST /api/whatsapp/link-existing": { _ in Sample(json: ["phone_number": "+14155550111", "display_name": "x"]) },
        "POST /api/whatsapp/provision": { _ in Sample(json: ["clinic_name": "A", "country": "US", "area_code": "x"]) },
        "PUT /api/whatsapp/reminder-settings": { _ in Sample(json: ["hours_before": 12]) },
        "POST /api/whatsapp/bundle/send": { _ in
            Sample(json: ["body": "x", "recipients": [["phone": "+14155551000"]], "consent_confirmed": true])
        },
        "POST /api/whatsapp/bundle/preview": { _ in
            let (m, ct) = StaffIsolationTests.multipart("name,phone\nz,+14155559999\n")
            return Sample(body: m, headers: ["Content-Type": ct])
        },
    ]

    /// The route's path with its `{id}` filled with the fixture's thing of that kind, and its sample body.
    static func request(_ route: String, _ f: Fixture) -> (method: String, path: String, json: Any?, body: [UInt8]?, headers: [String: String]) {
        let parts = route.split(separator: " ", maxSplits: 1).map(String.init)
        let method = parts[0]
        var path = parts[1]
        if path.contains("{id}") {
            let kind = path.split(separator: "/")[2]
            path = path.replacingOccurrences(of: "{id}", with: String(f.ids[String(kind)] ?? 0))
        }
        let sample = sampleBodies[route]?(f.ids["patient"] ?? 0) ?? Sample()
        return (method, path, sample.json, sample.body, sample.headers)
    }

    @Test(.needsStack, arguments: Role.allCases)
    func everyRouteForRole(role: Role) throws {
        let f = try Self.fixture(role: role)
        let table = Router.medsync().roleTable
        // Reads first, then changes, deletions last, so a deactivated sender or a deleted
        // conversation cannot hide a later route's answer behind a 404 of its own making.
        let routes = table.keys.sorted { a, b in
            func rank(_ r: String) -> Int { r.hasPrefix("GET") ? 0 : r.hasPrefix("DELETE") || r.hasSuffix("deactivate") ? 2 : 1 }
            return (rank(a), a) < (rank(b), b)
        }
        #expect(routes.count >= 46)
        for route in routes {
            let r = Self.request(route, f)
            let answer = f.w.call(r.method, r.path, token: f.token, account: f.ws, json: r.json, body: r.body, headers: r.headers)
            if table[route]?.contains(role) == true {
                #expect(answer.status != 403, "\(role.rawValue) \(route) should be allowed: \(answer.text)")
                #expect(answer.errorCode != "forbidden")
                #expect(answer.status != 401)
            } else {
                #expect(answer.status == 403, "\(role.rawValue) \(route) should be refused: \(answer.status) \(answer.text)")
                #expect(answer.errorCode == "forbidden")
            }
        }
    }

    /// Every route declares its access: the workspace routes their roles (a staff route without
    /// `allow:` does not compile), the others are public or the signed-in user's own; the sample
    /// bodies name routes that exist.
    @Test func everyRouteDeclaresItsAccess() throws {
        let router = Router.medsync()
        let names = router.routes.map(\.name)
        #expect(Set(names).count == names.count, "a route declared twice")
        #expect(Set(router.roleTable.keys).isDisjoint(with: router.outsideWorkspaces))
        #expect(Set(router.roleTable.keys).union(router.outsideWorkspaces) == Set(names))
        #expect(Set(Self.sampleBodies.keys).isSubset(of: router.roleTable.keys))
        for route in router.routes where route.pattern.hasPrefix("/api/whatsapp/") {
            #expect(route.access.roles != nil, "\(route.name) is outside workspaces")
        }
        // A route that allows no role is refused to every role.
        for role in Role.allCases {
            #expect(throws: AppError.self) { try Set<Role>().authorize(role) }
        }
        // A signed-in route resolves the user only; a workspace route also the member and the role.
        #expect(router.routes.first { $0.name == "GET /api/me" }?.access == .signedIn)
        #expect(router.routes.first { $0.name == "POST /api/auth/login" }?.access == .anyone)
        #expect(router.routes.first { $0.name == "PUT /api/clinic" }?.access == .members([.owner, .adminDoctor]))
    }

    /// README, "Roles": its table is the router's role table, row for row, and its list of the
    /// routes outside workspaces is the router's.
    @Test func readmeTableIsTheRouter() throws {
        let readme = try String(contentsOfFile: "\(projectRoot)/README.md", encoding: .utf8)
        let router = Router.medsync()
        var documented: [String: Set<Role>] = [:]
        for line in readme.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == 5, cells[0].hasPrefix("`"), cells[0].contains(" /") else { continue }
            let route = cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            #expect(documented[route] == nil, "\(route) twice in the README")
            var roles = Set<Role>()
            for (role, cell) in zip([Role.owner, .adminDoctor, .doctor, .staff], cells[1...]) where cell == "✓" { roles.insert(role) }
            documented[route] = roles
        }
        let table = router.roleTable
        #expect(Set(table.keys).subtracting(documented.keys).sorted() == [], "routes missing from the README's role table")
        #expect(Set(documented.keys).subtracting(table.keys).sorted() == [], "README rows with no such workspace route")
        for (route, roles) in table where documented[route] != nil {
            #expect(documented[route] == roles, "\(route): README \(documented[route].map { $0.map(\.rawValue).sorted() } ?? []), router \(roles.map(\.rawValue).sorted())")
        }
        // "Outside workspaces (no role needed): `POST /api/auth/login`, …" up to the next blank line.
        let outside = try #require(readme.range(of: "Outside workspaces (no role needed):"))
        let paragraph = String(readme[outside.upperBound...]).components(separatedBy: "\n\n")[0]
        let listed = Set(paragraph.components(separatedBy: "`").enumerated().filter { $0.offset % 2 == 1 }.map(\.element)
            .filter { $0.contains(" /") })
        #expect(router.outsideWorkspaces.subtracting(listed).sorted() == [], "routes missing from the README's list outside workspaces")
        #expect(listed.subtracting(router.outsideWorkspaces).sorted() == [], "README lists routes outside workspaces the router has not")
    }
}
