import Foundation
import Store

/// The bundle run's claims in memory: batches, their recipients and the patients they are sent as,
/// the senders' locks, answering as `PGBundleClaimStore` does; StoreTests holds the PostgreSQL side
/// (the advisory lock across sessions, SKIP LOCKED claims).
public final class MemoryBundleClaimStore: BundleClaimStore, @unchecked Sendable {
    public struct Batch: Sendable {
        public let id: Int64
        public let workspaceID: Int64
        public let senderID: Int64
        public let body: String
        public var status = "queued"
        public var counts = BundleBatchCounts(sent: 0, failed: 0, skipped: 0, unknown: 0)
    }

    public struct Recipient: Sendable {
        public let id: Int64
        public let batchID: Int64
        public var name: String?
        public var phone: String
        public var language: String?
        public var fieldsJSON: String?
        public var status = "queued"
        public var attempts = 0
        public var nextAttemptAt = Date.distantPast
        public var claimedAt: Date?
        public var ambiguousSince: Date?
        public var errorCode: Int?
        public var errorMessage: String?
        public var sid: String?
        public var messageID: Int64?
    }

    public struct Patient: Sendable {
        public let id: Int64
        public let workspaceID: Int64
        public let phone: String
        public var name: String?
        public var consent: Bool?
        public var consentUpdatedAt: Date?
    }

    public private(set) var batches: [Batch] = []
    public var recipients: [Recipient] = []
    public var patients: [Patient] = []
    /// Senders whose lock another run holds.
    public var lockedElsewhere: Set<Int64> = []
    public private(set) var locked: Set<Int64> = []
    private var nextID: Int64 = 0

    public init() {}

    private func newID() -> Int64 {
        nextID += 1
        return nextID
    }

    // MARK: Fixtures

    public func batch(_ workspaceID: Int64, senderID: Int64, body: String, recipients list: [(name: String?, phone: String, language: String?, fields: String?)]) -> Int64 {
        let id = newID()
        batches.append(Batch(id: id, workspaceID: workspaceID, senderID: senderID, body: body))
        for r in list { recipients.append(Recipient(id: newID(), batchID: id, name: r.name, phone: r.phone, language: r.language, fieldsJSON: r.fields)) }
        return id
    }

    /// A patient who exists already (e.g. opted out: consent false with a date).
    public func patient(_ workspaceID: Int64, phone: String, consent: Bool?, consentUpdatedAt: Date?) {
        patients.append(Patient(id: newID(), workspaceID: workspaceID, phone: phone, name: nil, consent: consent, consentUpdatedAt: consentUpdatedAt))
    }

    public func recipients(of batchID: Int64) -> [Recipient] { recipients.filter { $0.batchID == batchID } }
    public func status(of batchID: Int64) -> Batch? { batches.first { $0.id == batchID } }

    // MARK: BundleClaimStore

    public func openBatches(workspaceID: Int64?) throws -> [OpenBundleBatch] {
        batches.filter { $0.status != "completed" && (workspaceID == nil || $0.workspaceID == workspaceID) }
            .map { OpenBundleBatch(id: $0.id, workspaceID: $0.workspaceID, senderID: $0.senderID, body: $0.body) }
    }

    public func queuedRecipients(batchID: Int64) throws -> [BundleRecipientClaim] {
        recipients(of: batchID).filter { $0.status == "queued" }
            .map { BundleRecipientClaim(id: nil, name: $0.name, phone: $0.phone, language: $0.language, fieldsJSON: $0.fieldsJSON) }
    }

    public func lockSender(_ senderID: Int64) throws -> Bool {
        guard !lockedElsewhere.contains(senderID) else { return false }
        locked.insert(senderID)
        return true
    }

    public func unlockSender(_ senderID: Int64) { locked.remove(senderID) }

    public func startBatch(_ batchID: Int64) throws -> Bool {
        guard let i = batches.firstIndex(where: { $0.id == batchID && $0.status != "completed" }) else { return false }
        batches[i].status = "sending"
        return true
    }

