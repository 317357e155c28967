import Foundation
import MedsyncConfig
import HTTPClient
import Postgres
import Twilio
import MedsyncLog

/// `medsync-jobs bundles`: sends queued bundle batches, recipient by recipient, through each batch's
/// sender, paced per sender at MEDSYNC_SEND_RATE.
///
/// Claims: a run works on a sender only while it holds that sender's advisory lock (a session lock,
/// released by PostgreSQL when the process dies, even by SIGKILL), so the pace is per sender across
/// hosts; recipients are claimed with FOR UPDATE SKIP LOCKED and marked `sending` (committed) before
/// the Twilio call. A `sending` row found by a run that holds the sender's lock was left by a run
/// that died mid-call: it becomes `unknown` (staff review), never resent.
public enum BundleJob {
    /// First key of the per-sender advisory locks ("bndl").
    static let lockNamespace: Int32 = 0x626e_646c

    public struct Summary: Sendable, CustomStringConvertible {
        public var batches = 0
        public var completed = 0
        public var sent = 0
        public var failed = 0
        public var skipped = 0
        public var unknown = 0
        public var retries = 0
        /// Senders another run was working on.
        public var sendersBusy = 0
        public var dryRun = false
        public var plan: [String] = []
        public var durationMS = 0

        public var description: String {
            "bundles\(dryRun ? " (dry run)" : ""): batches=\(batches) completed=\(completed) sent=\(sent) failed=\(failed) "
                + "skipped=\(skipped) unknown=\(unknown) retries=\(retries) busy_senders=\(sendersBusy) duration_ms=\(durationMS)"
        }
    }

    struct Batch {
        let id: Int64
        let workspaceID: Int64
        let senderID: Int64
        let body: String
    }

    public static func run(_ conn: PGConnection, http: HTTPClient, config: Config, options: JobOptions = JobOptions(),
                           clock: any JobClock = SystemClock(), retry: RetryPolicy = RetryPolicy(),
                           log: JobLogger = .discarding) throws -> Summary {
        let started = DispatchTime.now()
        var summary = Summary()
        summary.dryRun = options.dryRun
        var budget = options.limit ?? Int.max

        let batches = try conn.query("""
            SELECT id, workspace_id, sender_id, body FROM bundle_batches
             WHERE status <> 'completed' AND (\(options.workspaceID)::bigint IS NULL OR workspace_id = \(options.workspaceID))
             ORDER BY created_at, id
            """).map {
            Batch(id: try $0.decode(Int64.self, "id"), workspaceID: try $0.decode(Int64.self, "workspace_id"), senderID: try $0.decode(Int64.self, "sender_id"),
                  body: try $0.decode(String.self, "body"))
        }
        if options.dryRun {
            for b in batches {
                summary.batches += 1
                for r in try conn.query("""
                    SELECT name, phone, language, fields::text AS fields FROM bundle_recipients
                     WHERE batch_id = \(b.id) AND status = 'queued' ORDER BY id
                    """) where budget > 0 {
                    budget -= 1
                    let phone = try r.decode(String.self, "phone")
                    let text = render(b.body, name: try r.decode(String?.self, "name"), phone: phone, language: try r.decode(String?.self, "language"),
                                      fieldsJSON: try r.decode(String?.self, "fields"))
                    summary.plan.append("batch \(b.id) → \(phone): \(text)")
                }
            }
            summary.durationMS = milliseconds(since: started)
            return summary
        }

        var senderOrder: [Int64] = []
        for b in batches where !senderOrder.contains(b.senderID) { senderOrder.append(b.senderID) }
        for senderID in senderOrder where budget > 0 {
            let locked = try conn.query("SELECT pg_try_advisory_lock(\(lockNamespace)::int, \(Int32(truncatingIfNeeded: senderID))::int) AS ok").first?.decode(Bool?.self, "ok") ?? false
            guard locked else {
                summary.sendersBusy += 1
                continue
            }
            defer {
                _ = try? conn.query("SELECT pg_advisory_unlock(\(lockNamespace)::int, \(Int32(truncatingIfNeeded: senderID))::int)")
            }
            let pacer = SendPacer(rate: config.sendRate)
            for batch in batches where batch.senderID == senderID && budget > 0 {
                try runBatch(conn, http: http, config: config, batch: batch, pacer: pacer, retry: retry, clock: clock,
                             budget: &budget, summary: &summary, log: log)
            }
        }
        summary.durationMS = milliseconds(since: started)
        return summary
    }

