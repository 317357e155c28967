import Domain
import FastCGI
import Foundation
import Testing
import TestSupport
@testable import FCGIApp
import MedsyncCrypto
import HTTPClient
import Postgres
import Twilio

/// The stack's sandbox standing in for Twilio: linking a number asks it who owns the number.
struct SandboxTwilio {
    let url: String
    let sid: String
    let token: String

    init() throws {
        let env = try StackEnvironment.shared()
        url = try env.sandboxURL
        sid = try env["TWILIO_ACCOUNT_SID"]
        token = try env["TWILIO_AUTH_TOKEN"]
    }

    var environment: [String: String] { ["TWILIO_API_BASE_URL": url, "TWILIO_ACCOUNT_SID": sid, "TWILIO_AUTH_TOKEN": token] }

    /// A fresh number that nobody owns yet.
    static func freshNumber() -> String { "+1415" + String(format: "%07d", Int.random(in: 0..<10_000_000)) }

    /// A fresh number owned on "Twilio" by `account` (the master account by default).
    func own(by account: String? = nil) throws -> String {
        let phone = SandboxTwilio.freshNumber()
        let body = try JSONSerialization.data(withJSONObject: ["phone_number": phone, "account_sid": account ?? sid])
        let r = try http(.json(url: url + "/sandbox/numbers", body: [UInt8](body)))
        guard r.status == 200 else { throw TestSetupError("sandbox /sandbox/numbers answered \(r.status): \(r.text)") }
        return phone
    }

    /// The PN SID the sandbox gave a number.
    func numberSID(_ phone: String) throws -> String? {
        let r = try http(HTTPRequest(method: "GET", url: url + "/sandbox/numbers"))
        let list = ((try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any])?["numbers"] as? [[String: Any]]) ?? []
        return list.first { $0["phone_number"] as? String == phone }?["sid"] as? String
    }

    func subaccount() throws -> TwilioAccount {
        try TwilioClient(accountSID: sid, authToken: token, baseURL: url, http: HTTPClient()).createSubaccount(friendlyName: "link test")
    }
}

