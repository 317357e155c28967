import Foundation
import Twilio
import MedsyncLog

/// `medsync-jobs reminders`: for every workspace with reminders enabled, remind the patients of
/// confirmed appointments starting within `hours_before`, each appointment once per start time.
///
/// Exactly-once across hosts: an appointment is claimed (`ReminderClaimStore.claim`) before Twilio is
/// called; a run that loses the claim leaves it to the winner. A run killed mid-call leaves the claim
/// `sending`: never resent.
public enum ReminderJob {
    public static let kind = "reminder"

    public struct Summary: Sendable, CustomStringConvertible {
        public var workspaces = 0
        public var due = 0
        public var sent = 0
        public var failed = 0
        /// Not sent, by reason (cancelled, past, no_consent, opted_out, window_closed).
        public var skipped: [String: Int] = [:]
        /// Lost the claim to another run.
        public var claimedElsewhere = 0
        public var workspacesWithoutSender = 0
        /// Claims left `sending` by a run that died mid-call, now marked failed/interrupted.
        public var interrupted = 0
        /// Not sent because Twilio throttled, failed (5xx) or was unreachable: claim given back for the next run.
        public var released = 0
        public var dryRun = false
        /// In a dry run: "appointment <id> → <phone>: <text or reason>".
        public var plan: [String] = []
        public var durationMS = 0

        public var skippedTotal: Int { skipped.values.reduce(0, +) }

        public var description: String {
            let reasons = skipped.keys.sorted().map { "\($0):\(skipped[$0]!)" }.joined(separator: ",")
            return "reminders\(dryRun ? " (dry run)" : ""): workspaces=\(workspaces) due=\(due) sent=\(sent) failed=\(failed) retry_later=\(released) "
                + "skipped=\(skippedTotal)\(reasons.isEmpty ? "" : "[\(reasons)]") claimed_elsewhere=\(claimedElsewhere) "
                + "no_sender_workspaces=\(workspacesWithoutSender) interrupted=\(interrupted) duration_ms=\(durationMS)"
        }
    }

    struct Settings {
        let workspaceID: Int64
        let timezone: String
        let hoursBefore: Int
        let templateKey: String
        let customMessage: String?
        /// For patients without a preferred language.
        let language: String
        /// It has an active primary sender (else nothing can go out).
        let hasSender: Bool
        /// Some appointment matches the due query (`run` reads those only then).
        let hasDue: Bool

        /// A workspace without settings of its own has the product guide's defaults.
        init(_ w: ReminderWorkspace) {
            let d = ReminderSettingsRecord.defaults
            workspaceID = w.workspaceID
            timezone = w.timezone ?? "UTC"
            hoursBefore = w.hoursBefore ?? d.hoursBefore
            templateKey = w.templateKey ?? d.templateKey
            customMessage = w.customMessage
            language = w.language ?? d.language
            hasSender = w.hasSender ?? false
            hasDue = w.hasDue ?? true
        }
    }

    /// Claims due reminders in `store` and sends them through `messenger`, at most `sendRate` a second.
    public static func run(store: some ReminderClaimStore, messenger: some JobMessenger, sendRate: Int, options: JobOptions = JobOptions(),
                           clock: any JobClock = SystemClock(), retry: RetryPolicy = RetryPolicy(maxAttempts: 3),
                           log: JobLogger = .discarding) throws -> Summary {
        let started = DispatchTime.now()
        var run = ReminderRun(store: store, messenger: messenger, options: options, clock: clock, retry: retry, log: log,
                              pacer: SendPacer(rate: sendRate), now: clock.now())
        try run.remindAll()
        run.summary.durationMS = milliseconds(since: started)
        return run.summary
    }

