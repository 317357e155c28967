import Foundation
import Postgres

/// A bundle batch not yet completed, as the bundle run sends it.
public struct OpenBundleBatch: Sendable, Equatable {
    public let id: Int64
    public let workspaceID: Int64
    public let senderID: Int64
    public let body: String

    public init(id: Int64, workspaceID: Int64, senderID: Int64, body: String) {
        self.id = id
        self.workspaceID = workspaceID
        self.senderID = senderID
        self.body = body
    }

    init(row: PGRow) throws {
        self.init(id: try row.decode(Int64.self, "id"), workspaceID: try row.decode(Int64.self, "workspace_id"),
                  senderID: try row.decode(Int64.self, "sender_id"), body: try row.decode(String.self, "body"))
    }
}

/// A recipient of a batch: queued (a dry run lists them) or claimed for one Twilio call.
public struct BundleRecipientClaim: Sendable, Equatable {
    /// nil for a queued recipient listed by a dry run.
    public let id: Int64?
    public let name: String?
    public let phone: String
    public let language: String?
    /// The recipient's fields as JSON text.
    public let fieldsJSON: String?
    /// Twilio calls claimed so far, this one included.
    public let attempts: Int
    /// Set when an earlier attempt may have gone out: Twilio's records decide before any resend.
    public let ambiguousSince: Date?

    public init(id: Int64?, name: String?, phone: String, language: String?, fieldsJSON: String?, attempts: Int = 0, ambiguousSince: Date? = nil) {
        self.id = id
        self.name = name
        self.phone = phone
        self.language = language
        self.fieldsJSON = fieldsJSON
        self.attempts = attempts
        self.ambiguousSince = ambiguousSince
    }
}

/// The patient a bundle recipient is sent as (found or created by phone).
public struct BundlePatient: Sendable, Equatable {
    public let id: Int64
    public let consentWhatsApp: Bool?
    public let consentUpdatedAt: Date?
    public init(id: Int64, consentWhatsApp: Bool?, consentUpdatedAt: Date?) {
        self.id = id
        self.consentWhatsApp = consentWhatsApp
        self.consentUpdatedAt = consentUpdatedAt
    }
}

/// What a claimed recipient ended as.
public enum BundleRecipientResult: Sendable, Equatable {
    case sent(sid: String, messageID: Int64)
    /// Back to the queue after `delaySeconds`; `ambiguous`: it may have gone out, so the next
    /// attempt asks Twilio's Messages list first (since this claim).
    case retry(code: Int?, message: String, delaySeconds: Double, ambiguous: Bool)
    case skipped(String)
    case failed(code: Int?, message: String)
    case unknown(String)
}

/// A completed batch's counts.
public struct BundleBatchCounts: Sendable, Equatable {
    public let sent: Int
    public let failed: Int
    public let skipped: Int
    public let unknown: Int
    public init(sent: Int, failed: Int, skipped: Int, unknown: Int) {
        self.sent = sent
        self.failed = failed
        self.skipped = skipped
        self.unknown = unknown
    }
}

/// The bundle run's claims. A run works on a sender only while it holds that sender's advisory lock
/// (a session lock, released by PostgreSQL when the process dies, even by SIGKILL), so the pace is
/// per sender across hosts; recipients are claimed with FOR UPDATE SKIP LOCKED and marked `sending`
/// (committed) before the Twilio call, and recorded after it: no transaction is held across the call.
public protocol BundleClaimStore {
    /// Batches not completed (all, or `workspaceID`'s), oldest first.
    func openBatches(workspaceID: Int64?) throws -> [OpenBundleBatch]
    /// A batch's queued recipients, for a dry run.
    func queuedRecipients(batchID: Int64) throws -> [BundleRecipientClaim]
    /// Takes the sender's lock for this session; false when another run holds it.
    func lockSender(_ senderID: Int64) throws -> Bool
    func unlockSender(_ senderID: Int64)
    /// Marks the batch `sending` unless another run completed or holds it; false then.
    func startBatch(_ batchID: Int64) throws -> Bool
    /// With the sender's lock held, a `sending` recipient was left by a run that died mid-call: it
    /// becomes `unknown` (staff review), never resent. Returns how many (the batch's counts follow).
    func markInterrupted(batchID: Int64) throws -> Int
    /// Claims the next due queued recipient (`sending`, attempts + 1), or nil.
    func claimNext(batchID: Int64) throws -> BundleRecipientClaim?
    /// Seconds until the batch's next scheduled retry; nil when nothing is queued.
    func secondsUntilNextRetry(batchID: Int64) throws -> Double?
    /// Finds or creates the recipient's patient (the staff member confirmed consent when enqueuing).
    func patient(workspaceID: Int64, phone: String, name: String?, language: String?) throws -> BundlePatient
    /// Records what the claimed recipient ended as, and the batch's counts.
    func record(recipientID: Int64, batchID: Int64, _ result: BundleRecipientResult) throws
    /// Completes the batch when nobody is left queued or sending; returns its counts then.
    func completeIfDone(batchID: Int64) throws -> BundleBatchCounts?
}

