import ArgumentParser
import Domain
import MedsyncLog
import Foundation
import MedsyncConfig
import HTTPClient
import Postgres

/// Options shared by `reminders` and `bundles`.
struct JobFlags: ParsableArguments {
    @Flag(name: .customLong("dry-run"), help: "Print what would be sent; claim, send and record nothing.")
    var dryRun = false
    @Option(help: "Send at most this many messages in this run.")
    var limit: Int?
    @Option(help: "Only this workspace id.")
    var workspace: Int64?

    func validate() throws {
        if let limit, limit < 1 { throw ValidationError("--limit must be at least 1") }
    }

    var options: JobOptions { JobOptions(dryRun: dryRun, limit: limit, workspaceID: workspace) }
}

/// Runs one job: configuration, database, HTTP client, then the plain function; prints its one
/// summary line on stdout. Exits non-zero only for infrastructure failures (configuration 78,
/// database unreachable 69, other database errors 70); Twilio errors are recorded, not fatal.
func runJob(_ database: DatabaseOptions, dryRun: Bool, _ body: (PGConnection, HTTPClient, Config) throws -> String) throws {
    let config: Config
    do {
        config = try loadConfig(requiring: dryRun ? [] : [.twilioAccountSID, .twilioAuthToken])
    } catch {
        throw JobsExit.report(error)
    }
    HTTPClient.globalInit()
    let http: HTTPClient
    do {
        http = try HTTPClient(connectTimeoutMS: 5000, timeoutMS: 15000)
    } catch {
        throw JobsExit.report(JobsFailure(message: "cannot start the HTTP client: \(error.message)", exitCode: 70))
    }
    let line = try withDatabase(database) { conn in try body(conn, http, config) }
    print(line)
}