    static func runBatch(_ conn: PGConnection, http: HTTPClient, config: Config, batch: Batch, pacer: SendPacer,
                         retry: RetryPolicy, clock: any JobClock, budget: inout Int, summary: inout Summary,
                         log: JobLogger) throws {
        // Still open? (another run may have finished it since the list was read.)
        let open = try conn.transaction { () throws -> Bool in
            guard try conn.query("SELECT id FROM bundle_batches WHERE id = \(batch.id) AND status <> 'completed' FOR UPDATE SKIP LOCKED").first != nil else { return false }
            try conn.execute("""
                UPDATE bundle_batches SET status = 'sending', started_at = COALESCE(started_at, now()) WHERE id = \(batch.id)
                """)
            return true
        }
        guard open else { return }
        summary.batches += 1

        // We hold the sender's lock: nobody else is mid-call for this batch, so `sending` rows are stale.
        let stale = try conn.execute("""
            UPDATE bundle_recipients
               SET status = 'unknown',
                   error_message = 'The run sending this message stopped during the Twilio call; it may or may not have been delivered. Check before sending again.'
             WHERE batch_id = \(batch.id) AND status = 'sending'
            """)
        if stale > 0 {
            summary.unknown += stale
            log.warning("bundles: batch \(batch.id): \(stale) recipient(s) interrupted by an earlier run marked unknown")
            try updateCounts(conn, batch.id)
        }

        while budget > 0 {
            // Pace before the claim, so a run killed while it waits leaves nothing `sending`.
            pacer.wait()
            let claimed = try conn.query("""
                UPDATE bundle_recipients SET status = 'sending', claimed_at = now(), attempts = attempts + 1
                 WHERE id = (SELECT id FROM bundle_recipients
                              WHERE batch_id = \(batch.id) AND status = 'queued' AND next_attempt_at <= now()
                              ORDER BY next_attempt_at, id LIMIT 1 FOR UPDATE SKIP LOCKED)
                RETURNING id, name, phone, language, fields::text AS fields, attempts, ambiguous_since
                """).first
            guard let r = claimed else {
                pacer.completed()
                // Nothing due now: wait for a retry that is scheduled, or finish.
                let wait = try conn.query("""
                    SELECT EXTRACT(EPOCH FROM (min(next_attempt_at) - now()))::float8 AS seconds
                      FROM bundle_recipients WHERE batch_id = \(batch.id) AND status = 'queued'
                    """).first?.decode(Double?.self, "seconds")
                guard let wait else { break }
                clock.sleep(seconds: min(max(wait, 0.01), 60))
                continue
            }
            budget -= 1
            // A row lacking its id, attempts or phone is a decode_failed error naming the column, not a trap.
            let recipientID = try r.decode(Int64.self, "id")
            let attempts = try r.decode(Int.self, "attempts")
            let phone = try r.decode(String.self, "phone")
            let text = render(batch.body, name: try r.decode(String?.self, "name"), phone: phone, language: try r.decode(String?.self, "language"),
                              fieldsJSON: try r.decode(String?.self, "fields"))
            let outcome = try sendOne(conn, http: http, config: config, batch: batch, name: r.decode(String?.self, "name"), phone: phone,
                                      language: r.decode(String?.self, "language"), text: text, ambiguousSince: r.decode(Date?.self, "ambiguous_since"),
                                      lastAttempt: attempts >= retry.maxAttempts)
            pacer.completed()
            switch outcome {
            case .sent(let sid, let messageID):
                summary.sent += 1
                try conn.execute("""
                    UPDATE bundle_recipients SET status = 'sent', twilio_sid = \(sid), message_id = \(messageID), sent_at = now(),
                           error_code = NULL, error_message = NULL, ambiguous_since = NULL WHERE id = \(recipientID)
                    """)
            case .ambiguous(let code, let message) where attempts < retry.maxAttempts:
                // It may have gone out: the next attempt asks Twilio's Messages list first (since this claim).
                summary.retries += 1
                let delay = retry.delay(afterAttempt: attempts)
                try conn.execute("""
                    UPDATE bundle_recipients SET status = 'queued', error_code = \(code), error_message = \(message),
                           next_attempt_at = now() + make_interval(secs => \(delay)),
                           ambiguous_since = COALESCE(ambiguous_since, claimed_at) WHERE id = \(recipientID)
                    """)
            case .skipped(let reason):
                summary.skipped += 1
                try conn.execute("UPDATE bundle_recipients SET status = 'skipped', error_message = \(reason) WHERE id = \(recipientID)")
            case .retryable(let code, let message) where attempts < retry.maxAttempts:
                summary.retries += 1
                let delay = retry.delay(afterAttempt: attempts)
                try conn.execute("""
                    UPDATE bundle_recipients SET status = 'queued', error_code = \(code), error_message = \(message),
                           next_attempt_at = now() + make_interval(secs => \(delay)) WHERE id = \(recipientID)
                    """)
            case .retryable(let code, let message), .failed(let code, let message), .ambiguous(let code, let message):
                summary.failed += 1
                try conn.execute("UPDATE bundle_recipients SET status = 'failed', error_code = \(code), error_message = \(message) WHERE id = \(recipientID)")
            case .unknown(let message):
                summary.unknown += 1
                try conn.execute("UPDATE bundle_recipients SET status = 'unknown', error_message = \(message) WHERE id = \(recipientID)")
            }
            try updateCounts(conn, batch.id)
        }

        let left = try conn.query("""
            SELECT count(*) FILTER (WHERE status IN ('queued', 'sending')) AS open FROM bundle_recipients WHERE batch_id = \(batch.id)
            """).first?.decode(Int?.self, "open") ?? 0
        if left == 0 {
            try conn.execute("""
                UPDATE bundle_batches SET status = 'completed', completed_at = now() WHERE id = \(batch.id) AND status <> 'completed'
                """)
            try updateCounts(conn, batch.id)
            summary.completed += 1
            let c = try conn.query("SELECT sent_count, failed_count, skipped_count, unknown_count FROM bundle_batches WHERE id = \(batch.id)").one()
            let counts = "sent=\(try c.decode(Int.self, "sent_count")) failed=\(try c.decode(Int.self, "failed_count")) "
                + "skipped=\(try c.decode(Int.self, "skipped_count")) unknown=\(try c.decode(Int.self, "unknown_count"))"
            log.info("bundles: batch \(batch.id) completed: \(counts)")
        }
    }

