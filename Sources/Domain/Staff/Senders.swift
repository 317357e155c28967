import Foundation
import MedsyncCrypto
import MedsyncConfig
import HTTPClient
import Postgres
import Twilio

/// A workspace's WhatsApp senders: link an existing number, provision a new one in a Twilio
/// subaccount, list, deactivate (the primary moves), make primary. The schema enforces one active
/// workspace per number, at most 3 active and exactly one primary; these functions turn its
/// refusals into clear errors.
public enum Senders {

    public struct View: Sendable, Encodable, Equatable {
        public let id: Int64
        public let phoneNumber: String
        public let displayName: String
        public let isActive: Bool
        public let isPrimary: Bool
        public let slot: Int?
        public let twilioSubaccountSID: String?
        public let phoneNumberSID: String?
        public let createdAt: Date
        public let deactivatedAt: Date?
        enum CodingKeys: String, CodingKey {
            case id, slot
            case phoneNumber = "phone_number", displayName = "display_name", isActive = "is_active", isPrimary = "is_primary"
            case twilioSubaccountSID = "twilio_subaccount_sid", phoneNumberSID = "phone_number_sid"
            case createdAt = "created_at", deactivatedAt = "deactivated_at"
        }
        init(row: PGRow) throws {
            id = try row.decode(Int64.self, "id")
            phoneNumber = try row.decode(String.self, "phone_number")
            displayName = try row.decode(String?.self, "display_name") ?? ""
            isActive = try row.decode(Bool?.self, "is_active") ?? false
            isPrimary = try row.decode(Bool?.self, "is_primary") ?? false
            slot = try row.decode(Int?.self, "slot")
            twilioSubaccountSID = try row.decode(String?.self, "twilio_subaccount_sid")
            phoneNumberSID = try row.decode(String?.self, "phone_number_sid")
            createdAt = try row.decode(Date.self, "created_at")
            deactivatedAt = try row.decode(Date?.self, "deactivated_at")
        }
    }

    static let columns: SQLFragment = """
        id, phone_number, display_name, is_active, is_primary, slot, twilio_subaccount_sid, phone_number_sid, created_at, deactivated_at
        """

    public static func list(_ conn: PGConnection, workspaceID: Int64) throws -> [View] {
        try conn.query("""
            SELECT \(unescaped: columns) FROM whatsapp_senders WHERE workspace_id = \(workspaceID)
             ORDER BY is_active DESC, is_primary DESC, slot NULLS LAST, id
            """).map(View.init(row:))
    }

