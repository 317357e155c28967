import Domain
import Foundation
import Testing
import TestSupport
import MedsyncCrypto
import HTTPClient
import Postgres

/// `POST /api/whatsapp/provision` (Senders.provision) against the sandbox (Twilio's stand-in) and a
/// fresh database: idempotent by Idempotency-Key, one at a time per workspace, and undone when any
/// step fails — faults are injected at each step, scoped to this test's clinic name (the sandbox
/// matches it against the acting account's FriendlyName), so tests running at once never take each
/// other's faults. SendersTests (DomainTests) holds the decisions made before anything is bought.
@Suite("Provisioning: idempotent and compensating (fresh database + sandbox)", .needsStack)
struct ProvisioningTests {
    struct World {
        let w: JobsWorld
        let ws: Int64
        let clinic = "Prov " + Crypto.hex(Crypto.randomBytes(5))
        let http: HTTPClient

        init() throws {
            w = try JobsWorld()
            ws = try w.workspace()
            http = try HTTPClient()
        }

        func provision(key: String? = nil, area: String = "415") throws -> Senders.View {
            try Senders.provision(w.conn, http: http, config: w.config(), actor: OperatorActor(workspaceID: ws),
                                  .init(clinicName: clinic, country: "US", areaCode: area, idempotencyKey: key))
        }

        func fault(_ json: String) throws { try w.control("POST", "/sandbox/faults", json) }

        /// The subaccounts provisioning created for this clinic, with their status.
        func subaccounts() throws -> [(sid: String, status: String)] {
            let list = try w.control("GET", "/sandbox/accounts")["accounts"] as? [[String: Any]] ?? []
            return list.filter { $0["friendly_name"] as? String == "MedSync \(clinic)" }
                .map { ($0["sid"] as? String ?? "", $0["status"] as? String ?? "") }
        }

        func numbers(of account: String) throws -> [String] {
            let list = try w.control("GET", "/sandbox/numbers")["numbers"] as? [[String: Any]] ?? []
            return list.filter { $0["account_sid"] as? String == account }.compactMap { $0["phone_number"] as? String }
        }

        func senders() throws -> Int {
            try w.conn.query("SELECT count(*) AS n FROM whatsapp_senders WHERE workspace_id = \(ws)").first?.int("n") ?? -1
        }

        func records() throws -> [(status: String, code: String?, cleanup: String?)] {
            try w.conn.query("SELECT status, error_code, cleanup FROM sender_provisionings WHERE workspace_id = \(ws) ORDER BY id").map { ($0.string("status") ?? "", $0.string("error_code"), $0.string("cleanup")) }
        }
    }

    func appError(_ body: () throws -> Senders.View) -> AppError? {
        do { _ = try body(); return nil } catch let e as AppError { return e } catch { return nil }
    }