    static func updateCounts(_ conn: PGConnection, _ batchID: Int64) throws {
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

    enum Outcome {
        case sent(sid: String, messageID: Int64)
        case skipped(String)
        case retryable(code: Int?, message: String)
        /// A 5xx or no answer after the request went out: retried only after Twilio's list says it did not go.
        case ambiguous(code: Int?, message: String)
        case failed(code: Int?, message: String)
        case unknown(String)
    }

    /// One recipient: find or create the patient (the staff member confirmed consent when enqueuing;
    /// a patient who opted out is skipped), then one Twilio call through the batch's sender.
    static func sendOne(_ conn: PGConnection, http: HTTPClient, config: Config, batch: Batch, name: String?, phone: String,
                        language: String?, text: String, ambiguousSince: Date? = nil, lastAttempt: Bool = false) throws -> Outcome {
        let patient = try conn.query("""
            INSERT INTO patients (workspace_id, phone, name, preferred_language, consent_whatsapp, consent_updated_at, consent_source)
            VALUES (\(batch.workspaceID), \(phone), \(name), COALESCE(\(language), 'en'), true, now(), 'bundle')
            ON CONFLICT (workspace_id, phone) DO UPDATE SET name = COALESCE(patients.name, EXCLUDED.name)
            RETURNING id, consent_whatsapp, consent_updated_at
            """).one()
        if try patient.decode(Bool?.self, "consent_whatsapp") != true {
            return .skipped(try patient.decode(Date?.self, "consent_updated_at") == nil ? "no_consent" : "opted_out")
        }
        let prepared: PreparedOutbound
        do {
            prepared = try Outbound.prepare(conn, OutboundRequest(
                workspaceID: batch.workspaceID, patientID: patient.decode(Int64.self, "id"), content: .freeform(text),
                sentByUserID: nil, senderID: batch.senderID, checkWindow: false))
        } catch let error as AppError {
            return .failed(code: nil, message: "\(error.code): \(error.message)")
        }
        // An earlier attempt may have gone out: Twilio's records decide before anything is sent again.
        if let since = ambiguousSince {
            switch SentCheck.run(http: http, config: config, prepared, since: since) {
            case .sent(let m):
                return .sent(sid: m.sid, messageID: try SentCheck.record(conn, prepared, m))
            case .notSent:
                break
            case .unknown(let why):
                return .unknown("An earlier attempt may have been delivered and Twilio's message list could not be read (\(why.prefix(200))); not sent again.")
            }
        }
        do {
            let result = try Outbound.deliver(conn, http: http, config: config, prepared, recordRetryable: false)
            return .sent(sid: result.twilioSID, messageID: result.messageID)
        } catch let error as TwilioError {
            let code = error.code ?? error.httpStatus
            if SentCheck.isAmbiguous(error) {
                return try settleLast(conn, http: http, config: config, prepared, lastAttempt: lastAttempt,
                                      .ambiguous(code: code, message: error.explanation))
            }
            return error.isRetryable ? .retryable(code: code, message: error.explanation)
                                     : .failed(code: code, message: error.explanation)
        } catch let error as TwilioTransportError {
            if error.code == .connect {   // nothing reached Twilio: safe to try again
                return .retryable(code: nil, message: "Twilio unreachable: \(error.message)")
            }
            return try settleLast(conn, http: http, config: config, prepared, lastAttempt: lastAttempt, .ambiguous(
                code: nil, message: "No answer from Twilio (\(error.code.rawValue)); its message list is checked before any new attempt."))
        } catch let error as AppError {
            return .failed(code: nil, message: "\(error.code): \(error.message)")
        }
    }

    /// The last attempt failed ambiguously: Twilio's list says whether it went out (sent), or not
    /// (`outcome`: failed), or cannot be read (unknown). Earlier attempts are checked on their retry.
    static func settleLast(_ conn: PGConnection, http: HTTPClient, config: Config, _ p: PreparedOutbound, lastAttempt: Bool,
                           _ outcome: Outcome) throws -> Outcome {
        guard lastAttempt else { return outcome }
        switch SentCheck.run(http: http, config: config, p, since: Date().addingTimeInterval(-60)) {
        case .sent(let m): return .sent(sid: m.sid, messageID: try SentCheck.record(conn, p, m))
        case .notSent: return outcome
        case .unknown: return .unknown("Twilio failed and its message list could not be read; the message may or may not have been delivered.")
        }
    }

    /// The body with {name} {phone} {language} and every {field} of the recipient filled.
    public static func render(_ body: String, name: String?, phone: String, language: String?, fieldsJSON: String?) -> String {
        var variables: [String: String] = [:]
        if let fieldsJSON, let data = fieldsJSON.data(using: .utf8),
           let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] {
            for (k, v) in object {
                if let s = v as? String { variables[k] = s } else if !(v is NSNull) { variables[k] = "\(v)" }
            }
        }
        variables["name"] = name ?? ""
        variables["phone"] = phone
        variables["language"] = language ?? ""
        return Templates.fill(body, variables)
    }
}
