import ArgumentParser
import Domain
import MedsyncLog
import Foundation

/// `medsync-jobs bundles`.
struct BundlesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bundles",
        abstract: "Send queued bundle batches (run every minute by medsync-bundles.timer).",
        discussion: "Paced per sender at MEDSYNC_SEND_RATE messages/second; 429/5xx retried with backoff; a recipient "
            + "interrupted mid-send by a crash is marked unknown, never resent.")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var flags: JobFlags

    func run() throws {
        try runJob(database, dryRun: flags.dryRun) { conn, http, config in
            let summary = try BundleJob.run(store: PostgresStores(conn).bundleClaims, messenger: OutboundMessenger(PostgresStores(conn).messages, http: http, config: config),
                                            sendRate: config.sendRate, options: flags.options, log: jobsLog)
            for line in summary.plan { print(line) }
            return summary.description
        }
    }
}