    public static func get(_ conn: PGConnection, workspaceID: Int64, id: Int64) throws -> View {
        guard let row = try conn.query("SELECT \(unescaped: columns) FROM whatsapp_senders WHERE workspace_id = \(workspaceID) AND id = \(id)").first else {
            throw AppError(.notFound, "There is no sender \(id) in this workspace.")
        }
        return try View(row: row)
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

    /// Links a number to the workspace. Who may link what (issue 22, "a number leaves a clinic only on purpose"):
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
    public static func link(_ conn: PGConnection, http: HTTPClient, config: Config, actor: some AuditActor,
                            _ input: LinkInput) throws -> View {
        let checked = try validate(config: config, input)
        let tenant = !(actor is OperatorActor)
        if checked.sid == nil, let kept = try reactivate(conn, actor: actor, phone: checked.phone, name: checked.name) {
            return kept
        }
        if tenant {
            guard checked.sid != nil else { throw numberNotAvailable }
            try checkDailyNumbers(conn, workspaceID: actor.workspaceID)
        }
        var verified = input
        do {
            verified.phoneNumberSID = try verifyOwnership(http: http, config: config, phone: checked.phone,
                                                          subaccountSID: checked.sid, subaccountToken: checked.token)
            return try insert(conn, config: config, actor: actor, verified, audit: tenant ? "sender.link" : "sender.assign")
        } catch let e as AppError where tenant && (e.code == .numberNotInAccount || e.code == .linkedToOtherWorkspace) {
            throw numberNotAvailable
        }
    }

    static let numberNotAvailable = AppError(.numberNotAvailable, "This number cannot be linked to this workspace. Link a number of your own Twilio subaccount (give its SID and auth token, from the subaccount's page in the Twilio console), or ask the platform's operator to assign one.")

    /// A number the workspace still holds (`sender_number_claims`, kept at deactivation) with an inactive
    /// sender: that sender is active again. nil when the workspace does not hold the number that way.
    static func reactivate(_ conn: PGConnection, actor: some AuditActor, phone: String, name: String) throws -> View? {
        let workspaceID = actor.workspaceID
        return try conn.transaction { () throws -> View? in
            try lockSenders(conn, workspaceID)
            // The workspace's senders of the number it holds: an active one first, else the newest.
            guard let row = try conn.query("""
                SELECT s.id, s.is_active
                  FROM whatsapp_senders s
                  JOIN sender_number_claims c ON c.phone_number = s.phone_number AND c.workspace_id = s.workspace_id AND c.released_at IS NULL
                 WHERE s.workspace_id = \(workspaceID) AND s.phone_number = \(phone)
                 ORDER BY s.is_active DESC, s.deactivated_at DESC NULLS LAST, s.id DESC LIMIT 1
                """).first, let id = try row.decode(Int64?.self, "id") else { return nil }
            if try row.decode(Bool?.self, "is_active") == true {
                throw AppError(.alreadyLinked, "\(phone) is already linked to this workspace.")
            }
            try checkFreeSlot(conn, workspaceID)
            try conn.execute("""
                UPDATE whatsapp_senders SET is_active = true, display_name = CASE WHEN \(name) = '' THEN display_name ELSE \(name) END
                 WHERE workspace_id = \(workspaceID) AND id = \(id)
                """)
            try Audit.record(conn, actor, action: "sender.reactivate", targetType: "sender", targetID: String(id),
                             details: ["phone_number": phone])
            return try get(conn, workspaceID: workspaceID, id: id)
        }
    }

    /// Serializes the sender changes of one workspace until the transaction ends, so the checks made
    /// under it (free slot, holds, caps) stay true until commit.
    static func lockSenders(_ conn: PGConnection, _ workspaceID: Int64) throws {
        try conn.execute("SELECT pg_advisory_xact_lock(hashtext('whatsapp_senders'), hashtext(\(String(workspaceID))))")
    }

    /// `SenderLimits.maxActive`: a workspace with that many active senders takes no other.
    static func checkFreeSlot(_ conn: PGConnection, _ workspaceID: Int64) throws {
        let active = try conn.query("SELECT count(*) AS n FROM whatsapp_senders WHERE workspace_id = \(workspaceID) AND is_active").first?.decode(Int?.self, "n") ?? 0
        guard active < SenderLimits.maxActive else {
            throw AppError(.tooManySenders, "A workspace can have at most \(SenderLimits.maxActive) active senders; deactivate one first.")
        }
    }

    /// `SenderLimits.numbersPerDay`: numbers the workspace newly took (claims) in the last 24 hours.
    static func checkDailyNumbers(_ conn: PGConnection, workspaceID: Int64) throws {
        let taken = try conn.query("""
            SELECT count(*) AS n FROM sender_number_claims
             WHERE workspace_id = \(workspaceID) AND claimed_at > now() - interval '24 hours'
            """).first?.decode(Int?.self, "n") ?? 0
        guard taken < SenderLimits.numbersPerDay else {
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
    static func insert(_ conn: PGConnection, config: Config, actor: some AuditActor, _ input: LinkInput, audit action: String,
                       details: [String: String] = [:]) throws -> View {
        let workspaceID = actor.workspaceID
        let checked = try validate(config: config, input)
        let bare = checked.phone, name = checked.name, sid = checked.sid, token = checked.token
        var encrypted: String? = nil
        if let token {
            guard let fernet = config.fernet else {
                throw AppError(.fernetKeyMissing, "MEDSYNC_FERNET_KEYS (or MEDSYNC_FERNET_KEY) is not configured, so subaccount credentials cannot be stored.")
            }
            encrypted = fernet.encrypt(token)
        }
        return try conn.transaction {
            // Serialize links of one workspace so the checks below stay true until commit.
            try lockSenders(conn, workspaceID)
            // Only this workspace's senders are visible here (row-level security, sql/0021); another
            // workspace's hold on the number refuses the INSERT below (0018's claim trigger).
            if let existing = try conn.query("""
                SELECT workspace_id FROM whatsapp_senders WHERE phone_number = \(bare) AND is_active LIMIT 1
                """).first {
                if try existing.decode(Int64?.self, "workspace_id") == workspaceID {
                    throw AppError(.alreadyLinked, "\(bare) is already linked to this workspace.")
                }
                throw AppError(.linkedToOtherWorkspace, "This number is held by another workspace; it must release it first.")
            }
            try checkFreeSlot(conn, workspaceID)
            let view: View
            do {
                let row = try conn.query("""
                    INSERT INTO whatsapp_senders (workspace_id, phone_number, display_name, twilio_subaccount_sid,
                                                  twilio_subaccount_token_enc, phone_number_sid)
                    VALUES (\(workspaceID), \(bare), \(name), \(sid), \(encrypted), \(input.phoneNumberSID))
                    RETURNING \(unescaped: columns)
                    """).first
                guard let row else { throw AppError.internal }
                view = try View(row: row)
            } catch let e as PGError where e.isUniqueViolation {
                // Another workspace holds the number (sender_number_claims: kept after it deactivated it,
                // or linked at the same moment): only its release frees it.
                throw AppError(.linkedToOtherWorkspace, "This number is held by another workspace; it must release it first.")
            }
            try Audit.record(conn, actor, action: action, targetType: "sender", targetID: String(view.id),
                             details: details.merging(["phone_number": view.phoneNumber]) { $1 })
            return view
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
    public static func deactivate(_ conn: PGConnection, http: HTTPClient? = nil, config: Config? = nil, actor: some AuditActor,
                                  id: Int64, release: Bool = false) throws -> Deactivation {
        let workspaceID = actor.workspaceID
        let view = try conn.transaction {
            try lockSenders(conn, workspaceID)
            let sender = try get(conn, workspaceID: workspaceID, id: id)
            guard sender.isActive else {
                guard release, try holdsIdle(conn, workspaceID: workspaceID, phone: sender.phoneNumber) else {
                    throw AppError(.senderInactive, "Sender \(id) is already inactive" + (release ? " and this workspace no longer holds its number." : "."))
                }
                return sender
            }
            try conn.execute("UPDATE whatsapp_senders SET is_active = false WHERE workspace_id = \(workspaceID) AND id = \(id)")
            if sender.isPrimary {
                try conn.execute("""
                    UPDATE whatsapp_senders SET is_primary = true
                     WHERE id = (SELECT id FROM whatsapp_senders WHERE workspace_id = \(workspaceID) AND is_active ORDER BY slot, id LIMIT 1)
                    """)
            }
            try Audit.record(conn, actor, action: "sender.deactivate", targetType: "sender", targetID: String(id),
                             details: ["phone_number": sender.phoneNumber, "number": release ? "release" : "keep"])
            return try get(conn, workspaceID: workspaceID, id: id)
        }
        guard release else { return Deactivation(sender: view, number: .kept) }
        guard let http, let config else { throw AppError.internal }
        try releaseOnTwilio(conn, http: http, config: config, workspaceID: workspaceID, sender: view)
        try conn.transaction {
            try lockSenders(conn, workspaceID)
            try conn.execute("""
                UPDATE sender_number_claims SET released_at = now()
                 WHERE workspace_id = \(workspaceID) AND phone_number = \(view.phoneNumber) AND released_at IS NULL
                   AND NOT EXISTS (SELECT 1 FROM whatsapp_senders WHERE phone_number = \(view.phoneNumber) AND is_active)
                """)
            try Audit.record(conn, actor, action: "sender.release", targetType: "sender", targetID: String(id),
                             details: ["phone_number": view.phoneNumber])
        }
        return Deactivation(sender: view, number: .released)
    }

    /// Whether the workspace holds `phone` with no active sender of it (a kept number).
    static func holdsIdle(_ conn: PGConnection, workspaceID: Int64, phone: String) throws -> Bool {
        try conn.query("""
            SELECT 1 AS one FROM sender_number_claims
             WHERE workspace_id = \(workspaceID) AND phone_number = \(phone) AND released_at IS NULL
               AND NOT EXISTS (SELECT 1 FROM whatsapp_senders WHERE phone_number = \(phone) AND is_active)
            """).first != nil
    }

    /// Deletes the sender's number on Twilio, through the account that owns it (the sender's
    /// subaccount, else the master). A number Twilio no longer has counts as released.
    static func releaseOnTwilio(_ conn: PGConnection, http: HTTPClient, config: Config, workspaceID: Int64, sender: View) throws {
        guard let account = try SenderAccount.find(conn, workspaceID: workspaceID, id: sender.id) else {
            throw AppError(.notFound, "There is no sender \(sender.id) in this workspace.")
        }
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
    public static func makePrimary(_ conn: PGConnection, actor: some AuditActor, id: Int64) throws -> View {
        let workspaceID = actor.workspaceID
        return try conn.transaction {
            try lockSenders(conn, workspaceID)
            let sender = try get(conn, workspaceID: workspaceID, id: id)
            guard sender.isActive else {
                throw AppError(.senderInactive, "Sender \(id) is inactive; only an active sender can be primary.")
            }
            try Audit.record(conn, actor, action: "sender.make_primary", targetType: "sender", targetID: String(id),
                             details: ["phone_number": sender.phoneNumber])
            if sender.isPrimary { return sender }
            try conn.execute("UPDATE whatsapp_senders SET is_primary = false WHERE workspace_id = \(workspaceID) AND is_primary")
            try conn.execute("UPDATE whatsapp_senders SET is_primary = true WHERE workspace_id = \(workspaceID) AND id = \(id)")
            return try get(conn, workspaceID: workspaceID, id: id)
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
    public static func provision(_ conn: PGConnection, http: HTTPClient, config: Config, actor: some AuditActor,
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
        try checkFreeSlot(conn, workspaceID)
        let master: TwilioClient
        do { master = try TwilioClient(config: config, http: http) } catch {
            throw AppError(twilioConfiguration: error)
        }
        let request = "\(clinic)|\(country)|\(area ?? "")"
        let record: Int64
        switch try Provisioning.begin(conn, workspaceID: workspaceID, key: input.idempotencyKey, request: request) {
        case .replay(let senderID): return try get(conn, workspaceID: workspaceID, id: senderID)
        case .started(let id): record = id
        }
        // Each step records what Twilio created, so a failure can undo it (and an operator can see it).
        var sub: ProvisioningAccount? = nil
        var bought: TwilioIncomingNumber? = nil
        var boughtNumber: String? = nil
        do {
            try checkDailyNumbers(conn, workspaceID: workspaceID)
            let started = try conn.query("""
                SELECT count(*) AS n FROM sender_provisionings
                 WHERE workspace_id = \(workspaceID) AND created_at > now() - interval '24 hours' AND id <> \(record)
                """).first?.decode(Int?.self, "n") ?? 0
            guard started < SenderLimits.provisioningsPerDay else {
                throw AppError(.senderQuotaExceeded, "This workspace started \(SenderLimits.provisioningsPerDay) provisionings in the last 24 hours, the most it may; try again tomorrow.", retryAfter: 3600)
            }
            let account = try subaccount(conn, master: master, config: config, workspaceID: workspaceID, clinic: clinic)
            sub = account
            try Provisioning.note(conn, record, subaccountSID: account.sid)
            let client = master.acting(as: account.sid, authToken: account.authToken)
            let numbers = try client.searchAvailableNumbers(country: country, areaCode: area, limit: 20)
            // Skip numbers any workspace holds here (e.g. bought elsewhere and assigned by the operator):
            // the claims of every workspace, as numbers only (row-level security, sql/0021).
            let held = Set(try conn.query("SELECT phone_number FROM medsync_held_numbers(\(numbers.map(\.phoneNumber))::text[])")
                .compactMap { try $0.decode(String?.self, "phone_number") })
            guard let number = numbers.first(where: { !held.contains($0.phoneNumber) && Phone.isE164($0.phoneNumber) }) else {
                throw AppError(.noNumbersAvailable, "Twilio has no \(country) numbers\(area.map { " in area code \($0)" } ?? "") right now; try another area code.")
            }
            boughtNumber = number.phoneNumber
            let pn = try client.buyNumber(phoneNumber: number.phoneNumber, smsURL: base + "/api/webhooks/whatsapp",
                                          statusCallback: base + "/api/webhooks/whatsapp/status")
            bought = pn
            try Provisioning.note(conn, record, numberSID: pn.sid, phoneNumber: pn.phoneNumber)
            let view = try insert(conn, config: config, actor: actor, LinkInput(
                phoneNumber: pn.phoneNumber, displayName: clinic, subaccountSID: account.sid, subaccountToken: account.authToken,
                phoneNumberSID: pn.sid), audit: "sender.provision", details: ["subaccount_sid": account.sid])
            try Provisioning.complete(conn, record, senderID: view.id)
            return view
        } catch {
            let cleanup = compensate(master: master, subaccount: sub, number: bought, attemptedNumber: boughtNumber)
            if let sub, sub.opened {
                _ = try? conn.execute("UPDATE workspace_subaccounts SET closed_at = now() WHERE subaccount_sid = \(sub.sid) AND closed_at IS NULL")
            }
            let appError: AppError
            switch error {
            case let e as TwilioError: appError = AppError(e)
            case let e as TwilioTransportError: appError = AppError(e)
            case let e as AppError: appError = e
            default: appError = .internal
            }
            try? Provisioning.fail(conn, record, code: appError.code.rawValue, cleanup: cleanup)
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
    static func subaccount(_ conn: PGConnection, master: TwilioClient, config: Config, workspaceID: Int64,
                           clinic: String) throws -> ProvisioningAccount {
        guard let fernet = config.fernet else {
            throw AppError(.fernetKeyMissing, "MEDSYNC_FERNET_KEYS (or MEDSYNC_FERNET_KEY) is not configured, so subaccount credentials cannot be stored.")
        }
        if let row = try conn.query("""
            SELECT subaccount_sid, auth_token_enc FROM workspace_subaccounts WHERE workspace_id = \(workspaceID) AND closed_at IS NULL
            """).first, let sid = try row.decode(String?.self, "subaccount_sid"), let enc = try row.decode(String?.self, "auth_token_enc") {
            let token: String
            do { token = try fernet.decryptString(enc) } catch {
                throw AppError(.senderCredentialsInvalid, "The stored credentials of this workspace's Twilio subaccount cannot be decrypted with the configured keys.")
            }
            do {
                if try master.acting(as: sid, authToken: token).fetchAccount().status == "active" {
                    return ProvisioningAccount(sid: sid, authToken: token, opened: false)
                }
            } catch let e as TwilioError where e.httpStatus == 401 || e.httpStatus == 403 || e.httpStatus == 404 || e.code == 20003 {
                // Closed or gone on Twilio's side: open another below.
            }
            try conn.execute("UPDATE workspace_subaccounts SET closed_at = now() WHERE subaccount_sid = \(sid) AND closed_at IS NULL")
        }
        let opened = try conn.query("SELECT count(*) AS n FROM workspace_subaccounts WHERE workspace_id = \(workspaceID)").first?.decode(Int?.self, "n") ?? 0
        guard opened < SenderLimits.subaccountsPerWorkspace else {
            throw AppError(.senderQuotaExceeded, "This workspace has had \(SenderLimits.subaccountsPerWorkspace) Twilio subaccounts, the most it may; ask the platform's operator.")
        }
        let account = try master.createSubaccount(friendlyName: "MedSync \(clinic)")
        do {
            try conn.execute("""
                INSERT INTO workspace_subaccounts (workspace_id, subaccount_sid, auth_token_enc)
                VALUES (\(workspaceID), \(account.sid), \(fernet.encrypt(account.authToken)))
                """)
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

/// The numbers and Twilio subaccounts a workspace may take (issue 22: a provisioning loop cannot run
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

    static func begin(_ conn: PGConnection, workspaceID: Int64, key: String?, request: String) throws -> Start {
        let key = key?.trimmingCharacters(in: .whitespaces).nilIfEmpty
        if let key, !(key.count <= 200 && key.allSatisfy({ $0.isASCII && !$0.isNewline })) {
            throw AppError(.invalidIdempotencyKey, "The Idempotency-Key header must be 1 to 200 printable ASCII characters.")
        }
        // A run whose process died long ago no longer blocks the workspace (its SIDs stay on the record).
        try conn.execute("""
            UPDATE sender_provisionings SET status = 'failed', error_code = 'abandoned'
             WHERE workspace_id = \(workspaceID) AND status = 'running' AND updated_at < now() - make_interval(secs => \(abandonAfterSeconds))
            """)
        if let key, let row = try conn.query("""
            SELECT id, request, status, sender_id FROM sender_provisionings WHERE workspace_id = \(workspaceID) AND idempotency_key = \(key)
            """).first {
            guard try row.decode(String?.self, "request") == request else {
                throw AppError(.idempotencyKeyReused, "This Idempotency-Key was used for a different provisioning request; use a new key for a new request.")
            }
            switch try row.decode(String?.self, "status") {
            case "completed":
                guard let sender = try row.decode(Int64?.self, "sender_id") else {
                    throw AppError(.provisionedSenderGone, "The sender this key provisioned no longer exists.")
                }
                return .replay(senderID: sender)
            case "running":
                throw inProgress
            default:
                // Failed (and undone): the same key may try again.
                try conn.execute("DELETE FROM sender_provisionings WHERE id = \(row.decode(Int64?.self, "id")) AND status = 'failed'")
            }
        }
        do {
            let row = try conn.query("""
                INSERT INTO sender_provisionings (workspace_id, idempotency_key, request) VALUES (\(workspaceID), \(key ?? "auto-" + Crypto.hex(Crypto.randomBytes(12))), \(request)) RETURNING id
                """).first
            guard let id = try row?.decode(Int64?.self, "id") else { throw AppError.internal }
            return .started(id)
        } catch let e as PGError where e.isUniqueViolation {
            // Another provisioning of this workspace is running (or the same key raced us).
            throw inProgress
        }
    }

    static let inProgress = AppError(.provisioningInProgress, "A number is being provisioned for this workspace right now; wait for it to finish, then list the senders.")

    static func note(_ conn: PGConnection, _ id: Int64, subaccountSID: String) throws {
        try conn.execute("UPDATE sender_provisionings SET subaccount_sid = \(subaccountSID) WHERE id = \(id)")
    }

    static func note(_ conn: PGConnection, _ id: Int64, numberSID: String, phoneNumber: String) throws {
        try conn.execute("UPDATE sender_provisionings SET number_sid = \(numberSID), phone_number = \(phoneNumber) WHERE id = \(id)")
    }

    static func complete(_ conn: PGConnection, _ id: Int64, senderID: Int64) throws {
        try conn.execute("UPDATE sender_provisionings SET status = 'completed', sender_id = \(senderID) WHERE id = \(id)")
    }

    static func fail(_ conn: PGConnection, _ id: Int64, code: String, cleanup: String) throws {
        try conn.execute("UPDATE sender_provisionings SET status = 'failed', error_code = \(code), cleanup = \(String(cleanup.prefix(2000))) WHERE id = \(id)")
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