public struct PGBundleClaimStore: BundleClaimStore {
    /// First key of the per-sender advisory locks ("bndl").
    static let lockNamespace: Int32 = 0x626e_646c

    let conn: PGConnection
    public init(_ conn: PGConnection) { self.conn = conn }

    public func openBatches(workspaceID: Int64?) throws -> [OpenBundleBatch] {
        try conn.query("""
            SELECT id, workspace_id, sender_id, body FROM bundle_batches
             WHERE status <> 'completed' AND (\(workspaceID)::bigint IS NULL OR workspace_id = \(workspaceID))
             ORDER BY created_at, id
            """).map(OpenBundleBatch.init(row:))
    }

    public func queuedRecipients(batchID: Int64) throws -> [BundleRecipientClaim] {
        try conn.query("""
            SELECT name, phone, language, fields::text AS fields FROM bundle_recipients
             WHERE batch_id = \(batchID) AND status = 'queued' ORDER BY id
            """).map { r in
            BundleRecipientClaim(id: nil, name: try r.decode(String?.self, "name"), phone: try r.decode(String.self, "phone"),
                                 language: try r.decode(String?.self, "language"), fieldsJSON: try r.decode(String?.self, "fields"))
        }
    }

    public func lockSender(_ senderID: Int64) throws -> Bool {
        try conn.query("SELECT pg_try_advisory_lock(\(Self.lockNamespace)::int, \(Int32(truncatingIfNeeded: senderID))::int) AS ok").first?.decode(Bool?.self, "ok") ?? false
    }

    public func unlockSender(_ senderID: Int64) {
        _ = try? conn.query("SELECT pg_advisory_unlock(\(Self.lockNamespace)::int, \(Int32(truncatingIfNeeded: senderID))::int)")
    }

    public func startBatch(_ batchID: Int64) throws -> Bool {
        try conn.transaction { () throws -> Bool in
            guard try conn.query("SELECT id FROM bundle_batches WHERE id = \(batchID) AND status <> 'completed' FOR UPDATE SKIP LOCKED").first != nil else { return false }
            try conn.execute("""
                UPDATE bundle_batches SET status = 'sending', started_at = COALESCE(started_at, now()) WHERE id = \(batchID)
                """)
            return true
        }
    }

    public func markInterrupted(batchID: Int64) throws -> Int {
        let stale = try conn.execute("""
            UPDATE bundle_recipients
               SET status = 'unknown',
                   error_message = 'The run sending this message stopped during the Twilio call; it may or may not have been delivered. Check before sending again.'
             WHERE batch_id = \(batchID) AND status = 'sending'
            """)
        if stale > 0 { try updateCounts(batchID) }
        return stale
    }

    public func claimNext(batchID: Int64) throws -> BundleRecipientClaim? {
        // A row lacking its id, attempts or phone is a decode_failed error naming the column, not a trap.
        try conn.query("""
            UPDATE bundle_recipients SET status = 'sending', claimed_at = now(), attempts = attempts + 1
             WHERE id = (SELECT id FROM bundle_recipients
                          WHERE batch_id = \(batchID) AND status = 'queued' AND next_attempt_at <= now()
                          ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
            RETURNING id, name, phone, language, fields::text AS fields, attempts, ambiguous_since
            """).first.map { r in
            BundleRecipientClaim(id: try r.decode(Int64.self, "id"), name: try r.decode(String?.self, "name"), phone: try r.decode(String.self, "phone"),
                                 language: try r.decode(String?.self, "language"), fieldsJSON: try r.decode(String?.self, "fields"),
                                 attempts: try r.decode(Int.self, "attempts"), ambiguousSince: try r.decode(Date?.self, "ambiguous_since"))
        }
    }

    public func secondsUntilNextRetry(batchID: Int64) throws -> Double? {
        try conn.query("""
            SELECT EXTRACT(EPOCH FROM (min(next_attempt_at) - now()))::float8 AS seconds
              FROM bundle_recipients WHERE batch_id = \(batchID) AND status = 'queued'
            """).first?.decode(Double?.self, "seconds")
    }

