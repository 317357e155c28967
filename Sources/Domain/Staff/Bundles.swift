import Foundation

/// Bulk messages: preview an uploaded list, enqueue a batch (sent by `medsync-jobs bundles`), and
/// read its progress.
public enum Bundles {
    public static let maxRecipients = 250

    public struct Recipient: Sendable, Codable, Equatable {
        public var name: String?
        public var phone: String
        public var language: String?
        public var fields: [String: String]
        public init(name: String?, phone: String, language: String?, fields: [String: String] = [:]) {
            self.name = name
            self.phone = phone
            self.language = language
            self.fields = fields
        }
        enum CodingKeys: String, CodingKey { case name, phone, language, fields }
        /// `phone` is required; `name`, `language` and `fields` may be missing or null.
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            name = try c.decodeIfPresent(String.self, forKey: .name)
            phone = try c.decode(String.self, forKey: .phone)
            language = try c.decodeIfPresent(String.self, forKey: .language)
            fields = try c.decodeIfPresent([String: String].self, forKey: .fields) ?? [:]
        }
    }

    public struct RejectedRow: Sendable, Encodable, Equatable {
        public let row: Int           // 1-based line in the file, the header being row 1
        public let reason: String
        public let values: [String: String]
    }

    public struct Preview: Sendable, Encodable {
        public let recipients: [Recipient]
        public let rejected: [RejectedRow]
        public let duplicatesMerged: Int
        public let totalRows: Int
        public let columns: [String]
        public let fields: [String]
        enum CodingKeys: String, CodingKey {
            case recipients, rejected, columns, fields
            case duplicatesMerged = "duplicates_merged", totalRows = "total_rows"
        }
    }

    /// Lower-case, accents removed, spaces and dashes as `_`: "Teléfono " → "telefono".
    public static func normalizeHeader(_ s: String) -> String {
        let folded = s.trimmingCharacters(in: .whitespacesAndNewlines)
            .folding(options: [.caseInsensitive, .diacriticInsensitive, .widthInsensitive], locale: Locale(identifier: "en_US_POSIX"))
            .lowercased()
        var out = ""
        for ch in folded {
            if ch.isLetter || ch.isNumber { out.append(ch) } else if !out.isEmpty && out.last != "_" { out.append("_") }
        }
        while out.hasSuffix("_") { out.removeLast() }
        return out
    }

    static let nameHeaders: Set<String> = ["name", "nombre", "full_name", "nombre_completo", "patient", "paciente", "patient_name"]
    static let phoneHeaders: Set<String> = ["phone", "telefono", "phone_number", "mobile", "movil", "celular", "whatsapp", "numero", "tel"]
    static let languageHeaders: Set<String> = ["language", "idioma", "lang", "lengua", "lenguaje"]

    static func language(_ raw: String) -> String?? {
        switch normalizeHeader(raw) {
        case "": return .some(nil)
        case "en", "english", "ingles", "eng": return "en"
        case "es", "spanish", "espanol", "castellano", "spa": return "es"
        default: return nil
        }
    }

    public static func preview(_ table: BundleFile.Table, defaultCountryCode: String? = nil) throws -> Preview {
        let keys = table.header.map(normalizeHeader)
        guard let phoneCol = keys.firstIndex(where: phoneHeaders.contains) else {
            throw AppError(.missingPhoneColumn, "The file needs a phone column (phone / teléfono); found: \(table.header.prefix(20).joined(separator: ", ")).")
        }
        let nameCol = keys.firstIndex(where: nameHeaders.contains)
        let langCol = keys.firstIndex(where: languageHeaders.contains)
        var fieldCols: [(Int, String)] = []
        for (i, k) in keys.enumerated() where i != phoneCol && i != nameCol && i != langCol && !k.isEmpty {
            if !fieldCols.contains(where: { $0.1 == k }) { fieldCols.append((i, k)) }
        }
        var recipients: [Recipient] = []
        var index: [String: Int] = [:]
        var rejected: [RejectedRow] = []
        var merged = 0
        for (i, row) in table.rows.enumerated() {
            func cell(_ c: Int?) -> String {
                guard let c, c < row.count else { return "" }
                return row[c].trimmingCharacters(in: .whitespacesAndNewlines)
            }
            let line = i + 2
            var values: [String: String] = [:]
            for (c, k) in keys.enumerated() where !k.isEmpty && c < row.count && !row[c].isEmpty { values[k] = row[c] }
            let rawPhone = cell(phoneCol)
            guard !rawPhone.isEmpty else { rejected.append(RejectedRow(row: line, reason: "missing phone", values: values)); continue }
            guard let phone = Phone.normalize(rawPhone, defaultCountryCode: defaultCountryCode) else {
                rejected.append(RejectedRow(row: line, reason: "invalid phone \"\(rawPhone.prefix(40))\": use international format, e.g. +5215512345678",
                                            values: values))
                continue
            }
            guard let lang = language(cell(langCol)) else {
                rejected.append(RejectedRow(row: line, reason: "unknown language \"\(cell(langCol).prefix(20))\": use en or es", values: values))
                continue
            }
            var fields: [String: String] = [:]
            for (c, k) in fieldCols { let v = cell(c); if !v.isEmpty { fields[k] = v } }
            let name = cell(nameCol)
            if let at = index[phone] {
                merged += 1
                var r = recipients[at]
                if r.name == nil, !name.isEmpty { r.name = name }
                if r.language == nil { r.language = lang }
                for (k, v) in fields where r.fields[k] == nil { r.fields[k] = v }
                recipients[at] = r
            } else {
                index[phone] = recipients.count
                recipients.append(Recipient(name: name.isEmpty ? nil : name, phone: phone, language: lang, fields: fields))
            }
        }
        return Preview(recipients: recipients, rejected: rejected, duplicatesMerged: merged, totalRows: table.rows.count,
                       columns: table.header, fields: fieldCols.map(\.1))
    }

    public struct SendInput: Sendable, Codable {
        public var body: String
        public var recipients: [Recipient]
        public var consentConfirmed: Bool?
        enum CodingKeys: String, CodingKey { case body, recipients, consentConfirmed = "consent_confirmed" }
        public init(body: String, recipients: [Recipient], consentConfirmed: Bool?) {
            self.body = body
            self.recipients = recipients
            self.consentConfirmed = consentConfirmed
        }
    }

    /// A recipient of a send request that was not queued, and why.
    public struct InvalidRecipient: Sendable, Codable, Equatable {
        public let index: Int          // 0-based position in `recipients`
        public let phone: String
        public let reason: String
    }

    public struct Enqueued: Sendable, Codable {
        public let batchID: Int64
        public let status: String
        public let total: Int
        /// Recipients left out (invalid phone or language); the valid ones are queued.
        public let invalid: [InvalidRecipient]
        /// The next `medsync-jobs bundles` run picks the batch up by then (`Bundles.startWithinSeconds`).
        public let expectedStartBy: Date
        enum CodingKeys: String, CodingKey { case status, total, invalid, batchID = "batch_id", expectedStartBy = "expected_start_by" }
    }

    /// Validates and enqueues a batch of the valid recipients (sent later by `medsync-jobs bundles`);
    /// the invalid ones are answered back, listed. The product guide's rule: up to 250 valid recipients.
    /// With an `Idempotency-Key`, the same request again answers the same batch (never a second one).
    public static func send(_ store: some BundleStore, messages: some MessageStore, actor: StaffActor, _ input: SendInput,
                            idempotencyKey: String? = nil) throws -> Enqueued {
        let key = try Idempotency.key(idempotencyKey)
        let fingerprint = key == nil ? "" : try Idempotency.fingerprint("bundle.send", input)
        if let key, let answer = try Idempotency.replay(messages, workspaceID: actor.workspaceID, key: key, operation: "bundle.send",
                                                         hash: fingerprint, as: Enqueued.self) {
            return answer
        }
        let (body, recipients, invalid) = try validated(input)
        guard let sender = try messages.primarySender(workspaceID: actor.workspaceID) else {
            throw AppError(.noActiveSender, "This workspace has no active WhatsApp sender. Link or provision a number first.")
        }
        // The key and the batch commit together (the store's transaction): a concurrent retry waits on the key, then replays.
        var enqueued: Enqueued? = nil
        let outcome = try store.enqueue(
            NewBundleBatch(workspaceID: actor.workspaceID, senderID: sender.id, createdBy: actor.userID, body: body,
                           recipients: recipients.map { NewBundleRecipient(name: $0.name, phone: $0.phone, language: $0.language, fields: $0.fields) }),
            key: key.map { IdempotencyKeyRequest(key: $0, operation: "bundle.send", hash: fingerprint) },
            audit: { batch in
                actor.audit("bundle.send", "bundle", String(batch),
                            ["recipients": String(recipients.count), "invalid": String(invalid.count), "sender_id": String(sender.id)])
            },
            answer: { batch in
                let answer = Enqueued(batchID: batch, status: "queued", total: recipients.count, invalid: invalid,
                                      expectedStartBy: Date().addingTimeInterval(Double(startWithinSeconds)))
                enqueued = answer
                return String(decoding: try JSONEncoder().encode(answer), as: UTF8.self)
            })
        switch outcome {
        case .enqueued(let batch):
            return enqueued ?? Enqueued(batchID: batch, status: "queued", total: recipients.count, invalid: invalid,
                                        expectedStartBy: Date().addingTimeInterval(Double(startWithinSeconds)))
        case .keyTaken(let holder):
            guard let holder, let answer = try Idempotency.answered(holder, operation: "bundle.send", hash: fingerprint, as: Enqueued.self) else {
                throw Idempotency.inProgress
            }
            return answer
        }
    }

    /// The send request checked: consent confirmed, a message of 1 to 1600 characters whose
    /// placeholders the recipients fill, and the recipients with a valid phone and language (each
    /// phone once, at most `maxRecipients`); the others are listed as invalid.
    static func validated(_ input: SendInput) throws -> (body: String, recipients: [Recipient], invalid: [InvalidRecipient]) {
        guard input.consentConfirmed == true else {
            throw AppError(.noConsentInBundle, "consent_confirmed must be true: confirm every recipient agreed to receive WhatsApp messages.")
        }
        let body = input.body.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !body.isEmpty else { throw AppError.validation("body", "the message is empty.") }
        guard body.count <= 1600 else { throw AppError.validation("body", "at most 1600 characters.") }
        guard !input.recipients.isEmpty else { throw AppError.validation("recipients", "at least one recipient.") }
        var seen = Set<String>()
        var recipients: [Recipient] = []
        var invalid: [InvalidRecipient] = []
        for (i, r) in input.recipients.enumerated() {
            guard let phone = Phone.normalize(r.phone) else {
                invalid.append(InvalidRecipient(index: i, phone: String(r.phone.prefix(40)),
                                                reason: "not an E.164 number (use international format, e.g. +5215512345678)"))
                continue
            }
            if let l = r.language, !l.isEmpty, !Templates.languages.contains(l) {
                invalid.append(InvalidRecipient(index: i, phone: phone, reason: "unknown language \"\(l.prefix(20))\": use en or es"))
                continue
            }
            if seen.insert(phone).inserted {
                var x = r
                x.phone = phone
                x.language = (r.language?.isEmpty ?? true) ? nil : r.language
                recipients.append(x)
            }
        }
        guard !recipients.isEmpty else {
            throw AppError(.noValidRecipients, "None of the \(input.recipients.count) recipients has a valid E.164 phone and language; nothing was queued.")
        }
        guard recipients.count <= maxRecipients else {
            throw AppError(.tooManyRecipients, "A bundle goes to at most \(maxRecipients) recipients; this one has \(recipients.count).")
        }
        var known: Set<String> = ["name", "phone", "language"]
        for r in recipients { known.formUnion(r.fields.keys) }
        let unknown = Templates.placeholders(in: body).filter { !known.contains($0) }
        guard unknown.isEmpty else {
            throw AppError(.unknownPlaceholders, "Unknown placeholder(s) in body: \(unknown.map { "{\($0)}" }.joined(separator: ", ")); available: \(known.sorted().map { "{\($0)}" }.joined(separator: ", ")).")
        }
        return (body, recipients, invalid)
    }

    public struct Progress: Sendable, Encodable {
        public let id: Int64
        public let status: String
        public let body: String
        public let senderID: Int64
        public let total: Int
        public let counts: [String: Int]
        public let createdAt: Date
        public let startedAt: Date?
        public let completedAt: Date?
        /// While queued: the time by which the next bundles run has picked it up.
        public let expectedStartBy: Date?
        public let recipients: [BundleRecipientProgress]
        enum CodingKeys: String, CodingKey {
            case id, status, body, total, counts, recipients
            case senderID = "sender_id", createdAt = "created_at", startedAt = "started_at", completedAt = "completed_at"
            case expectedStartBy = "expected_start_by"
        }
    }

    public static func progress(_ store: some BundleStore, workspaceID: Int64, id: Int64, now: Date = Date()) throws -> Progress {
        guard let b = try store.batch(workspaceID: workspaceID, id: id) else {
            throw AppError(.notFound, "There is no bundle \(id) in this workspace.")
        }
        let recipients = try store.recipients(workspaceID: workspaceID, batchID: id)
        var counts: [String: Int] = ["queued": 0, "sending": 0, "sent": 0, "failed": 0, "skipped": 0, "unknown": 0]
        for r in recipients { counts[r.status, default: 0] += 1 }
        return Progress(id: id, status: b.status, body: b.body, senderID: b.senderID, total: b.total ?? recipients.count, counts: counts,
                        createdAt: b.createdAt, startedAt: b.startedAt, completedAt: b.completedAt,
                        expectedStartBy: b.status == "queued" ? expectedStart(createdAt: b.createdAt, now: now) : nil, recipients: recipients)
    }
}
