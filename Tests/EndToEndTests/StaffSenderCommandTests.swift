import Domain
import Foundation
import TestSupport
import Testing

@Suite("medsync-jobs sender link (the operator's command)")
struct StaffSenderCommandTests {
    @Test("links a sender (printing its id), refuses it twice with already_linked, lists it")
    func linkTwice() throws {
        let env = try StackEnvironment.shared()
        let conn = try PGConnection(try env.databaseURL)
        let ws = try Workspaces.create(conn, name: "CLI \(Crypto.hex(Crypto.randomBytes(3)))", timezone: "UTC").id
        let phone = "+1556" + String(format: "%07d", Int.random(in: 0..<10_000_000))
        let bin = (ProcessInfo.processInfo.environment["BIN_DIR"] ?? "\(projectRoot)/.build/debug") + "/medsync-jobs"
        let settings = ["DATABASE_URL": try env.databaseURL, "MEDSYNC_FERNET_KEY": try env["MEDSYNC_FERNET_KEY"]]
        let first = try runCommand([bin, "sender", "link", "--workspace", String(ws), "--phone", phone, "--name", "Front desk"], environment: settings)
        #expect(first.status == 0, "\(first.stderr)")
        let id = try #require(Int64(first.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        let row = try #require(try conn.query("SELECT workspace_id, is_primary, display_name FROM whatsapp_senders WHERE id = $1", [PGValue(id)]).first)
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
}