    /// The reminder text: the workspace's custom message, else its template, in the patient's language.
    static func reminderText(_ ws: Settings, language: String, variables: [String: String]) throws -> String {
        if let custom = ws.customMessage, !custom.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            return Templates.fill(custom, variables)
        }
        return try Templates.render(key: ReminderSettings.templateKey(ws.templateKey), language: language, variables: variables)
    }

    /// Why a due appointment gets no reminder, if so.
    static func skipReason(_ a: DueAppointment, now: Date) -> String? {
        if a.status == "cancelled" { return "cancelled" }
        if a.startsAt <= now { return "past" }
        // Consent that was recorded and then withdrawn is an opt-out (STOP); never given is no consent.
        if a.consentWhatsApp != true { return a.consentUpdatedAt == nil ? "no_consent" : "opted_out" }
        return nil
    }

    /// The template variables of a reminder, in the language it goes in.
    static func variables(_ a: DueAppointment, _ ws: Settings, language: String, now: Date) -> [String: String] {
        [
            "patient_name": a.patientName.flatMap { $0.isEmpty ? nil : $0 } ?? (language == "es" ? "paciente" : "there"),
            "doctor_name": a.doctorName ?? (language == "es" ? "su médico" : "your doctor"),
            "when": LocalTime.describe(a.startsAt, timeZone: ws.timezone, language: language, now: now),
        ]
    }

    /// A reminder ready for Twilio, or what it is recorded as instead.
    enum Prepared {
        case ready(PreparedOutbound)
        case notSent(ReminderResult)
    }

    /// What one claimed reminder came to.
    enum Delivery {
        /// Recorded on its claim: sent, skipped or failed.
        case recorded(ReminderResult)
        /// Twilio was throttling, failing (5xx) or unreachable: nothing went out, the claim is given back.
        case giveBack(String)
    }
}

/// One run of the reminder job: the summary it builds, the sends it may still make, and the parts
/// of a run in the order they happen (interrupted claims, each workspace, each appointment).
struct ReminderRun<Store: ReminderClaimStore, Messenger: JobMessenger> {
    typealias Settings = ReminderJob.Settings
    let store: Store
    let messenger: Messenger
    let options: JobOptions
    let clock: any JobClock
    let retry: RetryPolicy
    let log: JobLogger
    let pacer: SendPacer
    let now: Date
    var summary = ReminderJob.Summary()
    /// Sends (Twilio calls) left in this run.
    var budget: Int

    init(store: Store, messenger: Messenger, options: JobOptions, clock: any JobClock, retry: RetryPolicy, log: JobLogger,
         pacer: SendPacer, now: Date) {
        self.store = store
        self.messenger = messenger
        self.options = options
        self.clock = clock
        self.retry = retry
        self.log = log
        self.pacer = pacer
        self.now = now
        budget = options.limit ?? Int.max
        summary.dryRun = options.dryRun
    }

    mutating func remindAll() throws {
        let workspaces = try store.enabledWorkspaces(kind: ReminderJob.kind, now: now, workspaceID: options.workspaceID).map(Settings.init)
        // A run killed during a Twilio call left its claim `sending`: after 15 minutes (far beyond a
        // call with its retries) it is shown as failed/interrupted. Never resent: it may have gone out.
        if !options.dryRun {
            summary.interrupted = try store.markInterrupted(before: now.addingTimeInterval(-15 * 60), workspaceID: options.workspaceID)
        }
        for ws in workspaces where budget > 0 {
            try remind(ws)
        }
    }

    mutating func remind(_ ws: Settings) throws {
        summary.workspaces += 1
        // Without a sender nothing can go out: claim nothing, so the reminders go once one is linked.
        guard ws.hasSender else {
            summary.workspacesWithoutSender += 1
            log.warning("reminders: workspace \(ws.workspaceID) has no active WhatsApp sender; nothing claimed", metadata: ["workspace_id": "\(ws.workspaceID)"])
            return
        }
        guard ws.hasDue else { return }
        let window = Double(ws.hoursBefore) * 3600
        let due = try store.dueAppointments(workspaceID: ws.workspaceID, kind: ReminderJob.kind,
                                            after: now.addingTimeInterval(-window), through: now.addingTimeInterval(window))
        for appointment in due {
            guard budget > 0 else { break }
            try remind(appointment, ws)
        }
    }

