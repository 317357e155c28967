import ArgumentParser
import Domain
import MedsyncLog
import Foundation
import MedsyncConfig
import HTTPClient
import Postgres

/// `medsync-jobs sender link --workspace ID --phone +E164 --name NAME [--subaccount-sid AC… --subaccount-token-env VAR]`:
/// the operator's way to link a WhatsApp sender: the same use case as POST /api/whatsapp/link-existing
/// (`Senders.link`, which first asks Twilio — TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN — that the account owns
/// the number, and writes the same `sender.link` audit entry in the sender's transaction; the entry names
/// no user, as the operator is none).
struct SenderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "sender", abstract: "Link and list WhatsApp sender numbers.", subcommands: [Link.self, List.self])

    struct Link: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Link a WhatsApp sender number to a workspace; prints the sender id.")
        @OptionGroup var database: DatabaseOptions
        @Option(help: "Workspace id.") var workspace: Int64
        @Option(help: "Sender number in E.164, e.g. +14155550100.") var phone: String
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
            for s in try withDatabase(database, { try Senders.list($0, workspaceID: workspace) }) {
                print("\(s.id)\t\(s.phoneNumber)\t\(s.isActive ? "active" : "inactive")\t\(s.isPrimary ? "primary" : "-")\t\(s.displayName)")
            }
        }
    }

    /// The plain function behind `sender link` (what tests call).
    static func link(_ conn: PGConnection, http: HTTPClient, config: Config, workspaceID: Int64, phone: String, name: String,
                     subaccountSID: String? = nil, subaccountToken: String? = nil) throws -> Senders.View {
        guard try Workspaces.get(conn, id: workspaceID) != nil else {
            throw AppError(.workspaceNotFound, "workspace \(workspaceID) does not exist")
        }
        return try Senders.link(conn, http: http, config: config, actor: OperatorActor(workspaceID: workspaceID), .init(
            phoneNumber: phone, displayName: name, subaccountSID: subaccountSID, subaccountToken: subaccountToken))
    }
}
