import Domain
import Foundation
import HTTPClient
import MedsyncConfig
import MedsyncCrypto
import Testing
import TestSupport

/// Senders' decisions on the in-memory store, none of which asks Twilio: who may link what, a kept
/// number coming back, deactivating (the primary moves, keep or release), making primary, the
/// caps, and provisioning's idempotency before anything is bought. StoreTests holds the PostgreSQL
/// side (the claim and slot triggers); ProvisioningTests (EndToEndTests) the steps against the sandbox.
@Suite struct SendersTests {
    @Test func deactivationReleasesOnlyWhenReleaseOrModeSaysSoAndTheyAgree() throws {
        #expect(try Senders.releases(release: nil, mode: nil) == false)
        #expect(try Senders.releases(release: true, mode: nil) == true)
        #expect(try Senders.releases(release: nil, mode: "release") == true)
        #expect(try Senders.releases(release: false, mode: "keep") == false)
        for (release, mode) in [(Bool?.none, "drop"), (true, "keep"), (false, "release")] {
            let error = try #require(throws: AppError.self) { try Senders.releases(release: release, mode: mode) }
            #expect(error.code == .validationFailed)
        }
    }

    let store = MemorySenderStore()
    let ws: Int64 = 1
    var member: StaffActor { StaffActor(userID: 7, workspaceID: ws, role: .owner) }

    func config(_ extra: [String: String] = [:]) throws -> Config {
        try Config.load(environment: ["TWILIO_ACCOUNT_SID": "AC" + String(repeating: "0", count: 32), "TWILIO_AUTH_TOKEN": "master",
                                      "TWILIO_WEBHOOK_BASE_URL": "https://clinic.example", "MEDSYNC_FERNET_KEY": Fernet.generateKey()]
                                      .merging(extra) { $1 }.filter { !$0.value.isEmpty }, dotEnvPath: nil)
    }

    /// A sender stored as a verified link would store it.
    @discardableResult
    func linked(_ phone: String) throws -> Senders.View {
        guard case .inserted(let view) = try store.insert(
            NewSender(workspaceID: ws, phoneNumber: phone, displayName: "", subaccountSID: nil, subaccountTokenEncrypted: nil, phoneNumberSID: nil),
            maxActive: SenderLimits.maxActive, audit: { member.audit("sender.link", "sender", String($0.id)) }) else {
            throw AppError.internal
        }
        return view
    }

    func code(_ body: () throws -> Any) -> String? {
        do { _ = try body(); return nil } catch let e as AppError { return e.code.rawValue } catch { return "\(error)" }
    }

