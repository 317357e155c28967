import ArgumentParser
import Domain
import MedsyncLog
import Foundation

/// `medsync-jobs reminders`.
struct RemindersCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reminders",
        abstract: "Send due appointment reminders (run every 5 minutes by medsync-reminders.timer).",
        discussion: "Each appointment is claimed in reminder_log before it is sent, so several hosts may run this at once.")

    @OptionGroup var database: DatabaseOptions
    @OptionGroup var flags: JobFlags

    func run() throws {
        try runJob(database, dryRun: flags.dryRun) { conn, http, config in
            let summary = try ReminderJob.run(store: PostgresStores(conn).reminderClaims, messenger: OutboundMessenger(PostgresStores(conn).messages, http: http, config: config),
                                              sendRate: config.sendRate, options: flags.options, log: jobsLog)
            for line in summary.plan { print(line) }
            return summary.description
        }
    }
}
