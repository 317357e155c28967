import Foundation
import Store

/// The senders, their numbers' claims, provisioning records and subaccounts in memory (see
/// MemoryAuditStore), with the schema's rules the use cases rely on: an active sender takes the
/// lowest free slot of 1…3 and the first active one is primary (0001's triggers), an active sender
/// claims its number and another workspace's claim refuses it (0018's trigger), one running
/// provisioning per workspace (0006's unique index).
public final class MemorySenderStore: SenderStore, @unchecked Sendable {
    public struct Sender {
        public let id: Int64
        public let workspaceID: Int64
        public let phoneNumber: String
        public var displayName: String
        public var isActive = true
        public var isPrimary = false
        public var slot: Int?
        public let subaccountSID: String?
        public var subaccountTokenEncrypted: String?
        public let phoneNumberSID: String?
        public let createdAt: Date
        public var deactivatedAt: Date?
    }

    public struct Claim {
        public let phoneNumber: String
        public let workspaceID: Int64
        public var claimedAt: Date
        public var releasedAt: Date?
        public init(phoneNumber: String, workspaceID: Int64, claimedAt: Date, releasedAt: Date? = nil) {
            self.phoneNumber = phoneNumber
            self.workspaceID = workspaceID
            self.claimedAt = claimedAt
            self.releasedAt = releasedAt
        }
    }

    public struct Provisioning {
        public let id: Int64
        public let workspaceID: Int64
        public let key: String
        public let request: String
        public var status = "running"
        public var senderID: Int64?
        public var subaccountSID: String?
        public var numberSID: String?
        public var phoneNumber: String?
        public var errorCode: String?
        public var cleanup: String?
        public var createdAt: Date
        public var updatedAt: Date
        public init(id: Int64, workspaceID: Int64, key: String, request: String, status: String = "running", senderID: Int64? = nil,
                    createdAt: Date, updatedAt: Date) {
            self.id = id
            self.workspaceID = workspaceID
            self.key = key
            self.request = request
            self.status = status
            self.senderID = senderID
            self.createdAt = createdAt
            self.updatedAt = updatedAt
        }
    }

    public struct Subaccount {
        public let workspaceID: Int64
        public let sid: String
        public var authTokenEncrypted: String
        public var closed = false
    }

    public let audit: MemoryAuditStore
    public var now = Date()
    public var senders: [Sender] = []
    public var claims: [Claim] = []
    public var provisionings: [Provisioning] = []
    public var subaccounts: [Subaccount] = []

    public init(audit: MemoryAuditStore = MemoryAuditStore()) { self.audit = audit }

    func view(_ s: Sender) -> SenderView {
        SenderView(id: s.id, phoneNumber: s.phoneNumber, displayName: s.displayName, isActive: s.isActive, isPrimary: s.isPrimary, slot: s.slot,
                   twilioSubaccountSID: s.subaccountSID, phoneNumberSID: s.phoneNumberSID, createdAt: s.createdAt, deactivatedAt: s.deactivatedAt)
    }

    public func list(workspaceID: Int64) throws -> [SenderView] {
        senders.filter { $0.workspaceID == workspaceID }
            .sorted { a, b in
                if a.isActive != b.isActive { return a.isActive }
                if a.isPrimary != b.isPrimary { return a.isPrimary }
                if a.slot != b.slot { return (a.slot ?? 99) < (b.slot ?? 99) }
                return a.id < b.id
            }.map(view)
    }

    func index(_ workspaceID: Int64, _ id: Int64) -> Int? { senders.firstIndex { $0.workspaceID == workspaceID && $0.id == id } }

    public func get(workspaceID: Int64, id: Int64) throws -> SenderView? { index(workspaceID, id).map { view(senders[$0]) } }

    public func credentials(workspaceID: Int64, id: Int64) throws -> SenderCredentials? {
        index(workspaceID, id).map { SenderCredentials(sender: view(senders[$0]), subaccountTokenEncrypted: senders[$0].subaccountTokenEncrypted) }
    }

    public func activeCount(workspaceID: Int64) throws -> Int { senders.filter { $0.workspaceID == workspaceID && $0.isActive }.count }

    public func numbersTaken(workspaceID: Int64) throws -> Int {
        claims.filter { $0.workspaceID == workspaceID && $0.claimedAt > now.addingTimeInterval(-86_400) }.count
    }