@Suite(.needsStack) struct StaffSenderTests {
    @Test func linkRulesPrimaryDeactivateMakePrimaryAndAudit() throws {
        let twilio = try SandboxTwilio()
        let w = try StaffWorld(environment: twilio.environment)
        let a = try w.workspace("A")
        let b = try w.workspace("B")
        let owner = try w.member("o@a.example", workspace: a, role: .owner)
        let ownerB = try w.member("o@b.example", workspace: b, role: .adminDoctor)
        // Members link numbers of a subaccount whose credentials they give (the master account's are the operator's).
        let sub = try twilio.subaccount()
        let numbers = try (0..<4).map { _ in try twilio.own(by: sub.sid) }
        func link(_ phone: String, as who: (id: Int64, token: String) = owner, ws: Int64? = nil, extra: [String: String] = [:]) -> StaffWorld.Answer {
            var body: [String: String] = ["phone_number": phone, "display_name": "Front desk",
                                          "twilio_subaccount_sid": sub.sid, "twilio_subaccount_token": sub.authToken]
            body.merge(extra) { $1 }
            return w.call("POST", "/api/whatsapp/link-existing", token: who.token, account: ws ?? a, json: body)
        }

        let bad = link("555-1234")
        #expect(bad.status == 400)
        #expect(bad.errorCode == "validation_failed")
        #expect(bad.errorMessage.hasPrefix("phone_number"))

        let first = link(numbers[0])
        #expect(first.status == 201, "\(first.text)")
        #expect(first.json["is_primary"] as? Bool == true)
        #expect(first.json["twilio_subaccount_token"] == nil)
        #expect(first.json["phone_number_sid"] as? String == (try twilio.numberSID(numbers[0])))
        let again = link(numbers[0])
        #expect(again.status == 409)
        #expect(again.errorCode == "already_linked")
        // Another clinic, even with the same subaccount's credentials: not theirs, and not told whose.
        let elsewhere = link(numbers[0], as: ownerB, ws: b)
        #expect(elsewhere.status == 422)
        #expect(elsewhere.errorCode == "number_not_available")

        let second = link(numbers[1])
        #expect(second.json["is_primary"] as? Bool == false)
        #expect(link(numbers[2]).status == 201)
        let fourth = link(numbers[3])
        #expect(fourth.status == 409)
        #expect(fourth.errorCode == "too_many_senders")

        // Deactivating the primary moves it.
        let firstID = try #require(first.json["id"] as? Int)
        let secondID = try #require(second.json["id"] as? Int)
        let off = w.call("POST", "/api/whatsapp/senders/\(firstID)/deactivate", token: owner.token, account: a)
        #expect(off.status == 200, "\(off.text)")
        #expect(off.json["is_active"] as? Bool == false)
        #expect(off.json["is_primary"] as? Bool == false)
        #expect(off.json["number"] as? String == "kept")
        let list = w.call("GET", "/api/whatsapp/senders", token: owner.token, account: a).items
        #expect(list.filter { $0["is_primary"] as? Bool == true }.map { $0["id"] as? Int } == [secondID])
        #expect(w.call("POST", "/api/whatsapp/senders/\(firstID)/deactivate", token: owner.token, account: a).errorCode == "sender_inactive")
        #expect(w.call("POST", "/api/whatsapp/senders/\(firstID)/make-primary", token: owner.token, account: a).errorCode == "sender_inactive")

        // The kept number stays A's: B cannot link it (issue 22); A's 4th number fits now.
        #expect(link(numbers[0], as: ownerB, ws: b).errorCode == "number_not_available")
        #expect(link(numbers[3]).status == 201)
        let third = try #require(list.first { $0["phone_number"] as? String == numbers[2] }?["id"] as? Int)
        let primary = w.call("POST", "/api/whatsapp/senders/\(third)/make-primary", token: owner.token, account: a)
        #expect(primary.status == 200)
        #expect(primary.json["is_primary"] as? Bool == true)
        let after = w.call("GET", "/api/whatsapp/senders", token: owner.token, account: a).items
        #expect(after.filter { $0["is_primary"] as? Bool == true }.count == 1)

        let audit = w.call("GET", "/api/whatsapp/audit-log", token: owner.token, account: a).items.map { $0["action"] as? String ?? "" }
        #expect(audit.filter { $0 == "sender.link" }.count == 4)
        #expect(audit.contains("sender.deactivate"))
        #expect(audit.contains("sender.make_primary"))
    }

