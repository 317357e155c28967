import Domain
import Foundation
import TestSupport
import Testing
import MedsyncCrypto
import HTTPClient
import Postgres
import Twilio

@Suite("medsync-jobs with the staff API: sender link, bundles", .needsStack)
struct StaffSenderCommandTests {
    @Test("links a sender the account owns on Twilio (printing its id), refuses one it does not, refuses it twice, lists it")
    func linkTwice() throws {
        let env = try StackEnvironment.shared()
        let conn = try PGConnection(try env.databaseURL)
        let ws = try Workspaces.create(conn, name: "CLI \(Crypto.hex(Crypto.randomBytes(3)))", timezone: "UTC").id
        let phone = "+1556" + String(format: "%07d", Int.random(in: 0..<10_000_000))
        let bin = (ProcessInfo.processInfo.environment["BIN_DIR"] ?? "\(projectRoot)/.build/debug") + "/medsync-jobs"
        var settings = ["DATABASE_URL": try env.databaseURL, "MEDSYNC_FERNET_KEY": try env["MEDSYNC_FERNET_KEY"]]
        for key in ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_BASE_URL"] { settings[key] = try env[key] }
        // Nobody owns it on Twilio yet: refused with the reason, nothing stored.
        let unowned = try runCommand([bin, "sender", "link", "--workspace", String(ws), "--phone", phone, "--name", "Front desk"], environment: settings)
        #expect(unowned.status == 65, "\(unowned.stderr)")
        #expect(unowned.stderr.contains("number_not_in_account"))
        #expect(try conn.query("SELECT id FROM whatsapp_senders WHERE phone_number = \(phone)").isEmpty)
        let registered = try http(.json(url: try env.sandboxURL + "/sandbox/numbers", body: Array(#"{"phone_number":"\#(phone)"}"#.utf8)))
        #expect(registered.status == 200)
        let first = try runCommand([bin, "sender", "link", "--workspace", String(ws), "--phone", phone, "--name", "Front desk"], environment: settings)
        #expect(first.status == 0, "\(first.stderr)")
        let id = try #require(Int64(first.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        let row = try #require(try conn.query("SELECT workspace_id, is_primary, display_name FROM whatsapp_senders WHERE id = \(id)").first)
        #expect(row.int64("workspace_id") == ws)
        #expect(row.bool("is_primary") == true)
        #expect(row.string("display_name") == "Front desk")
        let again = try runCommand([bin, "sender", "link", "--workspace", String(ws), "--phone", phone, "--name", "x"], environment: settings)
        #expect(again.status == 65)
        #expect(again.stderr.contains("already_linked"))
        let bad = try runCommand([bin, "sender", "link", "--workspace", String(ws), "--phone", "12345", "--name", "x"], environment: settings)
        #expect(bad.status == 65)
        #expect(bad.stderr.contains("phone_number"))
        let list = try runCommand([bin, "sender", "list", "--workspace", String(ws)], environment: settings)
        #expect(list.stdout.contains("\(id)\t\(phone)\tactive\tprimary\tFront desk"))
    }

    @Test("sender link from medsync-jobs and POST /api/whatsapp/link-existing run one use case: the same audit entry; a refused link writes none")
    func linkAuditIsTheSameFromBothPaths() throws {
        let c = try StaffClient()  // a clinic of its own with one sender, and an owner's token
        let ws = c.clinic.workspaceID
        let owner = try #require(try c.clinic.conn.query("SELECT user_id FROM memberships WHERE workspace_id = \(ws) AND role = 'owner'").first?.int64("user_id"))
        let env = try StackEnvironment.shared()
        let bin = (ProcessInfo.processInfo.environment["BIN_DIR"] ?? "\(projectRoot)/.build/debug") + "/medsync-jobs"
        var settings = ["DATABASE_URL": try env.databaseURL, "MEDSYNC_FERNET_KEY": try env["MEDSYNC_FERNET_KEY"]]
        for key in ["TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "TWILIO_API_BASE_URL"] { settings[key] = try env[key] }
        // The member links numbers of the clinic's own subaccount; the operator assigns the platform's.
        let sub = try TwilioClient(accountSID: try env["TWILIO_ACCOUNT_SID"], authToken: try env["TWILIO_AUTH_TOKEN"],
                                   baseURL: try env["TWILIO_API_BASE_URL"], http: HTTPClient()).createSubaccount(friendlyName: "CLI \(ws)")
        func owned(by account: String? = nil) throws -> String {
            let phone = "+1557" + String(format: "%07d", Int.random(in: 0..<10_000_000))
            var body = ["phone_number": phone]
            if let account { body["account_sid"] = account }
            #expect(try c.clinic.sandbox("POST", "/sandbox/numbers", body).status == 200)
            return phone
        }
        let credentials = ["twilio_subaccount_sid": sub.sid, "twilio_subaccount_token": sub.authToken]
        func entries() throws -> [[String: String]] {
            try c.clinic.conn.query("""
                SELECT action, target_type, target_id, coalesce(user_id::text, 'none') AS user_id, details::text AS details
                  FROM audit_log WHERE workspace_id = \(ws) AND action LIKE 'sender.%' ORDER BY id
                """).map { row in
                var e: [String: String] = [:]
                for column in ["action", "target_type", "target_id", "user_id"] { e[column] = row.string(column) ?? "NULL" }
                let details = (try? JSONSerialization.jsonObject(with: Data((row.string("details") ?? "").utf8))) as? [String: String] ?? [:]
                for (k, v) in details { e["details." + k] = v }
                return e
            }
        }

        let viaAPI = try owned(by: sub.sid), viaJobs = try owned()
        // The platform's number through the API: refused, no entry.
        #expect(try c.call("POST", "/api/whatsapp/link-existing", ["phone_number": viaJobs, "display_name": "Desk"]).errorCode == "number_not_available")
        let api = try c.call("POST", "/api/whatsapp/link-existing", ["phone_number": viaAPI, "display_name": "Desk"].merging(credentials) { $1 })
        #expect(api.status == 201, "\(api.text)")
        let apiID = try #require(api.json["id"] as? Int)
        let jobs = try runCommand([bin, "sender", "assign", "--workspace", String(ws), "--number", viaJobs, "--name", "Desk"], environment: settings)
        #expect(jobs.status == 0, "\(jobs.stderr)")
        let jobsID = try #require(Int(jobs.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        // One shape: the same target and details; the API names the member (sender.link), the operator's
        // command line no user (sender.assign).
        #expect(try entries() == [
            ["action": "sender.link", "target_type": "sender", "target_id": String(apiID), "user_id": String(owner), "details.phone_number": viaAPI],
            ["action": "sender.assign", "target_type": "sender", "target_id": String(jobsID), "user_id": "none", "details.phone_number": viaJobs],
        ])

        // The workspace now has 3 active senders: a 4th is refused by both paths, and neither writes an entry.
        let fourth = try owned(by: sub.sid)
        let refusedAPI = try c.call("POST", "/api/whatsapp/link-existing", ["phone_number": fourth, "display_name": "Desk"].merging(credentials) { $1 })
        #expect(refusedAPI.errorCode == "too_many_senders", "\(refusedAPI.text)")
        let refusedJobs = try runCommand([bin, "sender", "assign", "--workspace", String(ws), "--number", fourth, "--name", "Desk",
                                          "--subaccount-sid", sub.sid, "--subaccount-token-env", "SUB_TOKEN"],
                                         environment: settings.merging(["SUB_TOKEN": sub.authToken]) { $1 })
        #expect(refusedJobs.status == 65)
        #expect(refusedJobs.stderr.contains("too_many_senders"))
        #expect(try entries().count == 2)
    }

    @Test("bundle sent through the API, delivered by medsync-jobs bundles, progress readable per recipient")
    func bundleThroughJobs() throws {
        let c = try StaffClient()
        let ana = StackClinic.patient(), bob = StackClinic.patient()
        try c.clinic.say(ana, "hola")
        try c.clinic.say(bob, "hello")
        let r = try c.call("POST", "/api/whatsapp/bundle/send", [
            "body": "Hola {name}, su cita es el {cita}",
            "recipients": [["name": "Ana", "phone": ana, "language": "es", "fields": ["cita": "lunes"]],
                           ["name": "Bob", "phone": bob, "fields": ["cita": "martes"]]],
            "consent_confirmed": true])
        #expect(r.status == 202, "\(r.text)")
        let batch = try #require(r.json["batch_id"] as? Int)
        let bin = (ProcessInfo.processInfo.environment["BIN_DIR"] ?? "\(projectRoot)/.build/debug") + "/medsync-jobs"
        var settings = c.clinic.env.values
        settings["MEDSYNC_SEND_RATE"] = "80"
        let run = try runCommand([bin, "bundles", "--workspace", String(c.clinic.workspaceID)], environment: settings)
        #expect(run.status == 0, "\(run.stderr)")
        let progress = try c.call("GET", "/api/whatsapp/bundle/\(batch)")
        #expect(progress.json["status"] as? String == "completed", "\(progress.text)")
        #expect((progress.json["counts"] as? [String: Int])?["sent"] == 2)
        let recipients = progress.json["recipients"] as? [[String: Any]] ?? []
        #expect(recipients.allSatisfy { ($0["twilio_sid"] as? String)?.hasPrefix("SM") == true })
        #expect(try c.received(ana).contains { $0["body"] as? String == "Hola Ana, su cita es el lunes" })
        #expect(try c.received(bob).contains { $0["body"] as? String == "Hola Bob, su cita es el martes" })
    }

    /// Issue 22 (review L7): every path that creates a patient records where the consent came from.
    @Test("a patient created by an inbound message has consent_source whatsapp; one created by a bundle, bundle")
    func consentSourceOnEveryPath() throws {
        let c = try StaffClient()
        let writes = StackClinic.patient(), listed = StackClinic.patient()
        try c.clinic.say(writes, "hola")
        let r = try c.call("POST", "/api/whatsapp/bundle/send", [
            "body": "Recordatorio de vacunas", "recipients": [["phone": listed, "language": "es"]], "consent_confirmed": true])
        #expect(r.status == 202, "\(r.text)")
        let bin = (ProcessInfo.processInfo.environment["BIN_DIR"] ?? "\(projectRoot)/.build/debug") + "/medsync-jobs"
        let run = try runCommand([bin, "bundles", "--workspace", String(c.clinic.workspaceID)], environment: c.clinic.env.values)
        #expect(run.status == 0, "\(run.stderr)")
        func source(_ phone: String) throws -> String? {
            try c.clinic.conn.query("SELECT consent_source FROM patients WHERE workspace_id = \(c.clinic.workspaceID) AND phone = \(phone)").first?.string("consent_source")
        }
        #expect(try source(writes) == "whatsapp")
        #expect(try source(listed) == "bundle")
    }
}