    public func markInterrupted(batchID: Int64) throws -> Int {
        var n = 0
        for i in recipients.indices where recipients[i].batchID == batchID && recipients[i].status == "sending" {
            recipients[i].status = "unknown"
            recipients[i].errorMessage = "The run sending this message stopped during the Twilio call; it may or may not have been delivered. Check before sending again."
            n += 1
        }
        if n > 0 { count(batchID) }
        return n
    }

    public func claimNext(batchID: Int64) throws -> BundleRecipientClaim? {
        let now = Date()
        guard let i = recipients.indices
            .filter({ recipients[$0].batchID == batchID && recipients[$0].status == "queued" && recipients[$0].nextAttemptAt <= now })
            .min(by: { (recipients[$0].nextAttemptAt, recipients[$0].id) < (recipients[$1].nextAttemptAt, recipients[$1].id) }) else { return nil }
        recipients[i].status = "sending"
        recipients[i].claimedAt = now
        recipients[i].attempts += 1
        let r = recipients[i]
        return BundleRecipientClaim(id: r.id, name: r.name, phone: r.phone, language: r.language, fieldsJSON: r.fieldsJSON,
                                    attempts: r.attempts, ambiguousSince: r.ambiguousSince)
    }

    public func secondsUntilNextRetry(batchID: Int64) throws -> Double? {
        recipients(of: batchID).filter { $0.status == "queued" }.map(\.nextAttemptAt).min().map { $0.timeIntervalSinceNow }
    }

    public func patient(workspaceID: Int64, phone: String, name: String?, language: String?) throws -> BundlePatient {
        if let i = patients.firstIndex(where: { $0.workspaceID == workspaceID && $0.phone == phone }) {
            if patients[i].name == nil { patients[i].name = name }
            return BundlePatient(id: patients[i].id, consentWhatsApp: patients[i].consent, consentUpdatedAt: patients[i].consentUpdatedAt)
        }
        let p = Patient(id: newID(), workspaceID: workspaceID, phone: phone, name: name, consent: true, consentUpdatedAt: Date())
        patients.append(p)
        return BundlePatient(id: p.id, consentWhatsApp: true, consentUpdatedAt: p.consentUpdatedAt)
    }

    public func record(recipientID: Int64, batchID: Int64, _ result: BundleRecipientResult) throws {
        guard let i = recipients.firstIndex(where: { $0.id == recipientID }) else { return }
        switch result {
        case .sent(let sid, let messageID):
            recipients[i].status = "sent"
            recipients[i].sid = sid
            recipients[i].messageID = messageID
            recipients[i].errorCode = nil
            recipients[i].errorMessage = nil
            recipients[i].ambiguousSince = nil
        case .retry(let code, let message, let delay, let ambiguous):
            recipients[i].status = "queued"
            recipients[i].errorCode = code
            recipients[i].errorMessage = message
            recipients[i].nextAttemptAt = Date().addingTimeInterval(delay)
            if ambiguous { recipients[i].ambiguousSince = recipients[i].ambiguousSince ?? recipients[i].claimedAt }
        case .skipped(let reason):
            recipients[i].status = "skipped"
            recipients[i].errorMessage = reason
        case .failed(let code, let message):
            recipients[i].status = "failed"
            recipients[i].errorCode = code
            recipients[i].errorMessage = message
        case .unknown(let message):
            recipients[i].status = "unknown"
            recipients[i].errorMessage = message
        }
        count(batchID)
    }

    public func completeIfDone(batchID: Int64) throws -> BundleBatchCounts? {
        guard !recipients(of: batchID).contains(where: { ["queued", "sending"].contains($0.status) }),
              let i = batches.firstIndex(where: { $0.id == batchID }) else { return nil }
        batches[i].status = "completed"
        count(batchID)
        return batches[i].counts
    }

    private func count(_ batchID: Int64) {
        guard let i = batches.firstIndex(where: { $0.id == batchID }) else { return }
        let rs = recipients(of: batchID)
        func n(_ s: String) -> Int { rs.filter { $0.status == s }.count }
        batches[i].counts = BundleBatchCounts(sent: n("sent"), failed: n("failed"), skipped: n("skipped"), unknown: n("unknown"))
    }
}