    /// Issue 9: link-existing accepted any number. Twilio (the sandbox) is asked who owns it.
    @Test func linkOnlyWhatTheAccountOwnsOnTwilio() throws {
        let twilio = try SandboxTwilio()
        let w = try StaffWorld(environment: twilio.environment)
        let a = try w.workspace("A")
        let owner = try w.member("o@a.example", workspace: a, role: .owner)
        let sub = try twilio.subaccount()
        let nobodys = SandboxTwilio.freshNumber()
        let subsNumber = try twilio.own(by: sub.sid)
        let mastersNumber = try twilio.own()
        func link(_ phone: String, _ extra: [String: String] = [:]) -> StaffWorld.Answer {
            w.call("POST", "/api/whatsapp/link-existing", token: owner.token, account: a,
                   json: ["phone_number": phone, "display_name": "Desk"].merging(extra) { $1 })
        }
        func stored() throws -> Int {
            try w.conn.query("SELECT count(*) AS n FROM whatsapp_senders WHERE workspace_id = \(a)").first?.int("n") ?? -1
        }

        // Without a subaccount's credentials a member links nothing: nobody's number, the subaccount's,
        // the platform's — one answer for all, naming nobody.
        let unowned = link(nobodys)
        #expect(unowned.status == 422, "\(unowned.text)")
        #expect(unowned.errorCode == "number_not_available")
        #expect(unowned.errorMessage.contains("Twilio console"))
        #expect(link(subsNumber).errorCode == "number_not_available")
        #expect(link(subsNumber).text == unowned.text)
        #expect(link(mastersNumber).text == unowned.text)
        let wrongToken = link(subsNumber, ["twilio_subaccount_sid": sub.sid, "twilio_subaccount_token": String(repeating: "0", count: 32)])
        #expect(wrongToken.status == 422, "\(wrongToken.text)")
        #expect(wrongToken.errorCode == "subaccount_credentials_rejected")
        #expect(!wrongToken.text.contains(String(repeating: "0", count: 32)))
        let unknownSub = link(subsNumber, ["twilio_subaccount_sid": "AC" + String(repeating: "9", count: 32), "twilio_subaccount_token": sub.authToken])
        #expect(unknownSub.errorCode == "subaccount_credentials_rejected")
        // Right credentials, but the number is the master's, not the subaccount's.
        let notTheSubs = link(mastersNumber, ["twilio_subaccount_sid": sub.sid, "twilio_subaccount_token": sub.authToken])
        #expect(notTheSubs.status == 422)
        #expect(notTheSubs.errorCode == "number_not_available")
        #expect(notTheSubs.text == unowned.text)
        #expect(try stored() == 0)

        let ok = link(subsNumber, ["twilio_subaccount_sid": sub.sid, "twilio_subaccount_token": sub.authToken])
        #expect(ok.status == 201, "\(ok.text)")
        #expect(ok.json["twilio_subaccount_sid"] as? String == sub.sid)
        #expect(ok.json["phone_number_sid"] as? String == (try twilio.numberSID(subsNumber)))
        // The platform's number: only the operator assigns it.
        #expect(try Senders.link(w.conn, http: HTTPClient(), config: w.config, actor: OperatorActor(workspaceID: a),
                                 .init(phoneNumber: mastersNumber, displayName: "Desk")).isActive)
        #expect(try stored() == 2)
    }

    /// The subaccount token is stored as a Fernet token that Python's `cryptography` decrypts with the same key.
    @Test func subaccountCredentialsAreFernetTokensPythonDecrypts() throws {
        let twilio = try SandboxTwilio()
        let w = try StaffWorld(environment: twilio.environment)
        let a = try w.workspace("A")
        let owner = try w.member("o@a.example", workspace: a, role: .owner)
        let sub = try twilio.subaccount()
        let phone = try twilio.own(by: sub.sid)
        let half = w.call("POST", "/api/whatsapp/link-existing", token: owner.token, account: a,
                          json: ["phone_number": phone, "twilio_subaccount_sid": sub.sid])
        #expect(half.status == 400)
        #expect(half.errorMessage.hasPrefix("twilio_subaccount_token"))
        let r = w.call("POST", "/api/whatsapp/link-existing", token: owner.token, account: a,
                       json: ["phone_number": phone, "twilio_subaccount_sid": sub.sid, "twilio_subaccount_token": sub.authToken])
        #expect(r.status == 201, "\(r.text)")
        #expect(r.json["twilio_subaccount_sid"] as? String == sub.sid)
        #expect(!r.text.contains(sub.authToken))
        let stored = try #require(try w.conn.query("SELECT twilio_subaccount_token_enc FROM whatsapp_senders WHERE workspace_id = \(a)").first?.string("twilio_subaccount_token_enc"))
        #expect(!stored.contains(sub.authToken))
        let hex = try runPython([domainTestHelper("fernet_tool.py"), "decrypt", StaffWorld.fernetKey], stdin: stored)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(hex == Crypto.hex(Array(sub.authToken.utf8)))
    }

    /// Issue 10: the senders' audit entries are written by their use cases, inside the change's
    /// transaction (they were written by the handlers after it committed). A refused change leaves
    /// no entry; an entry that cannot be written undoes the change.
    @Test func senderChangesAndTheirAuditEntriesCommitTogether() throws {
        let w = try StaffWorld()
        let a = try w.workspace("A")
        let owner = try w.member("o@a.example", workspace: a, role: .owner)
        let first = try w.sender(a, "+14155550100")  // primary (the first active one)
        let second = try w.sender(a, "+14155550101")
        func entries() throws -> [String] {
            try w.conn.query("SELECT action || ' ' || target_id || ' ' || (details->>'phone_number') || ' ' || user_id AS e FROM audit_log WHERE workspace_id = \(a) ORDER BY id").map { $0.string("e") ?? "" }
        }

        #expect(w.call("POST", "/api/whatsapp/senders/\(second)/make-primary", token: owner.token, account: a).status == 200)
        #expect(try entries() == ["sender.make_primary \(second) +14155550101 \(owner.id)"])
        #expect(w.call("POST", "/api/whatsapp/senders/\(first)/deactivate", token: owner.token, account: a).status == 200)
        // Refused: already inactive, or inactive cannot be primary. No entry for either.
        #expect(w.call("POST", "/api/whatsapp/senders/\(first)/deactivate", token: owner.token, account: a).errorCode == "sender_inactive")
        #expect(w.call("POST", "/api/whatsapp/senders/\(first)/make-primary", token: owner.token, account: a).errorCode == "sender_inactive")
        #expect(try entries() == ["sender.make_primary \(second) +14155550101 \(owner.id)", "sender.deactivate \(first) +14155550100 \(owner.id)"])

        // The audit log refuses every entry: the changes it would record are not made either.
        try w.conn.execute("CREATE FUNCTION refuse_audit() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit refused'; END $$")
        try w.conn.execute("CREATE TRIGGER refuse_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_audit()")
        let third = try w.sender(a, "+14155550102")
        let primary = w.call("POST", "/api/whatsapp/senders/\(third)/make-primary", token: owner.token, account: a)
        #expect(primary.status == 500)
        let off = w.call("POST", "/api/whatsapp/senders/\(second)/deactivate", token: owner.token, account: a)
        #expect(off.status == 500)
        let rows = try w.conn.query("SELECT id, is_active, is_primary FROM whatsapp_senders WHERE workspace_id = \(a) ORDER BY id")
            .map { "\($0.int64("id") ?? 0) \($0.bool("is_active") ?? false) \($0.bool("is_primary") ?? false)" }
        #expect(rows == ["\(first) false false", "\(second) true true", "\(third) true false"])
        #expect(try entries().count == 2)
    }
}

