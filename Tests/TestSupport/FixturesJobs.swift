import Domain
import MedsyncConfig
import HTTPClient
import Postgres

/// The jobs on a PostgreSQL connection, as `medsync-jobs` runs them (the stores of `conn`, Outbound on
/// it, Twilio through `http`): for the tests that run them against the stack.
extension ReminderJob {
    public static func run(_ conn: PGConnection, http: HTTPClient, config: Config, options: JobOptions = JobOptions(),
                           clock: any JobClock = SystemClock(), retry: RetryPolicy = RetryPolicy(maxAttempts: 3)) throws -> Summary {
        try run(store: PostgresStores(conn).reminderClaims, messenger: OutboundMessenger(PostgresStores(conn).messages, http: http, config: config),
                sendRate: config.sendRate, options: options, clock: clock, retry: retry)
    }
}

extension JobsWorld {
    /// `medsync-jobs reminders` on this world's database and the sandbox.
    public func runReminders(clock: any JobClock = SystemClock()) throws -> ReminderJob.Summary {
        try ReminderJob.run(conn, http: HTTPClient(), config: config(), clock: clock)
    }
}
