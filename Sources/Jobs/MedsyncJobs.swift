import ArgumentParser
import Domain
import MedsyncLog
import Foundation
import MedsyncConfig
import Postgres

/// `medsync-jobs`: short-lived runs started by systemd timers or an operator.
/// Each `run()` only parses, opens the database and calls a plain function (`JobsCommands`),
/// which is what the tests call.
@main
struct MedsyncJobs: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "medsync-jobs",
        abstract: "MedSync jobs and operator commands.",
        discussion: "Reads DATABASE_URL (libpq connection string) from the environment; `migrate` reads MEDSYNC_SQL_DIR (default ./sql).",
        subcommands: [Migrate.self, WorkspaceCommand.self, UserCommand.self, TokenCommand.self, RemindersCommand.self, BundlesCommand.self, SenderCommand.self, FernetCommand.self]
    )

    /// Logging first (MEDSYNC_LOG_LEVEL), then ArgumentParser's parsing and the subcommand.
    static func main() {
        MedsyncLogging.bootstrap(program: "medsync-jobs", environment: ProcessInfo.processInfo.environment)
        Self.main(nil)
    }
}

/// Where the database is: `--database-url`, else DATABASE_URL read through `Config` (environment,
/// then an optional `.env` in the current directory).
struct DatabaseOptions: ParsableArguments {
    @Option(name: .customLong("database-url"), help: "libpq connection string (default: $DATABASE_URL).")
    var databaseURL: String?

    func connect() throws -> PGConnection {
        let url: String
        let config: Config
        if let databaseURL, !databaseURL.isEmpty {
            config = try loadConfig()
            url = databaseURL
        } else {
            config = try loadConfig(requiring: [.databaseURL])
            url = try config.string(.databaseURL)
        }
        do {
            // With the session limits of the configuration (connect, statement and idle-transaction timeouts).
            return try PGConnection(try config.databaseSession.conninfo(url))
        } catch let error as PGError {
            throw JobsFailure(message: "cannot connect to the database: \(error.serverMessage)", exitCode: 69)
        }
    }
}

/// The configuration, or a one-line failure naming what is missing or malformed (exit 78).
func loadConfig(requiring keys: [Config.Key] = []) throws -> Config {
    do {
        return try Config.load(requiring: keys)
    } catch {
        throw JobsFailure(message: error.message, exitCode: 78)
    }
}

/// A failure reported on stderr with its exit code (sysexits: 65 bad data, 69 unavailable, 78 config).
struct JobsFailure: Error {
    let message: String
    let exitCode: Int32
}

/// Runs a command body with the database, turning errors into one stderr line and an exit code
/// (`JobsExit`: refused input 65, database unavailable 69, other database errors 70, configuration 78).
func withDatabase<T>(_ options: DatabaseOptions, _ body: (PGConnection) throws -> T) throws -> T {
    do {
        return try body(try options.connect())
    } catch {
        throw JobsExit.report(error)
    }
}

/// The jobs' log: stderr lines (`medsync-jobs: error: …`), in the journal under systemd; summaries
/// and plans go to stdout.
let jobsLog = Logger(label: "medsync-jobs")

struct Migrate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending sql/NNNN_*.sql migrations (each in a transaction, under an advisory lock).")

    @OptionGroup var database: DatabaseOptions
    @Option(name: .customLong("sql-dir"), help: "Migrations directory (default: $MEDSYNC_SQL_DIR or ./sql).")
    var sqlDirectory: String?

    func run() throws {
        let applied = try withDatabase(database) { conn in
            // A migration may rewrite a large table, and waits for other hosts' migrations on a lock:
            // no statement timeout for this session.
            try conn.execute("SET statement_timeout = 0")
            return try Migrator(directory: try sqlDirectory ?? loadConfig().sqlDir).migrate(conn)
        }
        for version in applied { print("applied \(version)") }
        if applied.isEmpty { print("up to date") }
    }
}

