import Domain
import FastCGI
import Foundation
import Testing
import TestSupport
@testable import FCGIApp

@Suite struct StaffSenderTests {
    @Test func linkRulesPrimaryDeactivateMakePrimaryAndAudit() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A")
        let b = try w.workspace("B")
        let owner = try w.member("o@a.example", workspace: a, role: .owner)
        let ownerB = try w.member("o@b.example", workspace: b, role: .adminDoctor)
        func link(_ phone: String, as who: (id: Int64, token: String) = owner, ws: Int64? = nil, extra: [String: String] = [:]) -> StaffWorld.Answer {
            var body: [String: String] = ["phone_number": phone, "display_name": "Front desk"]
            body.merge(extra) { $1 }
            return w.call("POST", "/api/whatsapp/link-existing", token: who.token, account: ws ?? a, json: body)
        }

        let bad = link("555-1234")
        #expect(bad.status == 400)
        #expect(bad.errorCode == "validation_failed")
        #expect(bad.errorMessage.hasPrefix("phone_number"))

        let first = link("+14155550100")
        #expect(first.status == 201, "\(first.text)")
        #expect(first.json["is_primary"] as? Bool == true)
        #expect(first.json["twilio_subaccount_token"] == nil)
        let again = link("+14155550100")
        #expect(again.status == 409)
        #expect(again.errorCode == "already_linked")
        let elsewhere = link("+14155550100", as: ownerB, ws: b)
        #expect(elsewhere.status == 409)
        #expect(elsewhere.errorCode == "linked_to_other_workspace")

        let second = link("+14155550101")
        #expect(second.json["is_primary"] as? Bool == false)
        #expect(link("+14155550102").status == 201)
        let fourth = link("+14155550103")
        #expect(fourth.status == 409)
        #expect(fourth.errorCode == "too_many_senders")

        // Deactivating the primary moves it.
        let firstID = try #require(first.json["id"] as? Int)
        let secondID = try #require(second.json["id"] as? Int)
        let off = w.call("POST", "/api/whatsapp/senders/\(firstID)/deactivate", token: owner.token, account: a)
        #expect(off.status == 200, "\(off.text)")
        #expect(off.json["is_active"] as? Bool == false)
        #expect(off.json["is_primary"] as? Bool == false)
        let list = w.call("GET", "/api/whatsapp/senders", token: owner.token, account: a).items
        #expect(list.filter { $0["is_primary"] as? Bool == true }.map { $0["id"] as? Int } == [secondID])
        #expect(w.call("POST", "/api/whatsapp/senders/\(firstID)/deactivate", token: owner.token, account: a).errorCode == "sender_inactive")
        #expect(w.call("POST", "/api/whatsapp/senders/\(firstID)/make-primary", token: owner.token, account: a).errorCode == "sender_inactive")

        // The freed number can now be linked by B; a 4th active in A is possible again.
        #expect(link("+14155550100", as: ownerB, ws: b).status == 201)
        let third = try #require(list.first { $0["phone_number"] as? String == "+14155550102" }?["id"] as? Int)
        let primary = w.call("POST", "/api/whatsapp/senders/\(third)/make-primary", token: owner.token, account: a)
        #expect(primary.status == 200)
        #expect(primary.json["is_primary"] as? Bool == true)
        let after = w.call("GET", "/api/whatsapp/senders", token: owner.token, account: a).items
        #expect(after.filter { $0["is_primary"] as? Bool == true }.count == 1)

        let audit = w.call("GET", "/api/whatsapp/audit-log", token: owner.token, account: a).items.map { $0["action"] as? String ?? "" }
        #expect(audit.filter { $0 == "sender.link" }.count == 3)
        #expect(audit.contains("sender.deactivate"))
        #expect(audit.contains("sender.make_primary"))
    }

    /// The subaccount token is stored as a Fernet token that Python's `cryptography` decrypts with the same key.
    @Test func subaccountCredentialsAreFernetTokensPythonDecrypts() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A")
        let owner = try w.member("o@a.example", workspace: a, role: .owner)
        let sid = "AC" + String(repeating: "ab", count: 16)
        let half = w.call("POST", "/api/whatsapp/link-existing", token: owner.token, account: a,
                          json: ["phone_number": "+14155550100", "twilio_subaccount_sid": sid])
        #expect(half.status == 400)
        #expect(half.errorMessage.hasPrefix("twilio_subaccount_token"))
        let r = w.call("POST", "/api/whatsapp/link-existing", token: owner.token, account: a,
                       json: ["phone_number": "+14155550100", "twilio_subaccount_sid": sid, "twilio_subaccount_token": "sub-secret-token"])
        #expect(r.status == 201, "\(r.text)")
        #expect(r.json["twilio_subaccount_sid"] as? String == sid)
        #expect(!r.text.contains("sub-secret-token"))
        let stored = try #require(try w.conn.query("SELECT twilio_subaccount_token_enc FROM whatsapp_senders WHERE workspace_id = $1",
                                                   [PGValue(a)]).first?.string("twilio_subaccount_token_enc"))
        #expect(!stored.contains("sub-secret-token"))
        let hex = try runPython([domainTestHelper("fernet_tool.py"), "decrypt", StaffWorld.fernetKey], stdin: stored)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(hex == Crypto.hex(Array("sub-secret-token".utf8)))
    }
}
