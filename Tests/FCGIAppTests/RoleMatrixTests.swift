import Domain
import FastCGI
import Foundation
import Testing
import TestSupport
@testable import FCGIApp

/// The role matrix (Auth.swift), route by route: for every workspace route and every role, a
/// member with that role is let through (not 403) when the matrix allows it and refused with 403
/// `forbidden` otherwise. The README's table says the same thing as the code.
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

    /// The path with its `{id}` filled and a plausible body for the route.
    static func request(_ route: String, _ f: Fixture) -> (method: String, path: String, json: Any?, body: [UInt8]?, headers: [String: String]) {
        let parts = route.split(separator: " ", maxSplits: 1).map(String.init)
        let method = parts[0]
        var path = parts[1]
        if path.contains("{id}") {
            let kind = path.split(separator: "/")[2]
            path = path.replacingOccurrences(of: "{id}", with: String(f.ids[String(kind)] ?? 0))
        }
        let patient = f.ids["patient"] ?? 0
        var json: Any? = nil
        var body: [UInt8]? = nil
        var headers: [String: String] = [:]
        switch path {
        case "/api/whatsapp/send": json = ["patient_id": patient, "body": "hi"]
        case "/api/whatsapp/send-template": json = ["patient_id": patient, "template_id": "followup", "variables": ["patient_name": "x", "doctor_name": "y"]]
        case "/api/whatsapp/link-existing": json = ["phone_number": "+14155550111", "display_name": "x"]
        case "/api/whatsapp/provision": json = ["clinic_name": "A", "country": "US", "area_code": "x"]
        case "/api/whatsapp/reminder-settings": json = method == "PUT" ? ["hours_before": 12] : nil
        case "/api/whatsapp/bundle/send": json = ["body": "x", "recipients": [["phone": "+14155551000"]], "consent_confirmed": true]
        case "/api/whatsapp/bundle/preview":
            let (m, ct) = StaffIsolationTests.multipart("name,phone\nz,+14155559999\n")
            body = m
            headers["Content-Type"] = ct
        default: break
        }
        return (method, path, json, body, headers)
    }

    @Test(.needsStack, arguments: Role.allCases)
    func everyRouteForRole(role: Role) throws {
        let f = try Self.fixture(role: role)
        // Reads first, then changes, deletions last, so a deactivated sender or a deleted
        // conversation cannot hide a later route's answer behind a 404 of its own making.
        let routes = RoleMatrix.table.keys.sorted { a, b in
            func rank(_ r: String) -> Int { r.hasPrefix("GET") ? 0 : r.hasPrefix("DELETE") || r.hasSuffix("deactivate") ? 2 : 1 }
            return (rank(a), a) < (rank(b), b)
        }
        #expect(routes.count == RoleMatrix.table.count)
        for route in routes {
            let r = Self.request(route, f)
            let answer = f.w.call(r.method, r.path, token: f.token, account: f.ws, json: r.json, body: r.body, headers: r.headers)
            if RoleMatrix.table[route]?.contains(role) == true {
                #expect(answer.status != 403, "\(role.rawValue) \(route) should be allowed: \(answer.text)")
                #expect(answer.errorCode != "forbidden")
                #expect(answer.status != 401)
            } else {
                #expect(answer.status == 403, "\(role.rawValue) \(route) should be refused: \(answer.status) \(answer.text)")
                #expect(answer.errorCode == "forbidden")
            }
        }
    }

    @Test func everyRouteIsInTheMatrixOrOutsideWorkspaces() {
        let registered = Set(Router.medsync().routes.map { "\($0.method) \($0.pattern)" })
        let inMatrix = Set(RoleMatrix.table.keys)
        #expect(inMatrix.isDisjoint(with: RoleMatrix.outsideWorkspaces))
        #expect(registered == inMatrix.union(RoleMatrix.outsideWorkspaces),
                "missing from the matrix: \(registered.subtracting(inMatrix).subtracting(RoleMatrix.outsideWorkspaces).sorted()); stale: \(inMatrix.union(RoleMatrix.outsideWorkspaces).subtracting(registered).sorted())")
        // Not a member's route: a route no table lists is refused to every role.
        for role in Role.allCases {
            #expect(throws: AppError.self) { try RoleMatrix.authorize(role, route: "POST /api/whatsapp/unlisted") }
        }
    }

    @Test func readmeTableIsTheMatrix() throws {
        let readme = try String(contentsOfFile: "\(projectRoot)/README.md", encoding: .utf8)
        var documented: [String: Set<Role>] = [:]
        for line in readme.split(separator: "\n") where line.hasPrefix("| `") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            guard cells.count == 5, cells[0].hasPrefix("`"), cells[0].contains(" /") else { continue }
            let route = cells[0].trimmingCharacters(in: CharacterSet(charactersIn: "`"))
            var roles = Set<Role>()
            for (role, cell) in zip([Role.owner, .adminDoctor, .doctor, .staff], cells[1...]) where cell == "✓" { roles.insert(role) }
            documented[route] = roles
        }
        #expect(documented == RoleMatrix.table)
    }
}