    /// 0001's slot trigger and 0018's claim trigger as a sender becomes active; false when another
    /// workspace holds the number.
    func activate(_ i: Int) throws -> Bool {
        let s = senders[i]
        if let held = claims.first(where: { $0.phoneNumber == s.phoneNumber && $0.releasedAt == nil }) {
            guard held.workspaceID == s.workspaceID else { return false }
        } else {
            claims.append(Claim(phoneNumber: s.phoneNumber, workspaceID: s.workspaceID, claimedAt: now))
        }
        let taken = Set(senders.filter { $0.workspaceID == s.workspaceID && $0.id != s.id }.compactMap(\.slot))
        guard let slot = (1...3).first(where: { !taken.contains($0) }) else {
            throw AppError(.tooManySenders, "a workspace has at most 3 active WhatsApp senders")
        }
        senders[i].isActive = true
        senders[i].slot = slot
        senders[i].deactivatedAt = nil
        if !senders.contains(where: { $0.workspaceID == s.workspaceID && $0.isPrimary && $0.id != s.id }) { senders[i].isPrimary = true }
        return true
    }

    public func reactivate(workspaceID: Int64, phone: String, name: String, maxActive: Int,
                           audit entry: (Int64) -> AuditEntry) throws -> SenderReactivation {
        guard claims.contains(where: { $0.phoneNumber == phone && $0.workspaceID == workspaceID && $0.releasedAt == nil }) else { return .notHeld }
        let candidates = senders.indices.filter { senders[$0].workspaceID == workspaceID && senders[$0].phoneNumber == phone }
        guard let i = candidates.max(by: { a, b in
            let x = senders[a], y = senders[b]
            if x.isActive != y.isActive { return y.isActive }
            if x.deactivatedAt != y.deactivatedAt { return (x.deactivatedAt ?? .distantFuture) < (y.deactivatedAt ?? .distantFuture) }
            return x.id < y.id
        }) else { return .notHeld }
        if senders[i].isActive { return .alreadyActive }
        guard try activeCount(workspaceID: workspaceID) < maxActive else { return .noFreeSlot }
        guard try activate(i) else { return .notHeld }
        if !name.isEmpty { senders[i].displayName = name }
        try audit.record(entry(senders[i].id))
        return .reactivated(view(senders[i]))
    }

    public func insert(_ s: NewSender, maxActive: Int, audit entry: (SenderView) -> AuditEntry) throws -> SenderInsertion {
        if let existing = senders.first(where: { $0.phoneNumber == s.phoneNumber && $0.isActive }) {
            return existing.workspaceID == s.workspaceID ? .alreadyLinked : .heldElsewhere
        }
        guard try activeCount(workspaceID: s.workspaceID) < maxActive else { return .noFreeSlot }
        senders.append(Sender(id: Int64(senders.count + 1), workspaceID: s.workspaceID, phoneNumber: s.phoneNumber, displayName: s.displayName,
                              subaccountSID: s.subaccountSID, subaccountTokenEncrypted: s.subaccountTokenEncrypted, phoneNumberSID: s.phoneNumberSID,
                              createdAt: now))
        guard try activate(senders.count - 1) else {
            senders.removeLast()
            return .heldElsewhere
        }
        let view = view(senders[senders.count - 1])
        try audit.record(entry(view))
        return .inserted(view)
    }

    public func deactivate(workspaceID: Int64, id: Int64, audit entry: (SenderView) -> AuditEntry) throws -> SenderDeactivation {
        guard let i = index(workspaceID, id) else { return .notFound }
        let sender = senders[i]
        guard sender.isActive else {
            let kept = claims.contains { $0.phoneNumber == sender.phoneNumber && $0.workspaceID == workspaceID && $0.releasedAt == nil }
                && !senders.contains { $0.phoneNumber == sender.phoneNumber && $0.isActive }
            return .alreadyInactive(view(sender), numberKept: kept)
        }
        senders[i].isActive = false
        senders[i].slot = nil
        senders[i].isPrimary = false
        senders[i].deactivatedAt = now
        if sender.isPrimary, let next = senders.indices.filter({ senders[$0].workspaceID == workspaceID && senders[$0].isActive })
            .min(by: { (senders[$0].slot ?? 99, senders[$0].id) < (senders[$1].slot ?? 99, senders[$1].id) }) {
            senders[next].isPrimary = true
        }
        try audit.record(entry(view(sender)))
        return .deactivated(view(senders[i]))
    }

    public func releaseClaim(workspaceID: Int64, phone: String, audit entry: AuditEntry) throws {
        if !senders.contains(where: { $0.phoneNumber == phone && $0.isActive }) {
            for i in claims.indices where claims[i].workspaceID == workspaceID && claims[i].phoneNumber == phone && claims[i].releasedAt == nil {
                claims[i].releasedAt = now
            }
        }
        try audit.record(entry)
    }

    public func makePrimary(workspaceID: Int64, id: Int64, audit entry: (SenderView) -> AuditEntry) throws -> SenderPrimary {
        guard let i = index(workspaceID, id) else { return .notFound }
        guard senders[i].isActive else { return .inactive }
        try audit.record(entry(view(senders[i])))
        for j in senders.indices where senders[j].workspaceID == workspaceID { senders[j].isPrimary = j == i }
        return .primary(view(senders[i]))
    }

    // MARK: provisioning records