    mutating func remind(_ a: DueAppointment, _ ws: Settings) throws {
        let reason = ReminderJob.skipReason(a, now: now)
        if reason == nil { summary.due += 1 }
        // A patient without a language of their own gets the reminder language of the settings.
        let language = a.preferredLanguage ?? ws.language
        let variables = ReminderJob.variables(a, ws, language: language, now: now)
        if options.dryRun {
            plan(a, ws, skipReason: reason, language: language, variables: variables)
            return
        }
        guard let claimID = try store.claim(workspaceID: ws.workspaceID, appointmentID: a.id, startsAtText: a.startsAtText,
                                            kind: ReminderJob.kind, skipReason: reason) else {
            if reason == nil { summary.claimedElsewhere += 1 }
            return
        }
        if let reason {
            summary.skipped[reason, default: 0] += 1
            return
        }
        budget -= 1
        let delivery = try send(ws, patientID: a.patientID, language: language, variables: variables)
        try record(delivery, claimID: claimID, appointmentID: a.id, ws)
    }

    /// A dry run's line for the appointment: the text it would get, or why not.
    mutating func plan(_ a: DueAppointment, _ ws: Settings, skipReason reason: String?, language: String, variables: [String: String]) {
        if let reason {
            summary.skipped[reason, default: 0] += 1
            summary.plan.append("appointment \(a.id) → \(a.phone): not sent (\(reason))")
        } else {
            let text = (try? ReminderJob.reminderText(ws, language: language, variables: variables)) ?? "?"
            summary.plan.append("appointment \(a.id) → \(a.phone): \(text)")
            budget -= 1
        }
    }

    mutating func record(_ delivery: ReminderJob.Delivery, claimID: Int64, appointmentID: Int64, _ ws: Settings) throws {
        switch delivery {
        case .giveBack(let why):
            // Nothing went out, so the claim is given back and the next run tries again (until the appointment is past).
            try store.release(claimID: claimID)
            summary.released += 1
            log.warning("reminders: appointment \(appointmentID) not sent (\(why)); will be retried by the next run", metadata: ["workspace_id": "\(ws.workspaceID)"])
        case .recorded(let result):
            try store.record(claimID: claimID, result)
            switch result.status {
            case "sent": summary.sent += 1
            case "skipped": summary.skipped[result.reason ?? "skipped", default: 0] += 1
            default:
                summary.failed += 1
                log.error("reminders: appointment \(appointmentID) failed: \(result.reason ?? "") \(result.errorCode.map(String.init) ?? "")", metadata: ["workspace_id": "\(ws.workspaceID)"])
            }
        }
    }

    // MARK: Sending one reminder

    /// Outside the window only a Meta Content template may go: the workspace's reminder template,
    /// else appt_reminder, when mapped to a Content SID.
    func templateRoute(_ ws: Settings, patientID: Int64, language: String, variables: [String: String]) -> PreparedOutbound? {
        let key = [ReminderSettings.templateKey(ws.templateKey), "appt_reminder"].first {
            Templates.template($0) != nil
                && ((try? messenger.contentSid(workspaceID: ws.workspaceID, key: $0, language: language)) ?? nil) != nil
        }
        guard let key else { return nil }
        return try? messenger.prepare(OutboundRequest(
            workspaceID: ws.workspaceID, patientID: patientID,
            content: .template(key: key, language: language, variables: variables)), now: now)
    }

    /// The reminder as freeform text, or as the template when the window is closed; a skip reason when neither may go.
    func prepare(_ ws: Settings, patientID: Int64, language: String, variables: [String: String]) throws -> ReminderJob.Prepared {
        do {
            let text = try ReminderJob.reminderText(ws, language: language, variables: variables)
            return .ready(try messenger.prepare(OutboundRequest(workspaceID: ws.workspaceID, patientID: patientID,
                                                                content: .freeform(text)), now: now))
        } catch let error as AppError where error.code == .windowClosed {
            guard let viaTemplate = templateRoute(ws, patientID: patientID, language: language, variables: variables) else {
                return .notSent(ReminderResult(status: "skipped", reason: "window_closed"))
            }
            return .ready(viaTemplate)
        } catch let error as AppError {
            return .notSent(ReminderResult(status: "skipped", reason: error.code.rawValue))
        }
    }

