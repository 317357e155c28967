import Foundation
import MedsyncConfig
import HTTPClient
import Postgres
import Twilio
import MedsyncLog

/// `medsync-jobs reminders`: for every workspace with reminders enabled, remind the patients of
/// confirmed appointments starting within `hours_before`, each appointment once per start time.
///
/// Exactly-once across hosts: an appointment is claimed by inserting its reminder_log row
/// (unique per appointment, kind and start time) before Twilio is called; a run that loses the
/// insert leaves it to the winner. A run killed mid-call leaves the row `sending`: never resent.
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
    }

    public static func run(_ conn: PGConnection, http: HTTPClient, config: Config, options: JobOptions = JobOptions(),
                           clock: any JobClock = SystemClock(), retry: RetryPolicy = RetryPolicy(maxAttempts: 3),
                           log: JobLogger = .discarding) throws -> Summary {
        let started = DispatchTime.now()
        var summary = Summary()
        summary.dryRun = options.dryRun
        let now = clock.now()
        let pacer = SendPacer(rate: config.sendRate)
        var budget = options.limit ?? Int.max

        // A workspace without a reminder_settings row has the product guide's defaults: reminders off.
        // One statement also tells, per workspace, whether it has a primary sender and whether anything
        // is due (the due query's condition, below): a run with nothing to do costs two statements,
        // not two per clinic. A workspace with something due is then read in full, just before its
        // claims, as before (its rows are never older than its own turn).
        let workspaces = try conn.query("""
            SELECT w.id, w.timezone, s.hours_before, s.template_key, s.custom_message, s.language,
                   EXISTS (SELECT 1 FROM whatsapp_senders ws WHERE ws.workspace_id = w.id AND ws.is_active AND ws.is_primary) AS has_sender,
                   EXISTS (SELECT 1 FROM appointments a
                            WHERE a.workspace_id = w.id AND a.status IN ('confirmed', 'cancelled')
                              AND a.starts_at > \(now)::timestamptz - make_interval(hours => s.hours_before)
                              AND a.starts_at <= \(now)::timestamptz + make_interval(hours => s.hours_before)
                              AND NOT EXISTS (SELECT 1 FROM reminder_log l
                                               WHERE l.appointment_id = a.id AND l.kind = \(kind) AND l.scheduled_for = a.starts_at)) AS has_due
              FROM workspaces w JOIN reminder_settings s ON s.workspace_id = w.id
             WHERE s.enabled AND (\(options.workspaceID)::bigint IS NULL OR w.id = \(options.workspaceID))
             ORDER BY w.id
            """).compactMap { row -> Settings? in
            guard let id = try row.decode(Int64?.self, "id") else { return nil }
            let d = ReminderSettings.Value.defaults
            return Settings(workspaceID: id, timezone: try row.decode(String?.self, "timezone") ?? "UTC", hoursBefore: try row.decode(Int?.self, "hours_before") ?? d.hoursBefore,
                            templateKey: try row.decode(String?.self, "template_key") ?? d.templateKey, customMessage: try row.decode(String?.self, "custom_message"),
                            language: try row.decode(String?.self, "language") ?? d.language,
                            hasSender: try row.decode(Bool?.self, "has_sender") ?? false, hasDue: try row.decode(Bool?.self, "has_due") ?? true)
        }

        // A run killed during a Twilio call left its claim `sending`: after 15 minutes (far beyond a
        // call with its retries) it is shown as failed/interrupted. Never resent: it may have gone out.
        if !options.dryRun {
            summary.interrupted = try conn.execute("""
                UPDATE reminder_log SET status = 'failed', reason = 'interrupted'
                 WHERE status = 'sending' AND created_at < \(now.addingTimeInterval(-15 * 60)) AND (\(options.workspaceID)::bigint IS NULL OR workspace_id = \(options.workspaceID))
                """)
        }

        for ws in workspaces where budget > 0 {
            summary.workspaces += 1
            // Without a sender nothing can go out: claim nothing, so the reminders go once one is linked.
            guard ws.hasSender else {
                summary.workspacesWithoutSender += 1
                log.warning("reminders: workspace \(ws.workspaceID) has no active WhatsApp sender; nothing claimed", metadata: ["workspace_id": "\(ws.workspaceID)"])
                continue
            }
            guard ws.hasDue else { continue }
            let horizon = now.addingTimeInterval(Double(ws.hoursBefore) * 3600)
            let lookback = now.addingTimeInterval(-Double(ws.hoursBefore) * 3600)
            let rows = try conn.query("""
                SELECT a.id, a.starts_at, a.status, p.id AS patient_id, p.name AS patient_name, p.phone,
                       p.preferred_language, p.consent_whatsapp, p.consent_updated_at,
                       NULLIF(u.name, '') AS doctor_name  -- never the email address
                  FROM appointments a
                  JOIN patients p ON p.workspace_id = a.workspace_id AND p.id = a.patient_id
                  LEFT JOIN users u ON u.id = a.doctor_id
                 WHERE a.workspace_id = \(ws.workspaceID) AND a.status IN ('confirmed', 'cancelled')
                   AND a.starts_at > \(lookback) AND a.starts_at <= \(horizon)
                   AND NOT EXISTS (SELECT 1 FROM reminder_log l
                                    WHERE l.appointment_id = a.id AND l.kind = \(kind) AND l.scheduled_for = a.starts_at)
                 ORDER BY a.starts_at, a.id
                """)

            for row in rows {
                guard budget > 0 else { break }
                let appointmentID = try row.decode(Int64.self, "id")
                let startsAt = try row.decode(Date.self, "starts_at")
                // The start as PostgreSQL wrote it, for the claim below: a Date round trip can be a
                // microsecond off, and the claim would then match nothing ("claimed elsewhere", never sent).
                let startsAtText = try row.decode(String.self, "starts_at")
                let phone = try row.decode(String.self, "phone")
                // Why not to send, if so.
                var reason: String? = nil
                if try row.decode(String?.self, "status") == "cancelled" {
                    reason = "cancelled"
                } else if startsAt <= now {
                    reason = "past"
                } else if try row.decode(Bool?.self, "consent_whatsapp") != true {
                    // Consent that was recorded and then withdrawn is an opt-out (STOP); never given is no consent.
                    reason = try row.decode(Date?.self, "consent_updated_at") == nil ? "no_consent" : "opted_out"
                }
                if reason == nil { summary.due += 1 }

                // A patient without a language of their own gets the reminder language of the settings.
                let language = try row.decode(String?.self, "preferred_language") ?? ws.language
                let variables = [
                    "patient_name": try row.decode(String?.self, "patient_name").flatMap { $0.isEmpty ? nil : $0 } ?? (language == "es" ? "paciente" : "there"),
                    "doctor_name": try row.decode(String?.self, "doctor_name") ?? (language == "es" ? "su médico" : "your doctor"),
                    "when": LocalTime.describe(startsAt, timeZone: ws.timezone, language: language, now: now),
                ]

                if options.dryRun {
                    if let reason {
                        summary.skipped[reason, default: 0] += 1
                        summary.plan.append("appointment \(appointmentID) → \(phone): not sent (\(reason))")
                    } else {
                        let text = (try? reminderText(ws, language: language, variables: variables)) ?? "?"
                        summary.plan.append("appointment \(appointmentID) → \(phone): \(text)")
                        budget -= 1
                    }
                    continue
                }

                // Claim: the insert that wins the unique key owns this reminder. It re-reads the
                // appointment so a reschedule or cancel since the SELECT is honoured.
                let claim = try conn.query("""
                    INSERT INTO reminder_log (workspace_id, appointment_id, kind, scheduled_for, status, reason)
                    SELECT a.workspace_id, a.id, \(kind), a.starts_at, \(reason == nil ? "sending" : "skipped"), \(reason) FROM appointments a
                     WHERE a.workspace_id = \(ws.workspaceID) AND a.id = \(appointmentID) AND a.starts_at = \(startsAtText)
                    ON CONFLICT ON CONSTRAINT reminder_log_once DO NOTHING
                    RETURNING id
                    """)
                guard let logID = try claim.first?.decode(Int64?.self, "id") else {
                    if reason == nil { summary.claimedElsewhere += 1 }
                    continue
                }
                if let reason {
                    summary.skipped[reason, default: 0] += 1
                    continue
                }
                budget -= 1
                let outcome = try send(conn, http: http, config: config, ws: ws, patientID: row.decode(Int64.self, "patient_id"),
                                       language: language, variables: variables, now: now, pacer: pacer, retry: retry,
                                       clock: clock)
                if outcome.status == "release" {
                    // Twilio was throttling, failing (5xx) or unreachable: nothing went out, so the claim
                    // is given back and the next run tries again (until the appointment is past).
                    try conn.execute("DELETE FROM reminder_log WHERE id = \(logID) AND status = 'sending'")
                    summary.released += 1
                    log.warning("reminders: appointment \(appointmentID) not sent (\(outcome.reason ?? "")); will be retried by the next run", metadata: ["workspace_id": "\(ws.workspaceID)"])
                    continue
                }
                try conn.execute("""
                    UPDATE reminder_log SET status = \(outcome.status), reason = \(outcome.reason), twilio_sid = \(outcome.sid), error_code = \(outcome.errorCode), message_id = \(outcome.messageID)
                     WHERE id = \(logID)
                    """)
                switch outcome.status {
                case "sent": summary.sent += 1
                case "skipped": summary.skipped[outcome.reason ?? "skipped", default: 0] += 1
                default:
                    summary.failed += 1
                    log.error("reminders: appointment \(appointmentID) failed: \(outcome.reason ?? "") \(outcome.errorCode.map(String.init) ?? "")", metadata: ["workspace_id": "\(ws.workspaceID)"])
                }
            }
        }
        summary.durationMS = milliseconds(since: started)
        return summary
    }

    /// The reminder text: the workspace's custom message, else its template, in the patient's language.
    static func reminderText(_ ws: Settings, language: String, variables: [String: String]) throws -> String {
        if let custom = ws.customMessage, !custom.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty {
            return Templates.fill(custom, variables)
        }
        return try Templates.render(key: ReminderSettings.templateKey(ws.templateKey), language: language, variables: variables)
    }

    struct Outcome {
        var status: String
        var reason: String?
        var sid: String?
        var errorCode: Int?
        var messageID: Int64?
    }

    static func send(_ conn: PGConnection, http: HTTPClient, config: Config, ws: Settings, patientID: Int64,
                     language: String, variables: [String: String], now: Date, pacer: SendPacer, retry: RetryPolicy,
                     clock: any JobClock) throws -> Outcome {
        // Outside the window only a Meta Content template may go: the workspace's reminder template,
        // else appt_reminder, when mapped to a Content SID.
        func templateRoute() -> PreparedOutbound? {
            let key = [ReminderSettings.templateKey(ws.templateKey), "appt_reminder"].first {
                Templates.template($0) != nil
                    && ((try? Templates.contentSid(conn, workspaceID: ws.workspaceID, key: $0, language: language)) ?? nil) != nil
            }
            guard let key else { return nil }
            return try? Outbound.prepare(conn, OutboundRequest(
                workspaceID: ws.workspaceID, patientID: patientID,
                content: .template(key: key, language: language, variables: variables)), now: now)
        }
        var prepared: PreparedOutbound
        do {
            let text = try reminderText(ws, language: language, variables: variables)
            prepared = try Outbound.prepare(conn, OutboundRequest(workspaceID: ws.workspaceID, patientID: patientID,
                                                                  content: .freeform(text)), now: now)
        } catch let error as AppError where error.code == .windowClosed {
            guard let viaTemplate = templateRoute() else { return Outcome(status: "skipped", reason: "window_closed") }
            prepared = viaTemplate
        } catch let error as AppError {
            return Outcome(status: "skipped", reason: error.code.rawValue)
        }

        // Wall-clock time of the claim (the job's clock may be fixed in tests): where Twilio's list is read from.
        let claimedAt = Date()
        // An earlier attempt failed in a way that may have sent it (5xx, timeout).
        var ambiguous = false
        /// After an ambiguous failure Twilio's records decide: sent after all → recorded as sent;
        /// unreadable → failed (never resent blindly); nothing went out → nil, free to send (or give back).
        func settled() throws -> Outcome? {
            guard ambiguous else { return nil }
            switch SentCheck.run(http: http, config: config, prepared, since: claimedAt) {
            case .sent(let m):
                return Outcome(status: "sent", sid: m.sid, messageID: try SentCheck.record(conn, prepared, m))
            case .notSent:
                return nil
            case .unknown:
                return Outcome(status: "failed", reason: "twilio_unknown")
            }
        }
        var attempt = 0
        while true {
            attempt += 1
            // Before a retry: did the last attempt go out after all?
            if let done = try settled() { return done }
            pacer.wait()
            defer { pacer.completed() }
            do {
                let result = try Outbound.deliver(conn, http: http, config: config, prepared, recordRetryable: false)
                return Outcome(status: "sent", sid: result.twilioSID, messageID: result.messageID)
            } catch let error as TwilioError {
                if SentCheck.isAmbiguous(error) { ambiguous = true }
                if error.isRetryable && attempt < retry.maxAttempts {
                    clock.sleep(seconds: retry.delay(afterAttempt: attempt))
                    continue
                }
                if error.isRetryable {
                    return try settled() ?? Outcome(status: "release", reason: "twilio \(error.code ?? error.httpStatus)")
                }
                // Twilio knows the window closed although our records said open (63016): the template
                // route when there is one, else skipped like any closed window.
                if error.code == 63016 && prepared.contentSid == nil {
                    guard let viaTemplate = templateRoute() else { return Outcome(status: "skipped", reason: "window_closed") }
                    prepared = viaTemplate
                    attempt = 0
                    continue
                }
                return Outcome(status: "failed", reason: "twilio_error", errorCode: error.code ?? error.httpStatus)
            } catch let error as TwilioTransportError where error.code == .connect {
                return try settled() ?? Outcome(status: "release", reason: "Twilio unreachable")
            } catch let error as TwilioTransportError {
                // Twilio may or may not have sent it: its Messages list decides before any retry.
                ambiguous = true
                if attempt < retry.maxAttempts {
                    clock.sleep(seconds: retry.delay(afterAttempt: attempt))
                    continue
                }
                return try settled() ?? Outcome(status: "failed", reason: "twilio_\(error.code.rawValue)")
            } catch let error as AppError {
                return Outcome(status: "failed", reason: error.code.rawValue)
            }
        }
    }
}
