import ArgumentParser
import Domain
import MedsyncConfig
import Postgres
import MedsyncLog

/// The one place where the jobs turn an error into its stderr line and exit code (sysexits):
///
/// | error | exit |
/// |---|---|
/// | `JobsFailure` | its own code |
/// | `ConfigError` (missing or malformed configuration) | 78 |
/// | `AppError`, `Migrator.MigrationError` (refused input or data) | 65 |
/// | `PGError`, connection failure | 69 |
/// | `PGError`, any other | 70 |
///
/// ArgumentParser's own errors (`ExitCode`, `ValidationError`, …) and anything else pass through
/// unchanged, for ArgumentParser to report.
enum JobsExit {
    /// The exit code and the line for an error this table knows; nil for one it does not.
    static func classify(_ error: any Error) -> (code: Int32, line: String)? {
        switch error {
        case let e as JobsFailure: return (e.exitCode, e.message)
        case let e as ConfigError: return (78, e.message)
        case let e as AppError: return (65, "\(e.code.rawValue): \(e.message)")
        case let e as Migrator.MigrationError: return (65, "\(e.code): \(e.message)")
        // debugDescription: SQLSTATE, message, constraint — never the DETAIL (row values).
        case let e as PGError: return (e.isConnectionFailure ? 69 : 70, e.debugDescription)
        default: return nil
        }
    }

    /// Logs an error the table knows and answers its `ExitCode`; any other error comes back as it is.
    static func report(_ error: any Error) -> any Error {
        guard let (code, line) = classify(error) else { return error }
        jobsLog.error("\(line)")
        return ExitCode(code)
    }
}