    func send(_ ws: Settings, patientID: Int64, language: String, variables: [String: String]) throws -> ReminderJob.Delivery {
        switch try prepare(ws, patientID: patientID, language: language, variables: variables) {
        case .notSent(let result): return .recorded(result)
        case .ready(let prepared):
            return try deliver(prepared) {
                templateRoute(ws, patientID: patientID, language: language, variables: variables)
            }
        }
    }

    /// Twilio calls with retries for one prepared reminder. After an ambiguous failure Twilio's records
    /// decide before any retry: sent after all → recorded as sent; unreadable → failed (never resent
    /// blindly). `viaTemplate` is the route when Twilio says the window closed (63016).
    func deliver(_ first: PreparedOutbound, viaTemplate: () -> PreparedOutbound?) throws -> ReminderJob.Delivery {
        var prepared = first
        // Wall-clock time of the claim (the job's clock may be fixed in tests): where Twilio's list is read from.
        let claimedAt = Date()
        // An earlier attempt failed in a way that may have sent it (5xx, timeout).
        var ambiguous = false
        func settledEarlier() throws -> ReminderJob.Delivery? {
            guard ambiguous else { return nil }
            return try settled(prepared, since: claimedAt)
        }
        var attempt = 0
        while true {
            attempt += 1
            // Before a retry: did the last attempt go out after all?
            if let done = try settledEarlier() { return done }
            pacer.wait()
            defer { pacer.completed() }
            do {
                let result = try messenger.deliver(prepared)
                return .recorded(ReminderResult(status: "sent", sid: result.twilioSID, messageID: result.messageID))
            } catch let error as TwilioError {
                if SentCheck.isAmbiguous(error) { ambiguous = true }
                if error.isRetryable && attempt < retry.maxAttempts {
                    clock.sleep(seconds: retry.delay(afterAttempt: attempt))
                    continue
                }
                if error.isRetryable {
                    return try settledEarlier() ?? .giveBack("twilio \(error.code ?? error.httpStatus)")
                }
                // Twilio knows the window closed although our records said open (63016): the template
                // route when there is one, else skipped like any closed window.
                if error.code == 63016 && prepared.contentSid == nil {
                    guard let template = viaTemplate() else { return .recorded(ReminderResult(status: "skipped", reason: "window_closed")) }
                    prepared = template
                    attempt = 0
                    continue
                }
                return .recorded(ReminderResult(status: "failed", reason: "twilio_error", errorCode: error.code ?? error.httpStatus))
            } catch let error as TwilioTransportError where error.code == .connect {
                return try settledEarlier() ?? .giveBack("Twilio unreachable")
            } catch let error as TwilioTransportError {
                // Twilio may or may not have sent it: its Messages list decides before any retry.
                ambiguous = true
                if attempt < retry.maxAttempts {
                    clock.sleep(seconds: retry.delay(afterAttempt: attempt))
                    continue
                }
                return try settledEarlier() ?? .recorded(ReminderResult(status: "failed", reason: "twilio_\(error.code.rawValue)"))
            } catch let error as AppError {
                return .recorded(ReminderResult(status: "failed", reason: error.code.rawValue))
            }
        }
    }

    /// Twilio's records after an ambiguous failure: sent after all, unreadable (failed, never resent),
    /// or nothing went out (nil: free to send, or give back).
    func settled(_ prepared: PreparedOutbound, since: Date) throws -> ReminderJob.Delivery? {
        switch messenger.sentCheck(prepared, since: since) {
        case .sent(let m):
            return .recorded(ReminderResult(status: "sent", sid: m.sid, messageID: try messenger.recordSettled(prepared, m)))
        case .notSent:
            return nil
        case .unknown:
            return .recorded(ReminderResult(status: "failed", reason: "twilio_unknown"))
        }
    }
}
