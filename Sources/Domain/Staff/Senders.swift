import Foundation
import MedsyncCrypto
import MedsyncConfig
import HTTPClient
import Twilio

/// A workspace's WhatsApp senders: link an existing number, provision a new one in a Twilio
/// subaccount, list, deactivate (the primary moves), make primary. The schema enforces one active
/// workspace per number, at most 3 active and exactly one primary; these functions turn its
/// refusals into clear errors.
public enum Senders {

    public typealias View = SenderView

    public static func list(_ store: some SenderStore, workspaceID: Int64) throws -> [View] {
        try store.list(workspaceID: workspaceID)
    }

    static func notFound(_ id: Int64) -> AppError { AppError(.notFound, "There is no sender \(id) in this workspace.") }

    public static func get(_ store: some SenderStore, workspaceID: Int64, id: Int64) throws -> View {
        guard let view = try store.get(workspaceID: workspaceID, id: id) else { throw notFound(id) }
        return view
    }

    public struct LinkInput: Sendable {
        public var phoneNumber: String
        public var displayName: String
        public var subaccountSID: String?
        public var subaccountToken: String?
        public var phoneNumberSID: String?
        public init(phoneNumber: String, displayName: String, subaccountSID: String? = nil, subaccountToken: String? = nil,
                    phoneNumberSID: String? = nil) {
            self.phoneNumber = phoneNumber
            self.displayName = displayName
            self.subaccountSID = subaccountSID
            self.subaccountToken = subaccountToken
            self.phoneNumberSID = phoneNumberSID
        }
    }

    /// Links a number to the workspace. Who may link what (a number leaves a clinic only on purpose):
    /// - a number the workspace holds (kept when it deactivated it) comes back: its newest sender is
    ///   reactivated, with its stored credentials, without asking Twilio (`sender.reactivate`);
    /// - the operator (`OperatorActor`, `medsync-jobs sender assign`) links any number of the master
    ///   account, or of a subaccount with its credentials, that no other workspace holds (`sender.assign`);
    /// - a member links only a number of a subaccount whose SID and auth token they give, that no other
    ///   workspace holds, within `SenderLimits.numbersPerDay` (`sender.link`). Every other case — the
    ///   platform's number, another clinic's, one not on that subaccount — is the same 422
    ///   `number_not_available`, which tells nobody whose the number is.
    /// Twilio is asked with no transaction open. Subaccount credentials are stored with the auth token
    /// Fernet-encrypted. Another workspace's claim on the number (`sender_number_claims`) refuses the
    /// insert in the schema itself. The audit entry is written in the sender's transaction.
    public static func link(_ store: some SenderStore, http: HTTPClient, config: Config, actor: some AuditActor,
                            _ input: LinkInput) throws -> View {
        let checked = try validate(config: config, input)
        let tenant = !(actor is OperatorActor)
        if checked.sid == nil, let kept = try reactivate(store, actor: actor, phone: checked.phone, name: checked.name) {
            return kept
        }
        if tenant {
            guard checked.sid != nil else { throw numberNotAvailable }
            try checkDailyNumbers(store, workspaceID: actor.workspaceID)
        }
        var verified = input
        do {
            verified.phoneNumberSID = try verifyOwnership(http: http, config: config, phone: checked.phone,
                                                          subaccountSID: checked.sid, subaccountToken: checked.token)
            return try insert(store, config: config, actor: actor, verified, audit: tenant ? "sender.link" : "sender.assign")
        } catch let e as AppError where tenant && (e.code == .numberNotInAccount || e.code == .linkedToOtherWorkspace) {
            throw numberNotAvailable
        }
    }

    static let numberNotAvailable = AppError(.numberNotAvailable, "This number cannot be linked to this workspace. Link a number of your own Twilio subaccount (give its SID and auth token, from the subaccount's page in the Twilio console), or ask the platform's operator to assign one.")

    /// A number the workspace still holds (`sender_number_claims`, kept at deactivation) with an inactive
    /// sender: that sender is active again. nil when the workspace does not hold the number that way.
    static func reactivate(_ store: some SenderStore, actor: some AuditActor, phone: String, name: String) throws -> View? {
        switch try store.reactivate(workspaceID: actor.workspaceID, phone: phone, name: name, maxActive: SenderLimits.maxActive,
                                    audit: { actor.audit("sender.reactivate", "sender", String($0), ["phone_number": phone]) }) {
        case .reactivated(let view): return view
        case .notHeld: return nil
        case .alreadyActive: throw alreadyLinked(phone)
        case .noFreeSlot: throw tooManySenders
        }
    }

