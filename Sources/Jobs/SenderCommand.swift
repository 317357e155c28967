import ArgumentParser
import Domain
import MedsyncLog
import Foundation
import MedsyncConfig
import HTTPClient
import Postgres

/// `medsync-jobs sender assign --workspace ID --number +E164 --name NAME [--subaccount-sid AC… --subaccount-token-env VAR]`
/// (also `sender link … --phone`): the operator's way to give a workspace a WhatsApp sender — the only
/// way for a number of the platform's master account, which members cannot link themselves. The same
/// use case as POST /api/whatsapp/link-existing (`Senders.link`: Twilio — TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN —
/// is asked that the account owns the number; a number another workspace holds is refused until it
/// releases it), audited as `sender.assign` in the sender's transaction (the entry names no user, as
/// the operator is none).
struct SenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sender", abstract: "Assign and list WhatsApp sender numbers.", subcommands: [Link.self, List.self])

    struct Link: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "assign", abstract: "Assign a WhatsApp sender number to a workspace (audited); prints the sender id.",
            aliases: ["link"])
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Workspace id.") var workspace: Int64
        @Option(name: [.customLong("number"), .customLong("phone")], help: "Sender number in E.164, e.g. +14155550100.") var phone: String
        @Option(help: "Display name.") var name: String = ""
        @Option(name: .customLong("subaccount-sid"), help: "Twilio subaccount SID owning the number (optional).")
        var subaccountSID: String?
        @Option(name: .customLong("subaccount-token-env"), help: "Environment variable holding the subaccount auth token.")
        var subaccountTokenEnv: String?

        func validate() throws {
            if (subaccountSID == nil) != (subaccountTokenEnv == nil) {
                throw ValidationError("give --subaccount-sid and --subaccount-token-env together")
            }
        }

        func run() throws {
            let token = subaccountTokenEnv.flatMap { ProcessInfo.processInfo.environment[$0] }
            if subaccountTokenEnv != nil && (token ?? "").isEmpty {
                throw ValidationError("environment variable \(subaccountTokenEnv!) is empty")
            }
            let config = try loadConfig()
            HTTPClient.globalInit()
            let http: HTTPClient
            do {
                http = try HTTPClient(connectTimeoutMS: 5000, timeoutMS: 15000)
            } catch {
                throw JobsExit.report(JobsFailure(message: "cannot start the HTTP client: \(error.message)", exitCode: 70))
            }
            let sender = try withDatabase(database) { conn in
                try SenderCommand.link(conn, http: http, config: config, workspaceID: workspace, phone: phone, name: name,
                                       subaccountSID: subaccountSID, subaccountToken: token)
            }
            print(sender.id)
        }
    }

    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "List a workspace's senders: id<TAB>phone<TAB>active<TAB>primary<TAB>name per line.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Workspace id.") var workspace: Int64

        func run() throws {
            for s in try withDatabase(database, { try Senders.list(PostgresStores($0).senders, workspaceID: workspace) }) {
                print("\(s.id)\t\(s.phoneNumber)\t\(s.isActive ? "active" : "inactive")\t\(s.isPrimary ? "primary" : "-")\t\(s.displayName)")
            }
        }
    }

    /// The plain function behind `sender assign` (what tests call).
    static func link(_ conn: PGConnection, http: HTTPClient, config: Config, workspaceID: Int64, phone: String, name: String,
                     subaccountSID: String? = nil, subaccountToken: String? = nil) throws -> Senders.View {
        let stores = PostgresStores(conn)
        guard try Workspaces.get(stores.workspaces, id: workspaceID) != nil else {
            throw AppError(.workspaceNotFound, "workspace \(workspaceID) does not exist")
        }
        return try Senders.link(stores.senders, http: http, config: config, actor: OperatorActor(workspaceID: workspaceID), .init(
            phoneNumber: phone, displayName: name, subaccountSID: subaccountSID, subaccountToken: subaccountToken))
    }
}
