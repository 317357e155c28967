import Foundation
import Postgres

/// A workspace's WhatsApp sender as the API shows it (never its credentials).
public struct SenderView: Sendable, Encodable, Equatable {
    public let id: Int64
    public let phoneNumber: String
    public let displayName: String
    public let isActive: Bool
    public let isPrimary: Bool
    public let slot: Int?
    public let twilioSubaccountSID: String?
    public let phoneNumberSID: String?
    public let createdAt: Date
    public let deactivatedAt: Date?
    enum CodingKeys: String, CodingKey {
        case id, slot
        case phoneNumber = "phone_number", displayName = "display_name", isActive = "is_active", isPrimary = "is_primary"
        case twilioSubaccountSID = "twilio_subaccount_sid", phoneNumberSID = "phone_number_sid"
        case createdAt = "created_at", deactivatedAt = "deactivated_at"
    }

    public init(id: Int64, phoneNumber: String, displayName: String, isActive: Bool, isPrimary: Bool, slot: Int?,
                twilioSubaccountSID: String?, phoneNumberSID: String?, createdAt: Date, deactivatedAt: Date?) {
        self.id = id
        self.phoneNumber = phoneNumber
        self.displayName = displayName
        self.isActive = isActive
        self.isPrimary = isPrimary
        self.slot = slot
        self.twilioSubaccountSID = twilioSubaccountSID
        self.phoneNumberSID = phoneNumberSID
        self.createdAt = createdAt
        self.deactivatedAt = deactivatedAt
    }

    init(row: PGRow) throws {
        id = try row.decode(Int64.self, "id")
        phoneNumber = try row.decode(String.self, "phone_number")
        displayName = try row.decode(String?.self, "display_name") ?? ""
        isActive = try row.decode(Bool?.self, "is_active") ?? false
        isPrimary = try row.decode(Bool?.self, "is_primary") ?? false
        slot = try row.decode(Int?.self, "slot")
        twilioSubaccountSID = try row.decode(String?.self, "twilio_subaccount_sid")
        phoneNumberSID = try row.decode(String?.self, "phone_number_sid")
        createdAt = try row.decode(Date.self, "created_at")
        deactivatedAt = try row.decode(Date?.self, "deactivated_at")
    }
}

/// A sender with its subaccount's auth token as stored (Fernet-encrypted).
public struct SenderCredentials: Sendable, Equatable {
    public let sender: SenderView
    public let subaccountTokenEncrypted: String?
    public init(sender: SenderView, subaccountTokenEncrypted: String?) {
        self.sender = sender
        self.subaccountTokenEncrypted = subaccountTokenEncrypted
    }
}

/// A verified sender about to be stored; the auth token already encrypted.
public struct NewSender: Sendable, Equatable {
    public let workspaceID: Int64
    public let phoneNumber: String
    public let displayName: String
    public let subaccountSID: String?
    public let subaccountTokenEncrypted: String?
    public let phoneNumberSID: String?
    public init(workspaceID: Int64, phoneNumber: String, displayName: String, subaccountSID: String?, subaccountTokenEncrypted: String?,
                phoneNumberSID: String?) {
        self.workspaceID = workspaceID
        self.phoneNumber = phoneNumber
        self.displayName = displayName
        self.subaccountSID = subaccountSID
        self.subaccountTokenEncrypted = subaccountTokenEncrypted
        self.phoneNumberSID = phoneNumberSID
    }
}

/// What storing a sender came to; only `inserted` wrote anything.
public enum SenderInsertion: Sendable, Equatable {
    case inserted(SenderView)
    /// The number has an active sender in this workspace.
    case alreadyLinked
    /// Another workspace holds the number (an active sender, or its claim).
    case heldElsewhere
    /// The workspace has as many active senders as it may.
    case noFreeSlot
}

/// What bringing back a kept number came to.
public enum SenderReactivation: Sendable, Equatable {
    case reactivated(SenderView)
    /// The workspace does not hold the number with a sender of it.
    case notHeld
    case alreadyActive
    case noFreeSlot
}

/// What deactivating a sender came to.
public enum SenderDeactivation: Sendable, Equatable {
    case deactivated(SenderView)
    case notFound
    /// The sender was inactive already (nothing written); `numberKept`: the workspace still holds its
    /// number with no active sender of it.
    case alreadyInactive(SenderView, numberKept: Bool)
}

/// What making a sender primary came to.
public enum SenderPrimary: Sendable, Equatable {
    case primary(SenderView)
    case notFound
    case inactive
}

/// A provisioning record (`sender_provisionings`) found by its idempotency key.
public struct ProvisioningRecord: Sendable, Equatable {
    public let id: Int64
    public let request: String?
    public let status: String?
    public let senderID: Int64?
    public init(id: Int64, request: String?, status: String?, senderID: Int64?) {
        self.id = id
        self.request = request
        self.status = status
        self.senderID = senderID
    }
}