    static func alreadyLinked(_ phone: String) -> AppError { AppError(.alreadyLinked, "\(phone) is already linked to this workspace.") }
    static let heldElsewhere = AppError(.linkedToOtherWorkspace, "This number is held by another workspace; it must release it first.")

    /// `SenderLimits.maxActive`: a workspace with that many active senders takes no other.
    static let tooManySenders = AppError(.tooManySenders, "A workspace can have at most \(SenderLimits.maxActive) active senders; deactivate one first.")

    static func checkFreeSlot(_ store: some SenderStore, _ workspaceID: Int64) throws {
        guard try store.activeCount(workspaceID: workspaceID) < SenderLimits.maxActive else { throw tooManySenders }
    }

    /// `SenderLimits.numbersPerDay`: numbers the workspace newly took (claims) in the last 24 hours.
    static func checkDailyNumbers(_ store: some SenderStore, workspaceID: Int64) throws {
        guard try store.numbersTaken(workspaceID: workspaceID) < SenderLimits.numbersPerDay else {
            throw AppError(.senderQuotaExceeded, "This workspace took \(SenderLimits.numbersPerDay) numbers in the last 24 hours, the most it may; try again tomorrow or ask the platform's operator.", retryAfter: 3600)
        }
    }

    struct CheckedLink {
        var phone: String
        var name: String
        var sid: String?
        var token: String?
    }

    static func validate(config: Config, _ input: LinkInput) throws -> CheckedLink {
        let phone = input.phoneNumber.trimmingCharacters(in: .whitespaces)
        let bare = phone.lowercased().hasPrefix("whatsapp:") ? String(phone.dropFirst(9)) : phone
        guard Phone.isE164(bare) else {
            throw AppError.validation("phone_number", "\"\(phone.prefix(40))\" is not an E.164 number (e.g. +14155550100).")
        }
        let name = input.displayName.trimmingCharacters(in: .whitespacesAndNewlines)
        guard name.count <= 100 else { throw AppError.validation("display_name", "at most 100 characters.") }
        let sid = input.subaccountSID?.trimmingCharacters(in: .whitespaces).nilIfEmpty
        let token = input.subaccountToken?.trimmingCharacters(in: .whitespaces).nilIfEmpty
        guard (sid == nil) == (token == nil) else {
            throw AppError.validation(sid == nil ? "twilio_subaccount_sid" : "twilio_subaccount_token",
                                      "give the subaccount SID and its auth token together.")
        }
        if let sid, !(sid.hasPrefix("AC") && sid.count == 34 && sid.dropFirst(2).allSatisfy(\.isHexDigit)) {
            throw AppError.validation("twilio_subaccount_sid", "a Twilio account SID is \"AC\" followed by 32 hex digits.")
        }
        if let token, !(token.count <= 128 && token.allSatisfy({ $0.isASCII && !$0.isWhitespace && !$0.isNewline })) {
            throw AppError.validation("twilio_subaccount_token", "an auth token is up to 128 printable ASCII characters.")
        }
        return CheckedLink(phone: bare, name: name, sid: sid, token: token)
    }