struct WorkspaceCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "workspace", abstract: "Create and list workspaces (clinics).",
        subcommands: [Create.self, List.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a workspace; prints its id.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Clinic name.") var name: String
        @Option(help: "IANA timezone, e.g. America/Mexico_City.") var timezone: String

        func run() throws {
            let workspace = try withDatabase(database) { try Workspaces.create(PostgresStores($0).workspaces, name: name, timezone: timezone) }
            print(workspace.id)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List workspaces: id<TAB>timezone<TAB>name per line.")
        @OptionGroup var database: DatabaseOptions

        func run() throws {
            for w in try withDatabase(database, { try Workspaces.list(PostgresStores($0).workspaces) }) {
                print("\(w.id)\t\(w.timezone)\t\(w.name)")
            }
        }
    }
}

struct UserCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "user", abstract: "Create users and their memberships; set passwords.", subcommands: [Create.self, SetPassword.self])

    struct SetPassword: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "set-password",
            abstract: "Set a user's password; every API token of the user is revoked. Prints how many were.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "User email or id.") var user: String
        @Option(help: "The new password (visible in ps; prefer --password-env).") var password: String?
        @Option(name: .customLong("password-env"), help: "Read the new password from this environment variable.")
        var passwordEnv: String?

        func validate() throws {
            if (password == nil) == (passwordEnv == nil) { throw ValidationError("give --password or --password-env") }
        }

        func run() throws {
            var secret = password ?? ""
            if let passwordEnv {
                guard let value = ProcessInfo.processInfo.environment[passwordEnv], !value.isEmpty else {
                    throw ValidationError("environment variable \(passwordEnv) is empty")
                }
                secret = value
            }
            let list = CommonPasswords.at(try loadConfig().commonPasswordsPath)
            let revoked = try withDatabase(database) { try JobsCommands.setPassword($0, user: user, password: secret, list: list) }
            print("revoked \(revoked) token\(revoked == 1 ? "" : "s")")
        }
    }

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a user as a member of a workspace; prints the user id. An email that already has an account is refused unless --keep-password or --reset-password says what to do.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Email (unique, case-insensitive).") var email: String
        @Option(help: "Workspace id.") var workspace: Int64
        @Option(help: "owner | admin_doctor | doctor | staff") var role: String
        @Option(help: "Display name.") var name: String?
        @Option(help: "Password for /api/auth/login (visible in ps; prefer --password-env).") var password: String?
        @Option(name: .customLong("password-env"), help: "Read the password from this environment variable.")
        var passwordEnv: String?
        @Flag(name: .customLong("keep-password"), help: "When the email already has an account: add it to the workspace as it is (its name and password stay).")
        var keepPassword = false
        @Flag(name: .customLong("reset-password"), help: "When the email already has an account: replace its password with the one given (revokes its tokens).")
        var resetPassword = false

        func validate() throws {
            guard Role(rawValue: role) != nil else {
                throw ValidationError("--role must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if password != nil && passwordEnv != nil { throw ValidationError("give --password or --password-env, not both") }
            if keepPassword && resetPassword { throw ValidationError("give --keep-password or --reset-password, not both") }
            if keepPassword && (password != nil || passwordEnv != nil) {
                throw ValidationError("--keep-password keeps the existing password: give no --password or --password-env with it")
            }
            if resetPassword && password == nil && passwordEnv == nil {
                throw ValidationError("--reset-password needs the new password (--password or --password-env)")
            }
        }

        func run() throws {
            var secret = password
            if let passwordEnv {
                guard let value = ProcessInfo.processInfo.environment[passwordEnv], !value.isEmpty else {
                    throw ValidationError("environment variable \(passwordEnv) is empty")
                }
                secret = value
            }
            let list = CommonPasswords.at(try loadConfig().commonPasswordsPath)
            let user = try withDatabase(database) { conn in
                try JobsCommands.createUser(conn, email: email, name: name, password: secret, workspaceID: workspace,
                                            role: Role(rawValue: role)!,
                                            ifExists: keepPassword ? .keepPassword : resetPassword ? .replacePassword : .refuse, list: list)
            }
            print(user.id)
        }
    }
}

struct TokenCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "token", abstract: "Create API tokens.", subcommands: [Create.self])

    struct Create: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create an API token for a user; prints it once (only its hash is stored).")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "User email or id.") var user: String
        @Option(help: "A name to recognize the token by.") var name: String = ""

        func run() throws {
            let token = try withDatabase(database) { try JobsCommands.createToken($0, user: user, name: name) }
            print(token)
        }
    }
}