/// A workspace's open Twilio subaccount (`workspace_subaccounts`), its auth token encrypted.
public struct StoredSubaccount: Sendable, Equatable {
    public let sid: String
    public let authTokenEncrypted: String
    public init(sid: String, authTokenEncrypted: String) {
        self.sid = sid
        self.authTokenEncrypted = authTokenEncrypted
    }
}

/// Every column that holds a Fernet token.
public enum FernetColumn: Sendable, CaseIterable {
    case senderToken, subaccountToken

    /// Table, key column, token column: constants, never input.
    var names: (table: String, id: String, column: String) {
        switch self {
        case .senderToken: return ("whatsapp_senders", "id", "twilio_subaccount_token_enc")
        case .subaccountToken: return ("workspace_subaccounts", "id", "auth_token_enc")
        }
    }
    /// How a row is named in a report (never the token).
    public var table: String { names.table }
}

/// One stored Fernet token and, after rotation, its replacement.
public struct FernetRewrite: Sendable, Equatable {
    public let id: Int64
    public let old: String
    public let new: String
    public init(id: Int64, old: String, new: String) {
        self.id = id
        self.old = old
        self.new = new
    }
}

/// The workspaces' WhatsApp senders, their numbers' claims (`sender_number_claims`, kept by
/// migration 0018's trigger), the Twilio subaccounts provisioning opens and its records. Changes of
/// one workspace's senders are serialized (an advisory lock per workspace) so the checks made under
/// it (free slot, holds) stay true until commit.
public protocol SenderStore {
    func list(workspaceID: Int64) throws -> [SenderView]
    func get(workspaceID: Int64, id: Int64) throws -> SenderView?
    func credentials(workspaceID: Int64, id: Int64) throws -> SenderCredentials?
    /// The workspace's active senders.
    func activeCount(workspaceID: Int64) throws -> Int
    /// Numbers the workspace newly took (claims) in the last 24 hours.
    func numbersTaken(workspaceID: Int64) throws -> Int
    /// The workspace's newest sender of a number it still holds comes back active (renamed unless
    /// `name` is empty), with the entry `audit` makes of its id; under the workspace's lock.
    func reactivate(workspaceID: Int64, phone: String, name: String, maxActive: Int, audit: (Int64) -> AuditEntry) throws -> SenderReactivation
    /// Stores a verified sender with the entry `audit` makes of it, under the workspace's lock.
    func insert(_ sender: NewSender, maxActive: Int, audit: (SenderView) -> AuditEntry) throws -> SenderInsertion
    /// Deactivates a sender (the active one in the lowest slot becomes primary when it was) with the
    /// entry `audit` makes of it, under the workspace's lock.
    func deactivate(workspaceID: Int64, id: Int64, audit: (SenderView) -> AuditEntry) throws -> SenderDeactivation
    /// Ends the workspace's claim on a number no sender has active, with its audit entry.
    func releaseClaim(workspaceID: Int64, phone: String, audit: AuditEntry) throws
    /// Makes an active sender primary, with the entry `audit` makes of it (also when it already was).
    func makePrimary(workspaceID: Int64, id: Int64, audit: (SenderView) -> AuditEntry) throws -> SenderPrimary

    // Provisioning records
    /// Runs of the workspace left running longer than `seconds` are failed as `abandoned`.
    func abandonProvisionings(workspaceID: Int64, after seconds: Int) throws
    func provisioning(workspaceID: Int64, key: String) throws -> ProvisioningRecord?
    func deleteFailedProvisioning(id: Int64) throws
    /// A new running record; nil when the workspace has one running already (or the key raced us).
    func startProvisioning(workspaceID: Int64, key: String, request: String) throws -> Int64?
    /// Provisionings the workspace started in the last 24 hours, `excluding` this one.
    func provisioningsStarted(workspaceID: Int64, excluding id: Int64) throws -> Int
    func noteProvisioning(_ id: Int64, subaccountSID: String) throws
    func noteProvisioning(_ id: Int64, numberSID: String, phoneNumber: String) throws
    func completeProvisioning(_ id: Int64, senderID: Int64) throws
    func failProvisioning(_ id: Int64, code: String, cleanup: String) throws

    // Subaccounts
    func openSubaccount(workspaceID: Int64) throws -> StoredSubaccount?
    func closeSubaccount(sid: String) throws
    /// Subaccounts the workspace ever had.
    func subaccountCount(workspaceID: Int64) throws -> Int
    func addSubaccount(workspaceID: Int64, sid: String, authTokenEncrypted: String) throws
    /// Which of `numbers` any workspace holds (as numbers only: `medsync_held_numbers`).
    func heldNumbers(_ numbers: [String]) throws -> Set<String>

    // Fernet rotation
    /// Up to `limit` stored tokens of the column with a key above `after`, by key.
    func fernetTokens(_ column: FernetColumn, after: Int64, limit: Int) throws -> [(id: Int64, token: String)]
    /// Rewrites each row that still holds its old token, in one transaction; returns how many did.
    @discardableResult
    func rewriteFernetTokens(_ column: FernetColumn, _ rewrites: [FernetRewrite]) throws -> Int
}