    /// Asks Twilio whether the account (the subaccount of the credentials, else the master) owns
    /// `phone`; returns the number's PN SID. Throws 422 when it does not, 503/504 when Twilio fails.
    static func verifyOwnership(http: HTTPClient, config: Config, phone: String, subaccountSID: String?,
                                subaccountToken: String?) throws -> String {
        let master: TwilioClient
        do { master = try TwilioClient(config: config, http: http) } catch {
            throw AppError(twilioConfiguration: error)
        }
        var client = master
        do {
            if let subaccountSID, let subaccountToken {
                client = master.acting(as: subaccountSID, authToken: subaccountToken)
                do {
                    let account = try client.fetchAccount()
                    guard account.status == "active" else {
                        throw AppError(.subaccountInactive, "Twilio says subaccount \(subaccountSID) is \(account.status). Reactivate it in the Twilio console, or link a number of an active account.")
                    }
                } catch let e as TwilioError where e.httpStatus == 401 || e.httpStatus == 403 || e.httpStatus == 404 || e.code == 20003 {
                    throw AppError(.subaccountCredentialsRejected, "Twilio rejected the subaccount SID and auth token. Copy both from the subaccount's page in the Twilio console (Account info) and try again.")
                }
            }
            let owned = try client.incomingNumbers(phoneNumber: phone).first { $0.phoneNumber == phone }
            guard let owned else {
                let whose = subaccountSID.map { "subaccount \($0)" } ?? "the clinic's Twilio account"
                throw AppError(.numberNotInAccount, "This number is not a phone number of \(whose). Buy or port it in the Twilio console first"
                    + (subaccountSID == nil ? ", or give the subaccount SID and auth token that own it." : ", or give the credentials of the account that owns it."))
            }
            return owned.sid
        } catch let e as TwilioError {
            throw AppError(e)
        } catch let e as TwilioTransportError {
            throw AppError(e, consequence: "nothing was linked. Try again.")
        }
    }

    /// Stores a verified sender (link, or provision after buying the number) and its audit entry
    /// `action` (details: the phone number, plus `details`), in one transaction.
    static func insert(_ store: some SenderStore, config: Config, actor: some AuditActor, _ input: LinkInput, audit action: String,
                       details: [String: String] = [:]) throws -> View {
        let checked = try validate(config: config, input)
        var encrypted: String? = nil
        if let token = checked.token {
            guard let fernet = config.fernet else {
                throw AppError(.fernetKeyMissing, "MEDSYNC_FERNET_KEYS (or MEDSYNC_FERNET_KEY) is not configured, so subaccount credentials cannot be stored.")
            }
            encrypted = fernet.encrypt(token)
        }
        let sender = NewSender(workspaceID: actor.workspaceID, phoneNumber: checked.phone, displayName: checked.name, subaccountSID: checked.sid,
                               subaccountTokenEncrypted: encrypted, phoneNumberSID: input.phoneNumberSID)
        switch try store.insert(sender, maxActive: SenderLimits.maxActive, audit: { view in
            actor.audit(action, "sender", String(view.id), details.merging(["phone_number": view.phoneNumber]) { $1 })
        }) {
        case .inserted(let view): return view
        case .alreadyLinked: throw alreadyLinked(checked.phone)
        // Another workspace holds the number (sender_number_claims: kept after it deactivated it, or
        // linked at the same moment): only its release frees it.
        case .heldElsewhere: throw heldElsewhere
        case .noFreeSlot: throw tooManySenders
        }
    }

    /// What became of a deactivated sender's number.
    public enum NumberDisposition: String, Sendable, Encodable {
        /// The workspace still holds it: no other workspace can link it, and linking it again reactivates the sender.
        case kept
        /// Given back to Twilio (DELETE IncomingPhoneNumbers/{Sid}) and no longer held by the workspace.
        case released
    }

    /// A deactivated sender (its fields) and what happened to its number (`"number": "kept"|"released"`).
    public struct Deactivation: Sendable, Encodable {
        public let sender: View
        public let number: NumberDisposition
        enum CodingKeys: String, CodingKey { case number }
        public func encode(to encoder: any Encoder) throws {
            try sender.encode(to: encoder)
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(number, forKey: .number)
        }
    }

