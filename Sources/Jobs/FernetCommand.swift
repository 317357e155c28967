import ArgumentParser
import Domain
import Foundation
import MedsyncConfig
import Postgres

/// `medsync-jobs fernet rotate`: re-encrypts every stored Fernet token (subaccount auth tokens) with
/// the first key of MEDSYNC_FERNET_KEYS (`FernetRotation`). Rotating a key: put the new key first and
/// the old one second (`MEDSYNC_FERNET_KEYS=new,old`), restart the app, run this, then drop the old key.
/// Prints `rewritten N, already current N, undecryptable N`; exits 65 when some token no listed key
/// decrypts (then the old key must not be dropped yet).
struct FernetCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "fernet", abstract: "Fernet keys of the stored credentials.", subcommands: [Rotate.self])

    struct Rotate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-encrypt every stored credential with the first key of MEDSYNC_FERNET_KEYS (in batches; idempotent).")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Rows per transaction.") var batch: Int = 200

        func validate() throws {
            guard (1...10_000).contains(batch) else { throw ValidationError("--batch is 1 to 10000") }
        }

        func run() throws {
            let config = try loadConfig(requiring: [.fernetKey])
            guard let fernet = config.fernet else { throw JobsExit.report(JobsFailure(message: "MEDSYNC_FERNET_KEYS is not set", exitCode: 78)) }
            let outcome = try withDatabase(database) { try FernetRotation.rotate(PostgresStores($0).senders, fernet: fernet, batchSize: batch) }
            print(outcome)
            if !outcome.undecryptable.isEmpty {
                throw JobsExit.report(JobsFailure(message: "\(outcome.undecryptable.count) stored credentials cannot be decrypted with any key of MEDSYNC_FERNET_KEYS; keep the key that encrypted them", exitCode: 65))
            }
        }
    }
}