/// Issue 22, item 3: a number leaves a clinic only on purpose (review M3, M6).
@Suite(.needsStack) struct NumberCustodyTests {
    /// A patient writes to `number`, signed with the master token as Twilio would; the TwiML status.
    static func inbound(_ w: StaffWorld, _ twilio: SandboxTwilio, from patient: String, to number: String, body: String) -> Int {
        let params = [("From", "whatsapp:" + patient), ("To", "whatsapp:" + number), ("MessageSid", "SM" + Crypto.hex(Crypto.randomBytes(16))),
                      ("Body", body), ("AccountSid", twilio.sid)]
        let signature = TwilioSignature.compute(authToken: twilio.token, url: "https://clinic.example/api/webhooks/whatsapp", params: params)
        let form = params.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? "")" }.joined(separator: "&")
        return w.call("POST", "/api/webhooks/whatsapp", body: Array(form.utf8),
                      headers: ["Content-Type": "application/x-www-form-urlencoded", "X-Twilio-Signature": signature]).status
    }

    @Test("A keeps its number when it deactivates: B cannot link it (nor the operator for B), A's patient never lands in B, A links it back")
    func aKeptNumberStaysWithItsClinic() throws {
        let twilio = try SandboxTwilio()
        let w = try StaffWorld(environment: twilio.environment)
        let a = try w.workspace("A"), b = try w.workspace("B")
        let ownerA = try w.member("o@a.example", workspace: a, role: .owner)
        let ownerB = try w.member("o@b.example", workspace: b, role: .owner)
        let number = try twilio.own()   // the platform's master account
        let assigned = try Senders.link(w.conn, http: HTTPClient(), config: w.config, actor: OperatorActor(workspaceID: a),
                                        .init(phoneNumber: number, displayName: "A desk"))
        let patient = "+52155" + String(format: "%08d", Int.random(in: 0..<100_000_000))
        #expect(Self.inbound(w, twilio, from: patient, to: number, body: "hola") == 200)

        let off = w.call("POST", "/api/whatsapp/senders/\(assigned.id)/deactivate", token: ownerA.token, account: a, json: ["release": false])
        #expect(off.status == 200, "\(off.text)")
        #expect(off.json["number"] as? String == "kept")
        #expect(off.json["is_active"] as? Bool == false)

        // B, without or with credentials of a subaccount of its own: the same answer as for any number not B's.
        let taken = w.call("POST", "/api/whatsapp/link-existing", token: ownerB.token, account: b, json: ["phone_number": number])
        #expect(taken.status == 422, "\(taken.text)")
        #expect(taken.errorCode == "number_not_available")
        let subB = try twilio.subaccount()
        let withCredentials = w.call("POST", "/api/whatsapp/link-existing", token: ownerB.token, account: b,
                                     json: ["phone_number": number, "twilio_subaccount_sid": subB.sid, "twilio_subaccount_token": subB.authToken])
        #expect(withCredentials.text == taken.text)
        let nobodys = w.call("POST", "/api/whatsapp/link-existing", token: ownerB.token, account: b, json: ["phone_number": SandboxTwilio.freshNumber()])
        #expect(nobodys.text == taken.text)
        // Not even the operator gives it to B while A holds it.
        let operatorB = #expect(throws: AppError.self) {
            try Senders.link(w.conn, http: HTTPClient(), config: w.config, actor: OperatorActor(workspaceID: b), .init(phoneNumber: number, displayName: "B"))
        }
        #expect(operatorB?.code == .linkedToOtherWorkspace)
        // And the schema refuses it whatever writes the row.
        #expect(throws: PGError.self) { try w.sender(b, number) }

        // A's patient writes again: nothing of it reaches B.
        _ = Self.inbound(w, twilio, from: patient, to: number, body: "Tengo los resultados de mi biopsia")
        #expect(try w.conn.query("SELECT count(*) AS n FROM whatsapp_messages WHERE workspace_id = \(b)").first?.int("n") == 0)
        #expect(try w.conn.query("SELECT count(*) AS n FROM patients WHERE workspace_id = \(b)").first?.int("n") == 0)
        #expect(try w.conn.query("SELECT count(*) AS n FROM whatsapp_senders WHERE workspace_id = \(b)").first?.int("n") == 0)

        // A takes its kept number back: the same sender, active again, without asking anyone.
        let back = w.call("POST", "/api/whatsapp/link-existing", token: ownerA.token, account: a, json: ["phone_number": number])
        #expect(back.status == 201, "\(back.text)")
        #expect(back.json["id"] as? Int == Int(assigned.id))
        #expect(back.json["is_active"] as? Bool == true)
        #expect(Self.inbound(w, twilio, from: patient, to: number, body: "gracias") == 200)
        #expect(try w.conn.query("SELECT count(*) AS n FROM whatsapp_messages WHERE workspace_id = \(a) AND direction = 'inbound'").first?.int("n") ?? 0 >= 2)
        // Patients the webhook creates carry where their consent came from (review L7).
        #expect(try w.conn.query("SELECT consent_source FROM patients WHERE workspace_id = \(a) AND phone = \(patient)").first?.string("consent_source") == "whatsapp")
        let actions = try w.conn.query("SELECT action || ' ' || coalesce(user_id::text, 'operator') AS e FROM audit_log WHERE workspace_id = \(a) ORDER BY id").map { $0.string("e") ?? "" }
        #expect(actions == ["sender.assign operator", "sender.deactivate \(ownerA.id)", "sender.reactivate \(ownerA.id)"])
    }

    @Test("deactivating with release deletes the number on Twilio (the sandbox no longer has it) and ends the claim; the answer says released")
    func releaseGivesTheNumberBackToTwilio() throws {
        let twilio = try SandboxTwilio()
        let w = try StaffWorld(environment: twilio.environment)
        let a = try w.workspace("A"), b = try w.workspace("B")
        let owner = try w.member("o@a.example", workspace: a, role: .adminDoctor)
        // One number of the master account (the operator's), one of the clinic's own subaccount.
        let platforms = try twilio.own()
        let viaOperator = try Senders.link(w.conn, http: HTTPClient(), config: w.config, actor: OperatorActor(workspaceID: a),
                                           .init(phoneNumber: platforms, displayName: "Desk"))
        let sub = try twilio.subaccount()
        let own = try twilio.own(by: sub.sid)
        let linked = w.call("POST", "/api/whatsapp/link-existing", token: owner.token, account: a,
                            json: ["phone_number": own, "twilio_subaccount_sid": sub.sid, "twilio_subaccount_token": sub.authToken])
        #expect(linked.status == 201, "\(linked.text)")
        let linkedID = try #require(linked.json["id"] as? Int)
        #expect(try twilio.numberSID(platforms) != nil)

        let bad = w.call("POST", "/api/whatsapp/senders/\(viaOperator.id)/deactivate", token: owner.token, account: a, json: ["mode": "sell"])
        #expect(bad.status == 400)
        #expect(try twilio.numberSID(platforms) != nil)

        let released = w.call("POST", "/api/whatsapp/senders/\(viaOperator.id)/deactivate", token: owner.token, account: a, json: ["mode": "release"])
        #expect(released.status == 200, "\(released.text)")
        #expect(released.json["number"] as? String == "released")
        #expect(released.json["is_active"] as? Bool == false)
        #expect(try twilio.numberSID(platforms) == nil, "the sandbox still has the number: no DELETE arrived")

        // Kept first, released later (through the subaccount that owns it).
        let kept = w.call("POST", "/api/whatsapp/senders/\(linkedID)/deactivate", token: owner.token, account: a)
        #expect(kept.json["number"] as? String == "kept")
        #expect(try twilio.numberSID(own) != nil)
        let later = w.call("POST", "/api/whatsapp/senders/\(linkedID)/deactivate", token: owner.token, account: a, json: ["release": true])
        #expect(later.status == 200, "\(later.text)")
        #expect(later.json["number"] as? String == "released")
        #expect(try twilio.numberSID(own) == nil)
        #expect(w.call("POST", "/api/whatsapp/senders/\(linkedID)/deactivate", token: owner.token, account: a, json: ["release": true]).errorCode == "sender_inactive")

        let claims = try w.conn.query("SELECT phone_number, released_at IS NOT NULL AS released FROM sender_number_claims WHERE workspace_id = \(a) ORDER BY id")
            .map { "\($0.string("phone_number") ?? "") \($0.bool("released") ?? false)" }
        #expect(claims == ["\(platforms) true", "\(own) true"])
        let actions = try w.conn.query("SELECT action FROM audit_log WHERE workspace_id = \(a) AND action IN ('sender.deactivate', 'sender.release') ORDER BY id").map { $0.string("action") ?? "" }
        #expect(actions == ["sender.deactivate", "sender.release", "sender.deactivate", "sender.release"])
        // A released number is no longer A's: were it on Twilio again, another clinic's operator could assign it.
        #expect(try w.conn.query("SELECT count(*) AS n FROM sender_number_claims WHERE workspace_id = \(b)").first?.int("n") == 0)
    }
}