    /// Deactivates a sender; when it was the primary, the active sender in the lowest slot becomes primary.
    /// Audited as `sender.deactivate` (details: the number, `number`: keep|release) in the same transaction.
    /// `release: false` keeps the number with the workspace (`sender_number_claims`); `release: true`
    /// then gives it back to Twilio — DELETE IncomingPhoneNumbers/{Sid} with the account that owns it,
    /// with no transaction open — and ends the workspace's claim (`sender.release`). A sender already
    /// inactive whose number the workspace kept may be deactivated again with `release: true` (to
    /// release it later, or retry a release Twilio refused).
    public static func deactivate(_ store: some SenderStore, http: HTTPClient? = nil, config: Config? = nil, actor: some AuditActor,
                                  id: Int64, release: Bool = false) throws -> Deactivation {
        let workspaceID = actor.workspaceID
        let view: View
        switch try store.deactivate(workspaceID: workspaceID, id: id, audit: { sender in
            actor.audit("sender.deactivate", "sender", String(id), ["phone_number": sender.phoneNumber, "number": release ? "release" : "keep"])
        }) {
        case .deactivated(let sender): view = sender
        case .notFound: throw notFound(id)
        case .alreadyInactive(let sender, let numberKept):
            guard release, numberKept else {
                throw AppError(.senderInactive, "Sender \(id) is already inactive" + (release ? " and this workspace no longer holds its number." : "."))
            }
            view = sender
        }
        guard release else { return Deactivation(sender: view, number: .kept) }
        guard let http, let config else { throw AppError.internal }
        try releaseOnTwilio(store, http: http, config: config, workspaceID: workspaceID, sender: view)
        try store.releaseClaim(workspaceID: workspaceID, phone: view.phoneNumber,
                               audit: actor.audit("sender.release", "sender", String(id), ["phone_number": view.phoneNumber]))
        return Deactivation(sender: view, number: .released)
    }

    /// Deletes the sender's number on Twilio, through the account that owns it (the sender's
    /// subaccount, else the master). A number Twilio no longer has counts as released.
    static func releaseOnTwilio(_ store: some SenderStore, http: HTTPClient, config: Config, workspaceID: Int64, sender: View) throws {
        guard let stored = try store.credentials(workspaceID: workspaceID, id: sender.id) else { throw notFound(sender.id) }
        let account = SenderAccount(id: stored.sender.id, workspaceID: workspaceID, phoneNumber: stored.sender.phoneNumber,
                                    isPrimary: stored.sender.isPrimary, isActive: stored.sender.isActive,
                                    subaccountSID: stored.sender.twilioSubaccountSID, subaccountTokenEncrypted: stored.subaccountTokenEncrypted)
        let client: TwilioClient
        do { client = try TwilioClients.forSender(account, config: config, http: http) } catch let e as ConfigError {
            throw AppError(twilioConfiguration: e)
        }
        let consequence = "the sender is deactivated and its number kept; deactivate it again with release to retry."
        do {
            var sids = sender.phoneNumberSID.map { [$0] } ?? []
            if sids.isEmpty {
                sids = try client.incomingNumbers(phoneNumber: sender.phoneNumber).filter { $0.phoneNumber == sender.phoneNumber }.map(\.sid)
            }
            for sid in sids {
                do { try client.releaseNumber(sid: sid) } catch let e as TwilioError where e.httpStatus == 404 {
                    continue  // already gone
                }
            }
        } catch let e as TwilioError {
            throw AppError(e)
        } catch let e as TwilioTransportError {
            throw AppError(e, consequence: consequence)
        }
    }

    /// Makes an active sender the workspace's primary (audited as `sender.make_primary`, also when it
    /// already was, in the same transaction).
    public static func makePrimary(_ store: some SenderStore, actor: some AuditActor, id: Int64) throws -> View {
        switch try store.makePrimary(workspaceID: actor.workspaceID, id: id, audit: { sender in
            actor.audit("sender.make_primary", "sender", String(id), ["phone_number": sender.phoneNumber])
        }) {
        case .primary(let view): return view
        case .notFound: throw notFound(id)
        case .inactive: throw AppError(.senderInactive, "Sender \(id) is inactive; only an active sender can be primary.")
        }
    }

    public struct ProvisionInput: Sendable {
        public var clinicName: String
        public var country: String
        public var areaCode: String?
        /// The `Idempotency-Key` header: the same key answers the same sender instead of buying again.
        public var idempotencyKey: String?
        public init(clinicName: String, country: String, areaCode: String?, idempotencyKey: String? = nil) {
            self.clinicName = clinicName
            self.country = country
            self.areaCode = areaCode
            self.idempotencyKey = idempotencyKey
        }
    }

    /// The public base URL Twilio calls (TWILIO_WEBHOOK_BASE_URL, else the first ALLOWED_ORIGINS entry).
    public static func publicBaseURL(_ config: Config) -> String? {
        (config.twilioWebhookBaseURL ?? config.allowedOrigins.first).map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
    }

