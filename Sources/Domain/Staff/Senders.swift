import Foundation

/// A workspace's WhatsApp senders: link an existing number, provision a new one in a Twilio
/// subaccount, list, deactivate (the primary moves), make primary. The schema enforces one active
/// workspace per number, at most 3 active and exactly one primary; these functions turn its
/// refusals into clear errors.
public enum Senders {
    public static let maxActive = 3

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
        init(row: PGRow) {
            id = row.int64("id")!
            phoneNumber = row.string("phone_number")!
            displayName = row.string("display_name") ?? ""
            isActive = row.bool("is_active") ?? false
            isPrimary = row.bool("is_primary") ?? false
            slot = row.int("slot")
            twilioSubaccountSID = row.string("twilio_subaccount_sid")
            phoneNumberSID = row.string("phone_number_sid")
            createdAt = row.date("created_at")!
            deactivatedAt = row.date("deactivated_at")
        }
    }

    static let columns = """
        id, phone_number, display_name, is_active, is_primary, slot, twilio_subaccount_sid, phone_number_sid, created_at, deactivated_at
        """

    public static func list(_ conn: PGConnection, workspaceID: Int64) throws -> [View] {
        try conn.query("SELECT " + columns + " FROM whatsapp_senders WHERE workspace_id = $1"
                       + " ORDER BY is_active DESC, is_primary DESC, slot NULLS LAST, id", [PGValue(workspaceID)]).map(View.init(row:))
    }

    public static func get(_ conn: PGConnection, workspaceID: Int64, id: Int64) throws -> View {
        guard let row = try conn.query("SELECT " + columns + " FROM whatsapp_senders WHERE workspace_id = $1 AND id = $2",
                                       [PGValue(workspaceID), PGValue(id)]).first else {
            throw AppError.notFound("not_found", "There is no sender \(id) in this workspace.")
        }
        return View(row: row)
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

    /// Links a number the clinic already has on Twilio. The first active sender becomes primary;
    /// subaccount credentials are stored with the auth token Fernet-encrypted (`MEDSYNC_FERNET_KEY`).
    public static func link(_ conn: PGConnection, config: Config, workspaceID: Int64, _ input: LinkInput) throws -> View {
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
        if let sid, !(sid.hasPrefix("AC") && sid.count == 34) {
            throw AppError.validation("twilio_subaccount_sid", "a Twilio account SID is \"AC\" followed by 32 hex digits.")
        }
        var encrypted: String? = nil
        if let token {
            guard let key = config.fernetKey?.value, let fernet = try? Fernet(key: key) else {
                throw AppError(status: 500, code: "fernet_key_missing",
                               message: "MEDSYNC_FERNET_KEY is not configured, so subaccount credentials cannot be stored.")
            }
            encrypted = fernet.encrypt(token)
        }
        return try conn.transaction {
            // Serialize links of one workspace so the checks below stay true until commit.
            try conn.execute("SELECT pg_advisory_xact_lock(hashtext('whatsapp_senders'), hashtext($1))", [PGValue(String(workspaceID))])
            if let existing = try conn.query("SELECT workspace_id FROM whatsapp_senders WHERE phone_number = $1 AND is_active",
                                             [PGValue(bare)]).first {
                if existing.int64("workspace_id") == workspaceID {
                    throw AppError.conflict("already_linked", "\(bare) is already linked to this workspace.")
                }
                throw AppError.conflict("linked_to_other_workspace",
                                        "This number is linked to another workspace; it must be deactivated there first.")
            }
            let active = try conn.query("SELECT count(*) AS n FROM whatsapp_senders WHERE workspace_id = $1 AND is_active",
                                        [PGValue(workspaceID)]).first?.int("n") ?? 0
            guard active < maxActive else {
                throw AppError.conflict("too_many_senders",
                                        "A workspace can have at most \(maxActive) active senders; deactivate one first.")
            }
            do {
                let row = try conn.query("""
                    INSERT INTO whatsapp_senders (workspace_id, phone_number, display_name, twilio_subaccount_sid,
                                                  twilio_subaccount_token_enc, phone_number_sid)
                    VALUES ($1, $2, $3, $4, $5, $6) RETURNING
                    """ + " " + columns, [PGValue(workspaceID), PGValue(bare), PGValue(name), PGValue(sid), PGValue(encrypted),
                          PGValue(input.phoneNumberSID)]).first!
                return View(row: row)
            } catch let e as PGError where e.isUniqueViolation {
                // Another workspace linked the same number at the same moment.
                throw AppError.conflict("linked_to_other_workspace", "This number was just linked to another workspace.")
            }
        }
    }

    /// Deactivates a sender; when it was the primary, the active sender in the lowest slot becomes primary.
    public static func deactivate(_ conn: PGConnection, workspaceID: Int64, id: Int64) throws -> View {
        try conn.transaction {
            try conn.execute("SELECT pg_advisory_xact_lock(hashtext('whatsapp_senders'), hashtext($1))", [PGValue(String(workspaceID))])
            let sender = try get(conn, workspaceID: workspaceID, id: id)
            guard sender.isActive else { throw AppError.conflict("sender_inactive", "Sender \(id) is already inactive.") }
            try conn.execute("UPDATE whatsapp_senders SET is_active = false WHERE workspace_id = $1 AND id = $2",
                             [PGValue(workspaceID), PGValue(id)])
            if sender.isPrimary {
                try conn.execute("""
                    UPDATE whatsapp_senders SET is_primary = true
                     WHERE id = (SELECT id FROM whatsapp_senders WHERE workspace_id = $1 AND is_active ORDER BY slot, id LIMIT 1)
                    """, [PGValue(workspaceID)])
            }
            return try get(conn, workspaceID: workspaceID, id: id)
        }
    }

    public static func makePrimary(_ conn: PGConnection, workspaceID: Int64, id: Int64) throws -> View {
        try conn.transaction {
            try conn.execute("SELECT pg_advisory_xact_lock(hashtext('whatsapp_senders'), hashtext($1))", [PGValue(String(workspaceID))])
            let sender = try get(conn, workspaceID: workspaceID, id: id)
            guard sender.isActive else {
                throw AppError.conflict("sender_inactive", "Sender \(id) is inactive; only an active sender can be primary.")
            }
            if sender.isPrimary { return sender }
            try conn.execute("UPDATE whatsapp_senders SET is_primary = false WHERE workspace_id = $1 AND is_primary",
                             [PGValue(workspaceID)])
            try conn.execute("UPDATE whatsapp_senders SET is_primary = true WHERE workspace_id = $1 AND id = $2",
                             [PGValue(workspaceID), PGValue(id)])
            return try get(conn, workspaceID: workspaceID, id: id)
        }
    }

    public struct ProvisionInput: Sendable {
        public var clinicName: String
        public var country: String
        public var areaCode: String?
        public init(clinicName: String, country: String, areaCode: String?) {
            self.clinicName = clinicName
            self.country = country
            self.areaCode = areaCode
        }
    }

    /// The public base URL Twilio calls (TWILIO_WEBHOOK_BASE_URL, else the first ALLOWED_ORIGINS entry).
    public static func publicBaseURL(_ config: Config) -> String? {
        (config.twilioWebhookBaseURL ?? config.allowedOrigins.first).map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
    }

    /// Creates a Twilio subaccount for the clinic, buys a number there (country, area code), points
    /// its webhooks at our public URLs, and links it with the subaccount's encrypted credentials.
    public static func provision(_ conn: PGConnection, http: HTTPClient, config: Config, workspaceID: Int64,
                                 _ input: ProvisionInput) throws -> View {
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
            throw AppError(status: 500, code: "webhook_base_url_missing",
                           message: "Set TWILIO_WEBHOOK_BASE_URL (or ALLOWED_ORIGINS) so Twilio knows where to call.")
        }
        guard config.fernetKey != nil else {
            throw AppError(status: 500, code: "fernet_key_missing",
                           message: "MEDSYNC_FERNET_KEY is not configured, so subaccount credentials cannot be stored.")
        }
        let active = try conn.query("SELECT count(*) AS n FROM whatsapp_senders WHERE workspace_id = $1 AND is_active",
                                    [PGValue(workspaceID)]).first?.int("n") ?? 0
        guard active < maxActive else {
            throw AppError.conflict("too_many_senders", "A workspace can have at most \(maxActive) active senders; deactivate one first.")
        }
        let master: TwilioClient
        do { master = try TwilioClient(config: config, http: http) } catch {
            throw AppError(status: 500, code: "twilio_not_configured", message: error.message)
        }
        do {
            let sub = try master.createSubaccount(friendlyName: "MedSync \(clinic)")
            let client = master.acting(as: sub.sid, authToken: sub.authToken)
            let numbers = try client.searchAvailableNumbers(country: country, areaCode: area, limit: 20)
            // Skip numbers another workspace already uses here (e.g. bought elsewhere and linked by hand).
            let linked = Set(try conn.query("SELECT phone_number FROM whatsapp_senders WHERE is_active AND phone_number = ANY($1::text[])",
                                            [PGValue("{" + numbers.map(\.phoneNumber).joined(separator: ",") + "}")])
                .compactMap { $0.string("phone_number") })
            guard let number = numbers.first(where: { !linked.contains($0.phoneNumber) && Phone.isE164($0.phoneNumber) }) else {
                throw AppError.conflict("no_numbers_available",
                                        "Twilio has no \(country) numbers\(area.map { " in area code \($0)" } ?? "") right now; try another area code.")
            }
            let bought = try client.buyNumber(phoneNumber: number.phoneNumber, smsURL: base + "/api/webhooks/whatsapp",
                                              statusCallback: base + "/api/webhooks/whatsapp/status")
            return try link(conn, config: config, workspaceID: workspaceID, LinkInput(
                phoneNumber: bought.phoneNumber, displayName: clinic, subaccountSID: sub.sid, subaccountToken: sub.authToken,
                phoneNumberSID: bought.sid))
        } catch let e as TwilioError {
            throw StaffSend.appError(e)
        } catch let e as TwilioTransportError {
            throw StaffSend.appError(e)
        }
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}
