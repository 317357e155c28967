import Foundation
import Twilio
import MedsyncLog

/// `medsync-jobs bundles`: sends queued bundle batches, recipient by recipient, through each batch's
/// sender, paced per sender at MEDSYNC_SEND_RATE.
///
/// Claims (`BundleClaimStore`): a run works on a sender only while it holds that sender's lock, so
/// the pace is per sender across hosts; a recipient is claimed (`sending`, committed) before the
/// Twilio call and recorded after it. A `sending` recipient found by a run that holds the sender's
/// lock was left by a run that died mid-call: it becomes `unknown` (staff review), never resent.
public enum BundleJob {
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

    /// Sends the open batches of `store` through `messenger`, each sender at most `sendRate` a second.
    public static func run(store: some BundleClaimStore, messenger: some JobMessenger, sendRate: Int, options: JobOptions = JobOptions(),
                           clock: any JobClock = SystemClock(), retry: RetryPolicy = RetryPolicy(),
                           log: JobLogger = .discarding) throws -> Summary {
        let started = DispatchTime.now()
        var run = BundleRun(store: store, messenger: messenger, sendRate: sendRate, options: options, clock: clock, retry: retry, log: log)
        let batches = try store.openBatches(workspaceID: options.workspaceID)
        if options.dryRun {
            try run.plan(batches)
        } else {
            try run.send(batches)
        }
        run.summary.durationMS = milliseconds(since: started)
        return run.summary
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

/// One run of the bundle job: the summary it builds, the sends it may still make, and the parts of
/// a run in the order they happen (each sender under its lock, each batch, each recipient).
struct BundleRun<Store: BundleClaimStore, Messenger: JobMessenger> {
    let store: Store
    let messenger: Messenger
    let sendRate: Int
    let options: JobOptions
    let clock: any JobClock
    let retry: RetryPolicy
    let log: JobLogger
    var summary = BundleJob.Summary()
    /// Sends (Twilio calls) left in this run.
    var budget: Int

    init(store: Store, messenger: Messenger, sendRate: Int, options: JobOptions, clock: any JobClock, retry: RetryPolicy, log: JobLogger) {
        self.store = store
        self.messenger = messenger
        self.sendRate = sendRate
        self.options = options
        self.clock = clock
        self.retry = retry
        self.log = log
        budget = options.limit ?? Int.max
        summary.dryRun = options.dryRun
    }

    /// A dry run: every queued recipient's text, nothing claimed.
    mutating func plan(_ batches: [OpenBundleBatch]) throws {
        for b in batches {
            summary.batches += 1
            for r in try store.queuedRecipients(batchID: b.id) where budget > 0 {
                budget -= 1
                let text = BundleJob.render(b.body, name: r.name, phone: r.phone, language: r.language, fieldsJSON: r.fieldsJSON)
                summary.plan.append("batch \(b.id) → \(r.phone): \(text)")
            }
        }
    }

    /// Sender by sender (in the order their first batch was queued), under the sender's lock.
    mutating func send(_ batches: [OpenBundleBatch]) throws {
        var senderOrder: [Int64] = []
        for b in batches where !senderOrder.contains(b.senderID) { senderOrder.append(b.senderID) }
        for senderID in senderOrder where budget > 0 {
            guard try store.lockSender(senderID) else {
                summary.sendersBusy += 1
                continue
            }
            defer { store.unlockSender(senderID) }
            let pacer = SendPacer(rate: sendRate)
            for batch in batches where batch.senderID == senderID && budget > 0 {
                try run(batch, pacer: pacer)
            }
        }
    }

    mutating func run(_ batch: OpenBundleBatch, pacer: SendPacer) throws {
        // Still open? (another run may have finished it since the list was read.)
        guard try store.startBatch(batch.id) else { return }
        summary.batches += 1
        // We hold the sender's lock: nobody else is mid-call for this batch, so `sending` rows are stale.
        let stale = try store.markInterrupted(batchID: batch.id)
        if stale > 0 {
            summary.unknown += stale
            log.warning("bundles: batch \(batch.id): \(stale) recipient(s) interrupted by an earlier run marked unknown")
        }
        try sendQueued(batch, pacer: pacer)
        if let c = try store.completeIfDone(batchID: batch.id) {
            summary.completed += 1
            log.info("bundles: batch \(batch.id) completed: sent=\(c.sent) failed=\(c.failed) skipped=\(c.skipped) unknown=\(c.unknown)")
        }
    }

    /// Claims, sends and records the batch's recipients one at a time, waiting for scheduled retries.
    mutating func sendQueued(_ batch: OpenBundleBatch, pacer: SendPacer) throws {
        while budget > 0 {
            // Pace before the claim, so a run killed while it waits leaves nothing `sending`.
            pacer.wait()
            guard let r = try store.claimNext(batchID: batch.id), let recipientID = r.id else {
                pacer.completed()
                // Nothing due now: wait for a retry that is scheduled, or finish.
                guard let wait = try store.secondsUntilNextRetry(batchID: batch.id) else { break }
                clock.sleep(seconds: min(max(wait, 0.01), 60))
                continue
            }
            budget -= 1
            let text = BundleJob.render(batch.body, name: r.name, phone: r.phone, language: r.language, fieldsJSON: r.fieldsJSON)
            let outcome = try sendOne(batch, r, text: text, lastAttempt: r.attempts >= retry.maxAttempts)
            pacer.completed()
            try store.record(recipientID: recipientID, batchID: batch.id, result(outcome, attempts: r.attempts))
        }
    }

    /// What a recipient's outcome is recorded as (counted in the summary): 429s, 5xx and timeouts go
    /// back to the queue with a backoff until the last attempt.
    mutating func result(_ outcome: BundleJob.Outcome, attempts: Int) -> BundleRecipientResult {
        switch outcome {
        case .sent(let sid, let messageID):
            summary.sent += 1
            return .sent(sid: sid, messageID: messageID)
        case .ambiguous(let code, let message) where attempts < retry.maxAttempts:
            // It may have gone out: the next attempt asks Twilio's Messages list first (since this claim).
            summary.retries += 1
            return .retry(code: code, message: message, delaySeconds: retry.delay(afterAttempt: attempts), ambiguous: true)
        case .skipped(let reason):
            summary.skipped += 1
            return .skipped(reason)
        case .retryable(let code, let message) where attempts < retry.maxAttempts:
            summary.retries += 1
            return .retry(code: code, message: message, delaySeconds: retry.delay(afterAttempt: attempts), ambiguous: false)
        case .retryable(let code, let message), .failed(let code, let message), .ambiguous(let code, let message):
            summary.failed += 1
            return .failed(code: code, message: message)
        case .unknown(let message):
            summary.unknown += 1
            return .unknown(message)
        }
    }

    /// One recipient: find or create the patient (the staff member confirmed consent when enqueuing;
    /// a patient who opted out is skipped), then one Twilio call through the batch's sender.
    func sendOne(_ batch: OpenBundleBatch, _ r: BundleRecipientClaim, text: String, lastAttempt: Bool = false) throws -> BundleJob.Outcome {
        let patient = try store.patient(workspaceID: batch.workspaceID, phone: r.phone, name: r.name, language: r.language)
        if patient.consentWhatsApp != true {
            return .skipped(patient.consentUpdatedAt == nil ? "no_consent" : "opted_out")
        }
        let prepared: PreparedOutbound
        do {
            prepared = try messenger.prepare(OutboundRequest(
                workspaceID: batch.workspaceID, patientID: patient.id, content: .freeform(text),
                sentByUserID: nil, senderID: batch.senderID, checkWindow: false), now: Date())
        } catch let error as AppError {
            return .failed(code: nil, message: "\(error.code): \(error.message)")
        }
        // An earlier attempt may have gone out: Twilio's records decide before anything is sent again.
        if let since = r.ambiguousSince {
            switch messenger.sentCheck(prepared, since: since) {
            case .sent(let m):
                return .sent(sid: m.sid, messageID: try messenger.recordSettled(prepared, m))
            case .notSent:
                break
            case .unknown(let why):
                return .unknown("An earlier attempt may have been delivered and Twilio's message list could not be read (\(why.prefix(200))); not sent again.")
            }
        }
        return try deliver(prepared, lastAttempt: lastAttempt)
    }

    /// The Twilio call, its failure classified: retryable (nothing reached Twilio, or it throttled),
    /// ambiguous (it may have gone out), or failed.
    func deliver(_ prepared: PreparedOutbound, lastAttempt: Bool) throws -> BundleJob.Outcome {
        do {
            let result = try messenger.deliver(prepared)
            return .sent(sid: result.twilioSID, messageID: result.messageID)
        } catch let error as TwilioError {
            let code = error.code ?? error.httpStatus
            if SentCheck.isAmbiguous(error) {
                return try settleLast(prepared, lastAttempt: lastAttempt, .ambiguous(code: code, message: error.explanation))
            }
            return error.isRetryable ? .retryable(code: code, message: error.explanation)
                                     : .failed(code: code, message: error.explanation)
        } catch let error as TwilioTransportError {
            if error.code == .connect {   // nothing reached Twilio: safe to try again
                return .retryable(code: nil, message: "Twilio unreachable: \(error.message)")
            }
            return try settleLast(prepared, lastAttempt: lastAttempt, .ambiguous(
                code: nil, message: "No answer from Twilio (\(error.code.rawValue)); its message list is checked before any new attempt."))
        } catch let error as AppError {
            return .failed(code: nil, message: "\(error.code): \(error.message)")
        }
    }

    /// The last attempt failed ambiguously: Twilio's list says whether it went out (sent), or not
    /// (`outcome`: failed), or cannot be read (unknown). Earlier attempts are checked on their retry.
    func settleLast(_ p: PreparedOutbound, lastAttempt: Bool, _ outcome: BundleJob.Outcome) throws -> BundleJob.Outcome {
        guard lastAttempt else { return outcome }
        switch messenger.sentCheck(p, since: Date().addingTimeInterval(-60)) {
        case .sent(let m): return .sent(sid: m.sid, messageID: try messenger.recordSettled(p, m))
        case .notSent: return outcome
        case .unknown: return .unknown("Twilio failed and its message list could not be read; the message may or may not have been delivered.")
        }
    }
}