    /// Creates a Twilio subaccount for the clinic, buys a number there (country, area code), points
    /// its webhooks at our public URLs, and links it with the subaccount's encrypted credentials.
    /// Idempotent by `Idempotency-Key`, one at a time per workspace, and undone on failure (number
    /// released, subaccount closed): see `Provisioning`. The sender is stored with its audit entry
    /// `sender.provision` (phone number, subaccount SID) in one transaction; a replayed key adds none.
    public static func provision(_ store: some SenderStore, http: HTTPClient, config: Config, actor: some AuditActor,
                                 _ input: ProvisionInput) throws -> View {
        let workspaceID = actor.workspaceID
        let clinic = input.clinicName.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !clinic.isEmpty, clinic.count <= 64 else { throw AppError.validation("clinic_name", "1 to 64 characters.") }
        let country = input.country.uppercased()
        guard country.count == 2, country.allSatisfy({ $0.isASCII && $0.isLetter }) else {
            throw AppError.validation("country", "an ISO 3166 two-letter code such as US or MX.")
        }
        let area = input.areaCode?.trimmingCharacters(in: .whitespaces).nilIfEmpty
        if let area, !(area.count <= 5 && area.allSatisfy({ $0.isASCII && $0.isNumber })) {
            throw AppError.validation("area_code", "digits only (e.g. 415).")
        }
        guard let base = publicBaseURL(config) else {
            throw AppError(.webhookBaseUrlMissing, "Set TWILIO_WEBHOOK_BASE_URL (or ALLOWED_ORIGINS) so Twilio knows where to call.")
        }
        guard config.fernet != nil else {
            throw AppError(.fernetKeyMissing, "MEDSYNC_FERNET_KEYS (or MEDSYNC_FERNET_KEY) is not configured, so subaccount credentials cannot be stored.")
        }
        try checkFreeSlot(store, workspaceID)
        let master: TwilioClient
        do { master = try TwilioClient(config: config, http: http) } catch {
            throw AppError(twilioConfiguration: error)
        }
        let request = "\(clinic)|\(country)|\(area ?? "")"
        let record: Int64
        switch try Provisioning.begin(store, workspaceID: workspaceID, key: input.idempotencyKey, request: request) {
        case .replay(let senderID): return try get(store, workspaceID: workspaceID, id: senderID)
        case .started(let id): record = id
        }
        // Each step records what Twilio created, so a failure can undo it (and an operator can see it).
        var sub: ProvisioningAccount? = nil
        var bought: TwilioIncomingNumber? = nil
        var boughtNumber: String? = nil
        do {
            try checkDailyNumbers(store, workspaceID: workspaceID)
            let started = try store.provisioningsStarted(workspaceID: workspaceID, excluding: record)
            guard started < SenderLimits.provisioningsPerDay else {
                throw AppError(.senderQuotaExceeded, "This workspace started \(SenderLimits.provisioningsPerDay) provisionings in the last 24 hours, the most it may; try again tomorrow.", retryAfter: 3600)
            }
            let account = try subaccount(store, master: master, config: config, workspaceID: workspaceID, clinic: clinic)
            sub = account
            try store.noteProvisioning(record, subaccountSID: account.sid)
            let client = master.acting(as: account.sid, authToken: account.authToken)
            let numbers = try client.searchAvailableNumbers(country: country, areaCode: area, limit: 20)
            // Skip numbers any workspace holds here (e.g. bought elsewhere and assigned by the operator).
            let held = try store.heldNumbers(numbers.map(\.phoneNumber))
            guard let number = numbers.first(where: { !held.contains($0.phoneNumber) && Phone.isE164($0.phoneNumber) }) else {
                throw AppError(.noNumbersAvailable, "Twilio has no \(country) numbers\(area.map { " in area code \($0)" } ?? "") right now; try another area code.")
            }
            boughtNumber = number.phoneNumber
            let pn = try client.buyNumber(phoneNumber: number.phoneNumber, smsURL: base + "/api/webhooks/whatsapp",
                                          statusCallback: base + "/api/webhooks/whatsapp/status")
            bought = pn
            try store.noteProvisioning(record, numberSID: pn.sid, phoneNumber: pn.phoneNumber)
            let view = try insert(store, config: config, actor: actor, LinkInput(
                phoneNumber: pn.phoneNumber, displayName: clinic, subaccountSID: account.sid, subaccountToken: account.authToken,
                phoneNumberSID: pn.sid), audit: "sender.provision", details: ["subaccount_sid": account.sid])
            try store.completeProvisioning(record, senderID: view.id)
            return view
        } catch {
            let cleanup = compensate(master: master, subaccount: sub, number: bought, attemptedNumber: boughtNumber)
            if let sub, sub.opened {
                try? store.closeSubaccount(sid: sub.sid)
            }
            let appError: AppError
            switch error {
            case let e as TwilioError: appError = AppError(e)
            case let e as TwilioTransportError: appError = AppError(e)
            case let e as AppError: appError = e
            default: appError = .internal
            }
            try? store.failProvisioning(record, code: appError.code.rawValue, cleanup: cleanup)
            if error is AppError || error is TwilioError || error is TwilioTransportError { throw appError }
            throw error
        }
    }