    @Test func aMemberLinksOnlyWithSubaccountCredentialsAndWithinTheDailyCap() throws {
        let http = try HTTPClient()
        let config = try config()
        #expect(code { try Senders.link(store, http: http, config: config, actor: member, .init(phoneNumber: "+14155550100", displayName: "A")) }
                == "number_not_available")
        #expect(code { try Senders.link(store, http: http, config: config, actor: member, .init(phoneNumber: "555", displayName: "A")) }
                == "validation_failed")
        #expect(code { try Senders.link(store, http: http, config: config, actor: member,
                                        .init(phoneNumber: "+14155550100", displayName: "A", subaccountSID: "AC" + String(repeating: "1", count: 32))) }
                == "validation_failed")
        for n in 0..<SenderLimits.numbersPerDay {
            store.claims.append(.init(phoneNumber: "+1415555090\(n)", workspaceID: ws, claimedAt: store.now, releasedAt: store.now))
        }
        #expect(code { try Senders.link(store, http: http, config: config, actor: member,
                                        .init(phoneNumber: "+14155550100", displayName: "A", subaccountSID: "AC" + String(repeating: "1", count: 32),
                                              subaccountToken: "secret")) }
                == "sender_quota_exceeded")
        #expect(store.senders.isEmpty && store.audit.entries.isEmpty)
    }

    @Test func aKeptNumberComesBackWithoutTwilioAndTheSlotsAreCapped() throws {
        let http = try HTTPClient()
        let config = try config()
        let first = try linked("+14155550100")
        let second = try linked("+14155550101")
        #expect(first.isPrimary && !second.isPrimary)
        let off = try Senders.deactivate(store, actor: member, id: first.id)
        #expect(off.number == .kept && !off.sender.isActive)
        #expect(try Senders.list(store, workspaceID: ws).filter(\.isPrimary).map(\.id) == [second.id])
        #expect(code { try Senders.deactivate(store, actor: member, id: first.id) } == "sender_inactive")
        #expect(code { try Senders.deactivate(store, actor: member, id: 99) } == "not_found")

        try linked("+14155550102")
        try linked("+14155550103")
        #expect(code { try Senders.link(store, http: http, config: config, actor: member, .init(phoneNumber: "+14155550100", displayName: "")) }
                == "too_many_senders")
        _ = try Senders.deactivate(store, actor: member, id: second.id)
        let back = try Senders.link(store, http: http, config: config, actor: member, .init(phoneNumber: "whatsapp:+14155550100", displayName: "Front desk"))
        #expect(back.id == first.id && back.isActive && back.displayName == "Front desk")
        #expect(code { try Senders.link(store, http: http, config: config, actor: member, .init(phoneNumber: "+14155550100", displayName: "")) }
                == "already_linked")
        #expect(store.audit.entries.map(\.action) == ["sender.link", "sender.link", "sender.deactivate", "sender.link", "sender.link",
                                                      "sender.deactivate", "sender.reactivate"])
        #expect(store.audit.entries[2].details == ["phone_number": "+14155550100", "number": "keep"])
    }

    @Test func onlyAnActiveSenderBecomesPrimaryAndEveryCallIsAudited() throws {
        let first = try linked("+14155550100")
        let second = try linked("+14155550101")
        #expect(try Senders.makePrimary(store, actor: member, id: second.id).isPrimary)
        #expect(try Senders.makePrimary(store, actor: member, id: second.id).isPrimary)
        #expect(try Senders.list(store, workspaceID: ws).filter(\.isPrimary).map(\.id) == [second.id])
        _ = try Senders.deactivate(store, actor: member, id: first.id)
        #expect(code { try Senders.makePrimary(store, actor: member, id: first.id) } == "sender_inactive")
        #expect(code { try Senders.makePrimary(store, actor: member, id: 42) } == "not_found")
        #expect(store.audit.entries.filter { $0.action == "sender.make_primary" }.count == 2)
    }

    @Test func provisioningAnswersAKeysSenderAgainAndRefusesWhatItMustBeforeBuying() throws {
        let http = try HTTPClient()
        let input = Senders.ProvisionInput(clinicName: "Clínica", country: "us", areaCode: "415", idempotencyKey: "once")
        #expect(code { try Senders.provision(store, http: http, config: try config(["MEDSYNC_FERNET_KEY": ""]), actor: member, input) }
                == "fernet_key_missing")
        #expect(code { try Senders.provision(store, http: http, config: try config(), actor: member, .init(clinicName: "X", country: "USA", areaCode: nil)) }
                == "validation_failed")
        let sender = try linked("+14155550100")
        store.provisionings.append(.init(id: 1, workspaceID: ws, key: "once", request: "Clínica|US|415", status: "completed", senderID: sender.id,
                                         createdAt: store.now, updatedAt: store.now))
        #expect(try Senders.provision(store, http: http, config: try config(), actor: member, input) == sender)
        #expect(code { try Senders.provision(store, http: http, config: try config(), actor: member,
                                             .init(clinicName: "Clínica", country: "US", areaCode: "212", idempotencyKey: "once")) }
                == "idempotency_key_reused")
        store.provisionings.append(.init(id: 2, workspaceID: ws, key: "other", request: "x", createdAt: store.now, updatedAt: store.now))
        #expect(code { try Senders.provision(store, http: http, config: try config(), actor: member,
                                             .init(clinicName: "Clínica", country: "US", areaCode: nil, idempotencyKey: "mine")) }
                == "provisioning_in_progress")
        try linked("+14155550101")
        try linked("+14155550102")
        #expect(code { try Senders.provision(store, http: http, config: try config(), actor: member, input) } == "too_many_senders")
        // Nothing was bought, stored or audited beyond the three links.
        #expect(store.subaccounts.isEmpty && store.senders.count == 3 && store.audit.entries.count == 3)
    }
}
