import Domain
import Foundation
import Testing
import TestSupport
import MedsyncConfig
import Postgres

/// The built `medsync-jobs` binary (BIN_DIR, else .build/debug) run as systemd would run it, against a
/// fresh database and the stack's sandbox.
private let jobsBinary = (ProcessInfo.processInfo.environment["BIN_DIR"] ?? "\(projectRoot)/.build/debug") + "/medsync-jobs"

private func startJobs(_ arguments: [String], environment: [String: String]) throws -> Subprocess {
    guard FileManager.default.isExecutableFile(atPath: jobsBinary) else {
        throw TestSetupError("\(jobsBinary) is missing: build medsync-jobs first (or set BIN_DIR)")
    }
    // Only the given configuration counts (no variable of the test's own environment), run where no .env is.
    var env: [String: String] = [:]
    for key in Config.Key.allCases.map(\.rawValue) { env[key] = "" }
    return try Subprocess([jobsBinary] + arguments, environment: env.merging(environment) { $1 }, cwd: NSTemporaryDirectory())
}

private struct JobResult { let status: Int32; let stdout: String; let stderr: String }

private func finish(_ job: Subprocess) -> JobResult {
    let status = job.wait()
    return JobResult(status: status, stdout: job.stdout, stderr: job.stderr)
}

private func runJobs(_ arguments: [String], environment: [String: String]) throws -> JobResult {
    finish(try startJobs(arguments, environment: environment))
}

extension JobsWorld {
    /// `count` patients with consent, each with an open window with `sender`; returns their phones.
    func patients(_ workspaceID: Int64, sender: Sender, count: Int) throws -> [(id: Int64, phone: String)] {
        let base = Int.random(in: 1_000_000...8_999_000)
        let rows = try conn.query("""
            INSERT INTO patients (workspace_id, phone, name, preferred_language, consent_whatsapp, consent_updated_at)
            SELECT \(workspaceID), '+1997' || (\(base)::int + i)::text, 'Patient ' || i, CASE WHEN i % 2 = 0 THEN 'es' ELSE 'en' END, true, now()
              FROM generate_series(1, \(count)::int) AS i ORDER BY i
            RETURNING id, phone
            """).map { (id: $0.int64("id")!, phone: $0.string("phone")!) }
        for p in rows { try window(workspaceID, patient: p.id, phone: p.phone, sender: sender, at: Date()) }
        return rows
    }

    /// A queued batch for `phones` through `sender`; returns its id.
    func batch(_ workspaceID: Int64, sender: Sender, body: String, phones: [String]) throws -> Int64 {
        let id = try conn.query("""
            INSERT INTO bundle_batches (workspace_id, sender_id, body, total_count) VALUES (\(workspaceID), \(sender.id), \(body), \(phones.count)) RETURNING id
            """).first!.int64("id")!
        for (i, phone) in phones.enumerated() {
            try conn.execute("""
                INSERT INTO bundle_recipients (batch_id, workspace_id, name, phone, language, fields)
                VALUES (\(id), \(workspaceID), \("Name\(i)"), \(phone), \(i % 2 == 0 ? "es" : "en"), \(PGJSON(#"{"city": "City\#(i)"}"#))::jsonb)
                """)
        }
        return id
    }

    func recipientStatuses(_ batch: Int64) throws -> [String: String] {
        var out: [String: String] = [:]
        for r in try conn.query("SELECT phone, status FROM bundle_recipients WHERE batch_id = \(batch)") {
            out[r.string("phone")!] = r.string("status")!
        }
        return out
    }
}