    @Test("step 1, the subaccount: Twilio 503 → 503 twilio_unavailable, nothing created, nothing stored")
    func subaccountStepFails() throws {
        let p = try World()
        try p.fault(#"{"api":"twilio_accounts","kind":"http","status":503,"contains":"\#(p.clinic)"}"#)
        let e = appError { try p.provision(key: "k1") }
        #expect(e?.code == .twilioUnavailable, "\(String(describing: e))")
        #expect(try p.subaccounts().isEmpty)
        #expect(try p.senders() == 0)
        #expect(try p.records().map(\.status) == ["failed"])
    }

    @Test("step 2, the number search fails → the subaccount is closed")
    func searchStepFails() throws {
        let p = try World()
        try p.fault(#"{"api":"twilio_numbers","kind":"http","status":500,"contains":"\#(p.clinic)"}"#)
        let e = appError { try p.provision() }
        #expect(e?.code.rawValue == "twilio_unavailable", "\(String(describing: e))")
        let subs = try p.subaccounts()
        #expect(subs.map(\.status) == ["closed"])
        #expect(try p.senders() == 0)
        #expect(try p.records().first?.cleanup?.contains("closed \(subs.first?.sid ?? "?")") == true)
    }

    @Test("step 3, buying the number is refused → the subaccount is closed; the same key then succeeds")
    func buyStepFailsThenTheSameKeySucceeds() throws {
        let p = try World()
        try p.fault(#"{"api":"twilio_buy","kind":"twilio_error","code":21422,"contains":"\#(p.clinic)"}"#)
        let e = appError { try p.provision(key: "retry-me") }
        #expect(e?.code == .twilioError, "\(String(describing: e))")
        #expect(try p.subaccounts().map(\.status) == ["closed"])
        #expect(try p.senders() == 0)
        let view = try p.provision(key: "retry-me")
        #expect(view.isActive && view.isPrimary)
        let subs = try p.subaccounts()
        #expect(subs.map(\.status).sorted() == ["active", "closed"])
        let active = try #require(subs.first { $0.status == "active" })
        #expect(try p.numbers(of: active.sid) == [view.phoneNumber])
        #expect(try p.records().map(\.status) == ["completed"])
    }

    @Test("step 3, the purchase went through but Twilio answered 500 → the number is released, the subaccount closed")
    func buyStepFailsAfterBuying() throws {
        let p = try World()
        try p.fault(#"{"api":"twilio_buy","kind":"http","status":500,"after":true,"contains":"\#(p.clinic)"}"#)
        let e = appError { try p.provision() }
        #expect(e?.code.rawValue == "twilio_unavailable", "\(String(describing: e))")
        let sub = try #require(try p.subaccounts().first)
        #expect(sub.status == "closed")
        #expect(try p.numbers(of: sub.sid).isEmpty)
        let cleanup = try #require(try p.records().first?.cleanup)
        #expect(cleanup.contains("released PN"), "\(cleanup)")
        #expect(try p.senders() == 0)
    }

    @Test("step 4, storing the sender fails → the number is released and the subaccount closed")
    func linkStepFails() throws {
        let p = try World()
        // This test's own database refuses the insert, as a constraint or an outage would.
        try p.w.conn.execute("CREATE FUNCTION refuse_sender() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'refused'; END $$")
        try p.w.conn.execute("CREATE TRIGGER refuse_sender BEFORE INSERT ON whatsapp_senders FOR EACH ROW EXECUTE FUNCTION refuse_sender()")
        #expect(throws: (any Error).self) { try p.provision() }
        let sub = try #require(try p.subaccounts().first)
        #expect(sub.status == "closed")
        #expect(try p.numbers(of: sub.sid).isEmpty)
        #expect(try p.records().first?.cleanup?.contains("released PN") == true)
    }

    @Test("the same Idempotency-Key answers the same sender and buys nothing more; another body with it is refused")
    func idempotent() throws {
        let p = try World()
        let first = try p.provision(key: "once")
        let again = try p.provision(key: "once")
        #expect(again.id == first.id && again.phoneNumber == first.phoneNumber)
        let subs = try p.subaccounts()
        #expect(subs.count == 1)
        #expect(try p.numbers(of: subs[0].sid).count == 1)
        #expect(try p.senders() == 1)
        let reused = appError { try p.provision(key: "once", area: "212") }
        #expect(reused?.code == .idempotencyKeyReused)
    }

    @Test("while one provisioning runs in a workspace, another is refused with 409 provisioning_in_progress")
    func oneAtATime() throws {
        let p = try World()
        try p.w.conn.execute("INSERT INTO sender_provisionings (workspace_id, idempotency_key, request) VALUES (\(p.ws), 'other', 'x')")
        let e = appError { try p.provision(key: "mine") }
        #expect(e?.code == .provisioningInProgress)
        #expect(try p.subaccounts().isEmpty)
        // A run left `running` long ago (its process died) no longer blocks the workspace.
        try p.w.conn.execute("DELETE FROM sender_provisionings WHERE workspace_id = \(p.ws)")
        try p.w.conn.execute("""
            INSERT INTO sender_provisionings (workspace_id, idempotency_key, request, updated_at) VALUES (\(p.ws), 'other', 'x', now() - interval '1 hour')
            """)
        #expect(try p.provision(key: "mine").isActive)
    }

    /// A provisioning loop must not open a subaccount and buy a number every time.
    @Test("provisioning again reuses the workspace's subaccount (the sandbox holds one); past the daily cap: 429 sender_quota_exceeded, nothing bought")
    func reusesTheSubaccountAndStopsAtTheCap() throws {
        let p = try World()
        let first = try p.provision(key: "one")
        let second = try p.provision(key: "two")
        #expect(first.phoneNumber != second.phoneNumber)
        let subs = try p.subaccounts()
        #expect(subs.count == 1, "\(subs)")
        #expect(first.twilioSubaccountSID == subs.first?.sid && second.twilioSubaccountSID == subs.first?.sid)
        #expect(Set(try p.numbers(of: subs[0].sid)) == [first.phoneNumber, second.phoneNumber])
        #expect(try p.w.conn.query("SELECT count(*) AS n FROM workspace_subaccounts WHERE workspace_id = \(p.ws)").first?.int("n") == 1)

        // The workspace took numbers up to the day's cap (these three released again since).
        for _ in 0..<(SenderLimits.numbersPerDay - 2) {
            let phone = "+1555" + String(format: "%07d", Int.random(in: 0..<10_000_000))
            try p.w.conn.execute("INSERT INTO sender_number_claims (phone_number, workspace_id, released_at) VALUES (\(phone), \(p.ws), now())")
        }
        let capped = appError { try p.provision(key: "three") }
        #expect(capped?.code == .senderQuotaExceeded, "\(String(describing: capped))")
        #expect(capped?.code.rawValue == "sender_quota_exceeded")
        #expect(try p.subaccounts().count == 1)
        #expect(try p.numbers(of: subs[0].sid).count == 2)
        #expect(try p.senders() == 2)
        // The failed record keeps the reason; the subaccount is the workspace's still (not closed).
        #expect(try p.records().last?.code == "sender_quota_exceeded")
        #expect(try p.subaccounts().first?.status == "active")
    }

    @Test("a workspace that had as many Twilio subaccounts as it may ever have opens no other: 429 sender_quota_exceeded, nothing created")
    func lifetimeSubaccountCap() throws {
        let p = try World()
        for _ in 0..<SenderLimits.subaccountsPerWorkspace {
            try p.w.conn.execute("""
                INSERT INTO workspace_subaccounts (workspace_id, subaccount_sid, auth_token_enc, closed_at)
                VALUES (\(p.ws), \("AC" + Crypto.hex(Crypto.randomBytes(16))), 'x', now())
                """)
        }
        let capped = appError { try p.provision(key: "more") }
        #expect(capped?.code == .senderQuotaExceeded, "\(String(describing: capped))")
        #expect(try p.subaccounts().isEmpty)
        #expect(try p.senders() == 0)
    }
}
