import Foundation
import Testing
import TestSupport

/// Backups that have been restored: scripts/restore-drill on a cluster of its own that archives its
/// WAL — a conversation, a base backup (scripts/backup), more messages, the instant T, another
/// patient's message after T, an accidental DELETE of the first patient; scripts/restore replays the
/// archive into a new data directory up to T: the patient and every message of theirs are back, the
/// message written after T is not.
@Suite(.needsStack) struct RestoreDrillTests {
    @Test func pointInTimeRecoveryBringsTheDeletedConversationBack() throws {
        let binDir = ProcessInfo.processInfo.environment["BIN_DIR"] ?? "\(projectRoot)/.build/debug"
        let r = try runCommand(["\(projectRoot)/scripts/restore-drill"],
                               environment: ["DRILL_DIR": "\(projectRoot)/.run/test-drill", "BIN_DIR": binDir])
        print(r.stderr.split(separator: "\n").filter { $0.hasPrefix("[drill]") }.joined(separator: "\n"))
        #expect(r.status == 0, "\(r.stdout)\n\(r.stderr.suffix(3000))")
        #expect(r.stdout.contains("restore drill: PASS"), "\(r.stdout)\n\(r.stderr.suffix(3000))")
        #expect(r.stderr.contains("ok: her conversation's messages are back, in order"))
        #expect(r.stderr.contains("ok: the message written after T is not there"))
    }
}