    public func patient(workspaceID: Int64, phone: String, name: String?, language: String?) throws -> BundlePatient {
        let row = try conn.query("""
            INSERT INTO patients (workspace_id, phone, name, preferred_language, consent_whatsapp, consent_updated_at, consent_source)
            VALUES (\(workspaceID), \(phone), \(name), COALESCE(\(language), 'en'), true, now(), 'bundle')
            ON CONFLICT (workspace_id, phone) DO UPDATE SET name = COALESCE(patients.name, EXCLUDED.name)
            RETURNING id, consent_whatsapp, consent_updated_at
            """).one()
        return BundlePatient(id: try row.decode(Int64.self, "id"), consentWhatsApp: try row.decode(Bool?.self, "consent_whatsapp"),
                             consentUpdatedAt: try row.decode(Date?.self, "consent_updated_at"))
    }

    public func record(recipientID: Int64, batchID: Int64, _ result: BundleRecipientResult) throws {
        switch result {
        case .sent(let sid, let messageID):
            try conn.execute("""
                UPDATE bundle_recipients SET status = 'sent', twilio_sid = \(sid), message_id = \(messageID), sent_at = now(),
                       error_code = NULL, error_message = NULL, ambiguous_since = NULL WHERE id = \(recipientID)
                """)
        case .retry(let code, let message, let delay, ambiguous: true):
            try conn.execute("""
                UPDATE bundle_recipients SET status = 'queued', error_code = \(code), error_message = \(message),
                       next_attempt_at = now() + make_interval(secs => \(delay)),
                       ambiguous_since = COALESCE(ambiguous_since, claimed_at) WHERE id = \(recipientID)
                """)
        case .retry(let code, let message, let delay, ambiguous: false):
            try conn.execute("""
                UPDATE bundle_recipients SET status = 'queued', error_code = \(code), error_message = \(message),
                       next_attempt_at = now() + make_interval(secs => \(delay)) WHERE id = \(recipientID)
                """)
        case .skipped(let reason):
            try conn.execute("UPDATE bundle_recipients SET status = 'skipped', error_message = \(reason) WHERE id = \(recipientID)")
        case .failed(let code, let message):
            try conn.execute("UPDATE bundle_recipients SET status = 'failed', error_code = \(code), error_message = \(message) WHERE id = \(recipientID)")
        case .unknown(let message):
            try conn.execute("UPDATE bundle_recipients SET status = 'unknown', error_message = \(message) WHERE id = \(recipientID)")
        }
        try updateCounts(batchID)
    }

    public func completeIfDone(batchID: Int64) throws -> BundleBatchCounts? {
        let left = try conn.query("""
            SELECT count(*) FILTER (WHERE status IN ('queued', 'sending')) AS open FROM bundle_recipients WHERE batch_id = \(batchID)
            """).first?.decode(Int?.self, "open") ?? 0
        guard left == 0 else { return nil }
        try conn.execute("""
            UPDATE bundle_batches SET status = 'completed', completed_at = now() WHERE id = \(batchID) AND status <> 'completed'
            """)
        try updateCounts(batchID)
        let c = try conn.query("SELECT sent_count, failed_count, skipped_count, unknown_count FROM bundle_batches WHERE id = \(batchID)").one()
        return BundleBatchCounts(sent: try c.decode(Int.self, "sent_count"), failed: try c.decode(Int.self, "failed_count"),
                                 skipped: try c.decode(Int.self, "skipped_count"), unknown: try c.decode(Int.self, "unknown_count"))
    }

    func updateCounts(_ batchID: Int64) throws {
        try conn.execute("""
            UPDATE bundle_batches b SET
                   total_count = c.total, sent_count = c.sent, failed_count = c.failed,
                   skipped_count = c.skipped, unknown_count = c.unknown
              FROM (SELECT count(*) AS total,
                           count(*) FILTER (WHERE status = 'sent') AS sent,
                           count(*) FILTER (WHERE status = 'failed') AS failed,
                           count(*) FILTER (WHERE status = 'skipped') AS skipped,
                           count(*) FILTER (WHERE status = 'unknown') AS unknown
                      FROM bundle_recipients WHERE batch_id = \(batchID)) c
             WHERE b.id = \(batchID)
            """)
    }
}

extension PostgresStores {
    public var bundleClaims: PGBundleClaimStore { PGBundleClaimStore(conn) }
}