    /// The Twilio subaccount a provisioning buys in, and whether this provisioning opened it.
    struct ProvisioningAccount {
        var sid: String
        var authToken: String
        var opened: Bool
    }

    /// The workspace's open subaccount (`workspace_subaccounts`), reused; when it has none (or Twilio
    /// says it is no longer active), a new one — at most `SenderLimits.subaccountsPerWorkspace` ever —
    /// stored with its auth token encrypted before anything is bought in it.
    static func subaccount(_ store: some SenderStore, master: TwilioClient, config: Config, workspaceID: Int64,
                           clinic: String) throws -> ProvisioningAccount {
        guard let fernet = config.fernet else {
            throw AppError(.fernetKeyMissing, "MEDSYNC_FERNET_KEYS (or MEDSYNC_FERNET_KEY) is not configured, so subaccount credentials cannot be stored.")
        }
        if let open = try store.openSubaccount(workspaceID: workspaceID) {
            let sid = open.sid
            let token: String
            do { token = try fernet.decryptString(open.authTokenEncrypted) } catch {
                throw AppError(.senderCredentialsInvalid, "The stored credentials of this workspace's Twilio subaccount cannot be decrypted with the configured keys.")
            }
            do {
                if try master.acting(as: sid, authToken: token).fetchAccount().status == "active" {
                    return ProvisioningAccount(sid: sid, authToken: token, opened: false)
                }
            } catch let e as TwilioError where e.httpStatus == 401 || e.httpStatus == 403 || e.httpStatus == 404 || e.code == 20003 {
                // Closed or gone on Twilio's side: open another below.
            }
            try store.closeSubaccount(sid: sid)
        }
        let opened = try store.subaccountCount(workspaceID: workspaceID)
        guard opened < SenderLimits.subaccountsPerWorkspace else {
            throw AppError(.senderQuotaExceeded, "This workspace has had \(SenderLimits.subaccountsPerWorkspace) Twilio subaccounts, the most it may; ask the platform's operator.")
        }
        let account = try master.createSubaccount(friendlyName: "MedSync \(clinic)")
        do {
            try store.addSubaccount(workspaceID: workspaceID, sid: account.sid, authTokenEncrypted: fernet.encrypt(account.authToken))
        } catch {
            _ = compensate(master: master, subaccount: ProvisioningAccount(sid: account.sid, authToken: account.authToken, opened: true),
                           number: nil, attemptedNumber: nil)
            throw error
        }
        return ProvisioningAccount(sid: account.sid, authToken: account.authToken, opened: true)
    }