@Suite(.needsStack) struct JobsEndToEndTests {
    @Test func twoReminderHostsAtOnceRemindEachOf500PatientsExactlyOnce() throws {
        let w = try JobsWorld()
        let ws = try w.workspace(timezone: "Europe/Madrid")
        let sender = try w.sender(ws)
        // 30 doctors in turn: a minute apart, each doctor's 30-minute appointments do not overlap.
        let doctors = try (0..<30).map { _ in try w.doctor(ws, name: "Dr. Ruiz") }
        let patients = try w.patients(ws, sender: sender, count: 500)
        let now = Date()
        for (i, p) in patients.enumerated() {
            _ = try w.appointment(ws, patient: p.id, doctor: doctors[i % doctors.count], startsAt: now.addingTimeInterval(3600 + Double(i) * 60))
        }
        // As two job hosts: each process with its own configuration (the second names the database by
        // a postgresql:// URI, sends at another rate and has its own session limits).
        let hostA = w.environment(rate: 200)
        var pairs: [String: String] = [:]
        for part in w.databaseURL.split(separator: " ") {
            let kv = part.split(separator: "=", maxSplits: 1).map(String.init)
            if kv.count == 2 { pairs[kv[0]] = kv[1].trimmingCharacters(in: CharacterSet(charactersIn: "'")) }
        }
        let uri = "postgresql://\(pairs["user"] ?? "postgres")@/\(pairs["dbname"] ?? "")?host=\(pairs["host"] ?? "")"
        let hostB = w.environment(rate: 150).merging(["DATABASE_URL": uri, "MEDSYNC_DB_STATEMENT_TIMEOUT_MS": "5000"]) { $1 }
        let jobs = [try startJobs(["reminders"], environment: hostA), try startJobs(["reminders"], environment: hostB)]
        let results = jobs.map(finish)
        for r in results {
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.split(separator: "\n").count == 1 && r.stdout.hasPrefix("reminders: "), "\(r.stdout)")
        }
        let received = try w.sent(from: sender)
        let recipients = received.compactMap { $0["to"] as? String }
        #expect(received.count == 500)
        #expect(Set(recipients) == Set(patients.map { "whatsapp:\($0.phone)" }))
        #expect(try w.conn.query("SELECT count(*) AS n FROM reminder_log WHERE status = 'sent'").first!.int("n") == 500)
        #expect(try w.conn.query("SELECT count(*) AS n FROM reminder_log").first!.int("n") == 500)
        #expect(try w.conn.query("SELECT count(*) AS n FROM whatsapp_messages WHERE direction = 'outbound' AND twilio_sid IS NOT NULL").first!.int("n") == 500)
    }

    @Test func aBundleOf250WithInjected429sAnd503sIsDeliveredOnceAtTheConfiguredPace() throws {
        let w = try JobsWorld()
        let ws = try w.workspace()
        let sender = try w.sender(ws, subaccount: true)
        let patients = try w.patients(ws, sender: sender, count: 250)
        let batch = try w.batch(ws, sender: sender, body: "Hola {name} ({phone}, {language}): feria de salud en {city}",
                                phones: patients.map(\.phone))
        // Faults scoped to this test's subaccount: the first 12 calls get 429, the next 8 get 503.
        try w.control("POST", "/sandbox/faults", #"{"api":"twilio_messages","kind":"http","status":429,"count":12,"account_sid":"\#(sender.accountSID)"}"#)
        try w.control("POST", "/sandbox/faults", #"{"api":"twilio_messages","kind":"http","status":503,"count":8,"account_sid":"\#(sender.accountSID)"}"#)

        let rate = 20
        let r = try runJobs(["bundles"], environment: w.environment(rate: rate))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("sent=250") && r.stdout.contains("retries=20"), "\(r.stdout)")

        let received = try w.sent(from: sender)
        #expect(received.count == 250)
        #expect(Set(received.compactMap { $0["to"] as? String }).count == 250)
        #expect(received.allSatisfy { $0["account_sid"] as? String == sender.accountSID })
        let first = try #require(received.first { $0["to"] as? String == "whatsapp:\(patients[0].phone)" })
        #expect(first["body"] as? String == "Hola Name0 (\(patients[0].phone), es): feria de salud en City0")
        // Pacing, by the sandbox's own clock: never more than `rate` messages in one second.
        var perSecond: [String: Int] = [:]
        for m in received { perSecond[String((m["date_created"] as! String).prefix(19)), default: 0] += 1 }
        #expect(perSecond.values.max()! <= rate, "\(perSecond.sorted { $0.key < $1.key })")

        let b = try #require(try w.conn.query("SELECT * FROM bundle_batches WHERE id = \(batch)").first)
        #expect(b.string("status") == "completed")
        #expect([b.int("sent_count"), b.int("failed_count"), b.int("skipped_count"), b.int("unknown_count")] == [250, 0, 0, 0])
        #expect(try w.conn.query("SELECT sum(attempts) AS n FROM bundle_recipients WHERE batch_id = \(batch)").first!.int("n") == 270)
        #expect(Set(try w.recipientStatuses(batch).values) == ["sent"])
    }

    /// Issue 9: Twilio answers 503 although it recorded (and sends) the message. The retry asks
    /// Twilio's Messages list first, finds it, and records it as sent: the patient gets it once.
    @Test func aFiveHundredAfterTwilioRecordedTheMessageIsNotSentTwice() throws {
        let w = try JobsWorld()
        let ws = try w.workspace()
        let sender = try w.sender(ws, subaccount: true)
        let patients = try w.patients(ws, sender: sender, count: 3)
        let batch = try w.batch(ws, sender: sender, body: "Hola {name}", phones: patients.map(\.phone))
        let victim = patients[1].phone
        try w.control("POST", "/sandbox/faults", #"{"api":"twilio_messages","kind":"http","status":503,"after":true,"count":1,"to":"\#(victim)"}"#)
        let r = try runJobs(["bundles"], environment: w.environment(rate: 50))
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("sent=3") && r.stdout.contains("retries=1"), "\(r.stdout)")
        let received = try w.sent(from: sender).filter { $0["to"] as? String == "whatsapp:\(victim)" }
        #expect(received.count == 1, "\(received)")
        let row = try #require(try w.conn.query("SELECT status, twilio_sid, attempts, message_id FROM bundle_recipients WHERE batch_id = \(batch) AND phone = \(victim)").first)
        #expect(row.string("status") == "sent")
        #expect(row.string("twilio_sid") == received.first?["sid"] as? String)
        #expect(row.int("attempts") == 2)
        let message = try #require(try w.conn.query("SELECT twilio_sid, status FROM whatsapp_messages WHERE id = \(row.int64("message_id"))").first)
        #expect(message.string("twilio_sid") == received.first?["sid"] as? String)
        #expect(Set(try w.recipientStatuses(batch).values) == ["sent"])
    }

    @Test func fourHundredErrorsFailTheRecipientAtOnceAndRetriesAreBounded() throws {
        let w = try JobsWorld()
        let ws = try w.workspace()
        let sender = try w.sender(ws, subaccount: true)
        let patients = try w.patients(ws, sender: sender, count: 4)
        // A fifth recipient is a patient who replied STOP: skipped, never sent.
        let optedOut = JobsWorld.randomPhone()
        _ = try w.patient(ws, phone: optedOut, name: "Stop", consent: nil)
        let batch = try w.batch(ws, sender: sender, body: "Hi {name}", phones: patients.map(\.phone) + [optedOut])
        // Recipient 0: 63024 once (not retried). Recipient 1: 503 forever (5 attempts, then failed with Twilio's 20503).
        try w.control("POST", "/sandbox/faults", #"{"api":"twilio_messages","kind":"twilio_error","code":63024,"count":1,"to":"\#(patients[0].phone)"}"#)
        try w.control("POST", "/sandbox/faults", #"{"api":"twilio_messages","kind":"http","status":503,"count":5,"to":"\#(patients[1].phone)"}"#)
        let r = try runJobs(["bundles"], environment: w.environment(rate: 50))
        #expect(r.status == 0, "\(r.stderr)")
        let rows = try w.conn.query("SELECT phone, status, error_code, error_message, attempts FROM bundle_recipients WHERE batch_id = \(batch) ORDER BY id")
        #expect(rows.map { "\($0.string("status")!)/\($0.int("error_code").map(String.init) ?? "-")/\($0.int("attempts")!)" }
                == ["failed/63024/1", "failed/20503/5", "sent/-/1", "sent/-/1", "skipped/-/1"])
        #expect(rows.last?.string("error_message") == "opted_out")
        let b = try #require(try w.conn.query("SELECT * FROM bundle_batches WHERE id = \(batch)").first)
        #expect(b.string("status") == "completed" && b.int("sent_count") == 2 && b.int("failed_count") == 2 && b.int("skipped_count") == 1)
        #expect(Set(try w.sent(from: sender).compactMap { $0["to"] as? String }) == ["whatsapp:\(patients[2].phone)", "whatsapp:\(patients[3].phone)"])
        #expect(try (w.control("GET", "/sandbox/faults")["faults"] as? [[String: Any]] ?? []).allSatisfy { $0["to"] as? String != patients[1].phone })
    }

    @Test func bundlesKilledMidCallAndRerunSendsNothingTwiceAndMarksTheInterruptedOneUnknown() throws {
        let w = try JobsWorld()
        let ws = try w.workspace()
        let sender = try w.sender(ws, subaccount: true)
        let patients = try w.patients(ws, sender: sender, count: 40)
        let batch = try w.batch(ws, sender: sender, body: "Hola {name}", phones: patients.map(\.phone))
        // The call for recipient 15 hangs (Twilio slow): the run is killed while it waits.
        let victim = patients[15].phone
        try w.control("POST", "/sandbox/faults", #"{"api":"twilio_messages","kind":"hang","seconds":60,"count":1,"to":"\#(victim)"}"#)

        let job = try startJobs(["bundles"], environment: w.environment(rate: 40))
        var waited = 0
        while try w.recipientStatuses(batch)[victim] != "sending" && waited < 600 {
            Thread.sleep(forTimeInterval: 0.05)
            waited += 1
        }
        Thread.sleep(forTimeInterval: 0.3)
        job.signal(SIGKILL)
        let killed = finish(job)
        #expect(killed.status == 128 + SIGKILL && killed.stdout.isEmpty)
        let before = try w.recipientStatuses(batch)
        #expect(before[victim] == "sending")
        #expect(before.values.filter { $0 == "sent" }.count == 15)

        let rerun = try runJobs(["bundles"], environment: w.environment(rate: 40))
        #expect(rerun.status == 0, "\(rerun.stderr)")
        #expect(rerun.stdout.contains("sent=24") && rerun.stdout.contains("unknown=1"), "\(rerun.stdout)")
        let after = try w.recipientStatuses(batch)
        #expect(after[victim] == "unknown")
        #expect(after.filter { $0.key != victim }.values.allSatisfy { $0 == "sent" })
        var counts: [String: Int] = [:]
        for m in try w.sent(from: sender) { counts[m["to"] as! String, default: 0] += 1 }
        #expect(counts.values.allSatisfy { $0 == 1 })
        #expect(counts["whatsapp:\(victim)"] == nil)
        #expect(counts.count == 39)
        let b = try #require(try w.conn.query("SELECT * FROM bundle_batches WHERE id = \(batch)").first)
        #expect(b.string("status") == "completed" && b.int("sent_count") == 39 && b.int("unknown_count") == 1)
        // A third run has nothing to do.
        let third = try runJobs(["bundles"], environment: w.environment(rate: 40))
        #expect(third.status == 0 && third.stdout.contains("batches=0 completed=0 sent=0"), "\(third.stdout)")
    }

    @Test func twoBundleRunsAtOnceSendEachRecipientOnce() throws {
        let w = try JobsWorld()
        let ws = try w.workspace()
        let sender = try w.sender(ws, subaccount: true)
        let patients = try w.patients(ws, sender: sender, count: 30)
        let batch = try w.batch(ws, sender: sender, body: "Hi {name}", phones: patients.map(\.phone))
        let env = w.environment(rate: 30)
        let results = [try startJobs(["bundles"], environment: env), try startJobs(["bundles"], environment: env)].map(finish)
        for r in results { #expect(r.status == 0, "\(r.stderr)") }
        var counts: [String: Int] = [:]
        for m in try w.sent(from: sender) { counts[m["to"] as! String, default: 0] += 1 }
        #expect(counts.count == 30 && counts.values.allSatisfy { $0 == 1 })
        #expect(Set(try w.recipientStatuses(batch).values) == ["sent"])
        #expect(results.map(\.stdout).joined().components(separatedBy: "sent=30").count == 2, "\(results.map(\.stdout))")
    }

    @Test func dryRunWithLimitAndWorkspaceSendsNothing() throws {
        let w = try JobsWorld()
        let ws = try w.workspace()
        let other = try w.workspace()
        let sender = try w.sender(ws)
        let otherSender = try w.sender(other)
        let patients = try w.patients(ws, sender: sender, count: 5)
        _ = try w.batch(ws, sender: sender, body: "Hi {name}", phones: patients.map(\.phone))
        _ = try w.batch(other, sender: otherSender, body: "Hi {name}", phones: [JobsWorld.randomPhone()])
        let r = try runJobs(["bundles", "--dry-run", "--limit", "3", "--workspace", String(ws)], environment: w.environment())
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdout.split(separator: "\n")
        #expect(lines.count == 4, "\(r.stdout)")
        #expect(lines.prefix(3).allSatisfy { $0.contains(": Hi Name") })
        #expect(try w.sent(from: sender).isEmpty)
        #expect(Set(try w.conn.query("SELECT status FROM bundle_recipients").map { $0.string("status")! }) == ["queued"])
    }

    @Test func onlyInfrastructureFailuresExitNonZero() throws {
        let w = try JobsWorld()
        var env = w.environment()
        env["DATABASE_URL"] = "host=/nonexistent/socket dbname=nothing connect_timeout=2"
        for job in ["reminders", "bundles"] {
            let r = try runJobs([job], environment: env)
            #expect(r.status == 69, "\(r.stderr)")
            #expect(r.stderr.contains("cannot connect to the database"))
        }
        // A run with nothing to do succeeds with its one summary line.
        for job in ["reminders", "bundles"] {
            let r = try runJobs([job], environment: w.environment())
            #expect(r.status == 0, "\(r.stderr)")
            #expect(r.stdout.hasPrefix("\(job): ") && r.stdout.contains("sent=0") && r.stdout.contains("duration_ms="), "\(r.stdout)")
        }
    }
}