    public func abandonProvisionings(workspaceID: Int64, after seconds: Int) throws {
        for i in provisionings.indices where provisionings[i].workspaceID == workspaceID && provisionings[i].status == "running"
            && provisionings[i].updatedAt < now.addingTimeInterval(-Double(seconds)) {
            provisionings[i].status = "failed"
            provisionings[i].errorCode = "abandoned"
        }
    }

    public func provisioning(workspaceID: Int64, key: String) throws -> ProvisioningRecord? {
        provisionings.first { $0.workspaceID == workspaceID && $0.key == key }
            .map { ProvisioningRecord(id: $0.id, request: $0.request, status: $0.status, senderID: $0.senderID) }
    }

    public func deleteFailedProvisioning(id: Int64) throws {
        provisionings.removeAll { $0.id == id && $0.status == "failed" }
    }

    public func startProvisioning(workspaceID: Int64, key: String, request: String) throws -> Int64? {
        guard !provisionings.contains(where: { $0.workspaceID == workspaceID && ($0.status == "running" || $0.key == key) }) else { return nil }
        let id = (provisionings.map(\.id).max() ?? 0) + 1
        provisionings.append(Provisioning(id: id, workspaceID: workspaceID, key: key, request: request, createdAt: now, updatedAt: now))
        return id
    }

    public func provisioningsStarted(workspaceID: Int64, excluding id: Int64) throws -> Int {
        provisionings.filter { $0.workspaceID == workspaceID && $0.createdAt > now.addingTimeInterval(-86_400) && $0.id != id }.count
    }

    func update(_ id: Int64, _ change: (inout Provisioning) -> Void) {
        guard let i = provisionings.firstIndex(where: { $0.id == id }) else { return }
        change(&provisionings[i])
        provisionings[i].updatedAt = now
    }

    public func noteProvisioning(_ id: Int64, subaccountSID: String) throws { update(id) { $0.subaccountSID = subaccountSID } }

    public func noteProvisioning(_ id: Int64, numberSID: String, phoneNumber: String) throws {
        update(id) { $0.numberSID = numberSID; $0.phoneNumber = phoneNumber }
    }

    public func completeProvisioning(_ id: Int64, senderID: Int64) throws { update(id) { $0.status = "completed"; $0.senderID = senderID } }

    public func failProvisioning(_ id: Int64, code: String, cleanup: String) throws {
        update(id) { $0.status = "failed"; $0.errorCode = code; $0.cleanup = String(cleanup.prefix(2000)) }
    }

    // MARK: subaccounts

    public func openSubaccount(workspaceID: Int64) throws -> StoredSubaccount? {
        subaccounts.first { $0.workspaceID == workspaceID && !$0.closed }.map { StoredSubaccount(sid: $0.sid, authTokenEncrypted: $0.authTokenEncrypted) }
    }

    public func closeSubaccount(sid: String) throws {
        for i in subaccounts.indices where subaccounts[i].sid == sid { subaccounts[i].closed = true }
    }

    public func subaccountCount(workspaceID: Int64) throws -> Int { subaccounts.filter { $0.workspaceID == workspaceID }.count }

    public func addSubaccount(workspaceID: Int64, sid: String, authTokenEncrypted: String) throws {
        subaccounts.append(Subaccount(workspaceID: workspaceID, sid: sid, authTokenEncrypted: authTokenEncrypted))
    }

    public func heldNumbers(_ numbers: [String]) throws -> Set<String> {
        Set(claims.filter { $0.releasedAt == nil && numbers.contains($0.phoneNumber) }.map(\.phoneNumber))
    }

    // MARK: Fernet rotation

    public func fernetTokens(_ column: FernetColumn, after: Int64, limit: Int) throws -> [(id: Int64, token: String)] {
        switch column {
        case .senderToken:
            return senders.filter { $0.id > after }.compactMap { s in s.subaccountTokenEncrypted.map { (s.id, $0) } }.prefix(limit).map { $0 }
        case .subaccountToken:
            return subaccounts.enumerated().map { (Int64($0.offset + 1), $0.element.authTokenEncrypted) }.filter { $0.0 > after }.prefix(limit).map { $0 }
        }
    }

    public func rewriteFernetTokens(_ column: FernetColumn, _ rewrites: [FernetRewrite]) throws -> Int {
        var n = 0
        for r in rewrites {
            switch column {
            case .senderToken:
                if let i = senders.firstIndex(where: { $0.id == r.id && $0.subaccountTokenEncrypted == r.old }) {
                    senders[i].subaccountTokenEncrypted = r.new
                    n += 1
                }
            case .subaccountToken:
                let i = Int(r.id) - 1
                if subaccounts.indices.contains(i), subaccounts[i].authTokenEncrypted == r.old {
                    subaccounts[i].authTokenEncrypted = r.new
                    n += 1
                }
            }
        }
        return n
    }
}