    /// Undoes what a failed provisioning created on Twilio: releases the number (found by its SID, or
    /// looked up when the purchase failed ambiguously), then closes the subaccount when this
    /// provisioning opened it (which releases anything left); a reused one stays open. Returns what
    /// happened, for the provisioning record.
    static func compensate(master: TwilioClient, subaccount: ProvisioningAccount?, number: TwilioIncomingNumber?,
                           attemptedNumber: String?) -> String {
        guard let subaccount else { return "nothing to undo" }
        var notes: [String] = []
        let client = master.acting(as: subaccount.sid, authToken: subaccount.authToken)
        var toRelease: [String] = number.map { [$0.sid] } ?? []
        if number == nil, let attemptedNumber {
            // The purchase may have gone through although its answer did not arrive.
            do {
                toRelease = try client.incomingNumbers(phoneNumber: attemptedNumber).filter { $0.phoneNumber == attemptedNumber }.map(\.sid)
            } catch {
                notes.append("could not look up \(attemptedNumber): \(error)")
            }
        }
        for sid in toRelease {
            do {
                try client.releaseNumber(sid: sid)
                notes.append("released \(sid)")
            } catch {
                notes.append("could not release \(sid): \(error)")
            }
        }
        guard subaccount.opened else {
            notes.append("kept the workspace's subaccount \(subaccount.sid)")
            return notes.joined(separator: "; ")
        }
        do {
            try master.closeAccount(sid: subaccount.sid)
            notes.append("closed \(subaccount.sid)")
        } catch {
            notes.append("could not close \(subaccount.sid): \(error)")
        }
        return notes.joined(separator: "; ")
    }
}

/// The numbers and Twilio subaccounts a workspace may take (a provisioning loop cannot run
/// up the platform's Twilio bill). Named once, here.
public enum SenderLimits {
    /// Active senders per workspace (the schema's slots 1…3).
    public static let maxActive = 3
    /// Numbers a workspace newly takes (links or provisions; reactivating a kept one is free) per 24 hours.
    public static let numbersPerDay = 5
    /// Provisionings a workspace starts per 24 hours (failed ones count: each may buy and release).
    public static let provisioningsPerDay = 5
    /// Twilio subaccounts a workspace ever has (provisioning reuses its open one).
    public static let subaccountsPerWorkspace = 3
}

/// The provisioning records (`sender_provisionings`, migration 0006): idempotency by key, one running
/// per workspace (a unique index), and what each step created on Twilio.
enum Provisioning {
    enum Start {
        case started(Int64)
        /// The same key already provisioned this sender.
        case replay(senderID: Int64)
    }

    /// A running provisioning is considered abandoned (its process died) after this long.
    static let abandonAfterSeconds = 15 * 60

    static func begin(_ store: some SenderStore, workspaceID: Int64, key: String?, request: String) throws -> Start {
        let key = key?.trimmingCharacters(in: .whitespaces).nilIfEmpty
        if let key, !(key.count <= 200 && key.allSatisfy({ $0.isASCII && !$0.isNewline })) {
            throw AppError(.invalidIdempotencyKey, "The Idempotency-Key header must be 1 to 200 printable ASCII characters.")
        }
        // A run whose process died long ago no longer blocks the workspace (its SIDs stay on the record).
        try store.abandonProvisionings(workspaceID: workspaceID, after: abandonAfterSeconds)
        if let key, let record = try store.provisioning(workspaceID: workspaceID, key: key) {
            guard record.request == request else {
                throw AppError(.idempotencyKeyReused, "This Idempotency-Key was used for a different provisioning request; use a new key for a new request.")
            }
            switch record.status {
            case "completed":
                guard let sender = record.senderID else {
                    throw AppError(.provisionedSenderGone, "The sender this key provisioned no longer exists.")
                }
                return .replay(senderID: sender)
            case "running":
                throw inProgress
            default:
                // Failed (and undone): the same key may try again.
                try store.deleteFailedProvisioning(id: record.id)
            }
        }
        // Another provisioning of this workspace is running (or the same key raced us): nil.
        guard let id = try store.startProvisioning(workspaceID: workspaceID, key: key ?? "auto-" + Crypto.hex(Crypto.randomBytes(12)), request: request) else {
            throw inProgress
        }
        return .started(id)
    }

    static let inProgress = AppError(.provisioningInProgress, "A number is being provisioned for this workspace right now; wait for it to finish, then list the senders.")
}
extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}

extension Senders {
    /// Whether a deactivation releases the number: `release` (true/false) or `mode` ("release" |
    /// "keep"), which must agree when both are given; neither keeps it.
    public static func releases(release: Bool?, mode: String?) throws -> Bool {
        guard let mode else { return release ?? false }
        guard mode == "release" || mode == "keep" else { throw AppError.validation("mode", "\"release\" or \"keep\".") }
        if let release, release != (mode == "release") {
            throw AppError.validation("mode", "contradicts release; give one of them.")
        }
        return mode == "release"
    }
}
