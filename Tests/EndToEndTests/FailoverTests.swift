import Foundation
import Testing
import TestSupport

/// PostgreSQL failover under webhooks: a stack on a primary and a synchronous standby with
/// pg_auto_failover (`scripts/stack ha-up`), the app and the jobs on a multi-host DATABASE_URL with
/// target_session_attrs=read-write. bench/failover sends signed webhooks (each a new MessageSid) with
/// wrk, kills the primary's host (kill -9 of its keeper's process group: pg_autoctl, the postmaster,
/// every backend) a few seconds in, retries what was not answered 200 as Twilio would, then checks on
/// the new primary: every MessageSid answered 200 is there, with one reply and one appointment —
/// nothing acknowledged is lost, nothing in flight at the kill was applied twice. Meanwhile
/// `medsync-jobs reminders` runs in a loop across the kill: every patient is reminded once.
@Suite(.needsStack, .serialized) final class FailoverTests {
    let dir = "\(projectRoot)/.run/test-ha"
    let settings: [String: String]

    init() throws {
        let offset = Int(ProcessInfo.processInfo.environment["MEDSYNC_TEST_PORT_OFFSET"] ?? "") ?? 0
        let binDir = ProcessInfo.processInfo.environment["BIN_DIR"] ?? "\(projectRoot)/.build/debug"
        settings = ["STACK_DIR": dir, "MEDSYNC_HTTP_PORT": "\(18680 + offset)", "SANDBOX_HTTP_PORT": "\(18681 + offset)",
                    "BIN_DIR": binDir, "MEDSYNC_WORKERS": "4", "MEDSYNC_PROCESSES": "2"]
        _ = try? runCommand(["\(projectRoot)/scripts/stack", "ha-down"], environment: settings)
        try? FileManager.default.removeItem(atPath: dir)
        let up = try runCommand(["\(projectRoot)/scripts/stack", "ha-up"], environment: settings)
        guard up.status == 0 else { throw TestSetupError("scripts/stack ha-up failed: \(up.stderr.suffix(3000))") }
    }

    deinit {
        _ = try? runCommand(["\(projectRoot)/scripts/stack", "ha-down"], environment: settings)
        try? FileManager.default.removeItem(atPath: dir)
    }

    @Test func everyWebhookAnswered200IsOnTheNewPrimaryExactlyOnce() throws {
        let r = try runCommand(["\(projectRoot)/bench/failover"], environment: settings.merging(
            ["ENV_FILE": "\(dir)/env", "DURATION": "12", "KILL_AFTER": "3", "CONNECTIONS": "2", "REQUESTS": "4000", "REJOIN": "0", "REMINDERS": "100"]) { $1 })
        let report = r.stdout.split(separator: "\n").filter { $0.hasPrefix("[failover]") }
        print(report.joined(separator: "\n"))
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr.suffix(3000))")
        func line(_ prefix: String) -> String { report.first { $0.contains(prefix) }.map(String.init) ?? "" }
        #expect(line("answered 200:").contains("lost on the new primary: 0"), "\(r.stdout)")
        #expect(line("replies:").contains("inbound with more than one: 0"), "\(r.stdout)")
        #expect(line("replies:").contains("patients with more than one: 0; double-booked starts: 0"), "\(r.stdout)")
        // The jobs meanwhile: `medsync-jobs reminders` in a loop across the kill, each reminder's claim
        // in the database: every patient reminded, none twice.
        #expect(line("reminders:").contains("100 of 100 patients reminded; reminded twice: 0"), "\(r.stdout)")
        #expect(line("reminders:").contains("appointments with two: 0"), "\(r.stdout)")
        // The other node took over: the failover happened, it was not the old primary restarted.
        let primaries = line("primary before:")
        #expect(primaries.contains("before: node1; after: node2"), "\(r.stdout)")
        // Webhooks were answered 200 after the kill, so some reached the new primary.
        #expect(!line("first webhook committed").hasSuffix(": - s"), "\(r.stdout)")
    }
}
