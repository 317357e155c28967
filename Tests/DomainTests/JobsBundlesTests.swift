@testable import Domain
import Foundation
import Testing
import TestSupport
import Twilio

/// The bundle job's use case on an in-memory claim store and a fake Twilio: who gets what text, the
/// batch's accounting, retries and Twilio's records after an ambiguous failure. The sender's lock
/// across sessions and the SKIP LOCKED claims are in StoreTests' BundleClaimStoreTests; the binary's
/// runs against the stack in EndToEndTests' JobsEndToEndTests.
struct BundleWorld {
    let store = MemoryBundleClaimStore()
    let twilio = FakeMessenger()

    init() {
        let store = self.store
        twilio.patientLookup = { id in
            store.patients.first { $0.id == id }.map {
                FakeMessenger.Patient(workspaceID: $0.workspaceID, phone: $0.phone, consent: $0.consent == true, lastInbound: nil)
            }
        }
    }

    func run(options: JobOptions = JobOptions(), retry: RetryPolicy = RetryPolicy(maxAttempts: 3, baseSeconds: 0.01, maxSeconds: 0.02)) throws -> BundleJob.Summary {
        try BundleJob.run(store: store, messenger: twilio, sendRate: 80, options: options, clock: InstantClock(), retry: retry)
    }
}

@Suite struct JobsBundlesTests {
    @Test func everyRecipientGetsItsTextAndTheBatchCompletesWithItsCounts() throws {
        let w = BundleWorld()
        w.store.patient(1, phone: "+15550000003", consent: false, consentUpdatedAt: Date())   // replied STOP
        let batch = w.store.batch(1, senderID: 7, body: "Hola {name}, su cita es el {fecha}.", recipients: [
            ("Ana", "+15550000001", "es", #"{"fecha": "lunes"}"#),
            (nil, "+15550000002", nil, #"{"fecha": "martes"}"#),
            ("Eva", "+15550000003", "es", nil),
        ])
        let summary = try w.run()
        #expect(summary.batches == 1 && summary.completed == 1, "\(summary)")
        #expect(summary.sent == 2 && summary.skipped == 1 && summary.failed == 0, "\(summary)")
        #expect(w.twilio.sent(to: "+15550000001").map(\.body) == ["Hola Ana, su cita es el lunes."])
        #expect(w.twilio.sent(to: "+15550000002").map(\.body) == ["Hola , su cita es el martes."])
        #expect(w.twilio.sent(to: "+15550000003").isEmpty)
        #expect(w.store.recipients(of: batch).map(\.status) == ["sent", "sent", "skipped"])
        #expect(w.store.recipients(of: batch).last?.errorMessage == "opted_out")
        #expect(w.store.status(of: batch)?.status == "completed")
        #expect(w.store.status(of: batch)?.counts == BundleBatchCounts(sent: 2, failed: 0, skipped: 1, unknown: 0))
        // A second run finds nothing to do.
        #expect(try w.run().batches == 0)
        #expect(w.twilio.accepted.count == 2)
    }

    @Test func aThrottledRecipientIsRetriedAndAPermanentRefusalFails() throws {
        let w = BundleWorld()
        let batch = w.store.batch(1, senderID: 7, body: "Hi {name}", recipients: [("Ana", "+15550000011", "en", nil), ("Bob", "+15550000012", "en", nil)])
        w.twilio.faults["+15550000011"] = [.refuse(TwilioError(httpStatus: 429, code: 20429, message: "Too Many Requests", moreInfo: nil))]
        w.twilio.faults["+15550000012"] = [.refuse(TwilioError(httpStatus: 400, code: 21211, message: "Invalid 'To' Phone Number", moreInfo: nil))]
        let summary = try w.run()
        #expect(summary.sent == 1 && summary.retries == 1 && summary.failed == 1 && summary.completed == 1, "\(summary)")
        let rs = w.store.recipients(of: batch)
        #expect(rs.map(\.status) == ["sent", "failed"])
        #expect(rs.map(\.attempts) == [2, 1])
        #expect(rs.last?.errorCode == 21211)
        #expect(w.twilio.sent(to: "+15550000011").count == 1)
    }

    /// Twilio answers 500 although it accepted the message: the retry asks Twilio's Messages list first
    /// and records it as sent, never sending it twice.
    @Test func anAmbiguousFailureIsSettledFromTwilioBeforeAnyResend() throws {
        let w = BundleWorld()
        let batch = w.store.batch(1, senderID: 7, body: "Hi {name}", recipients: [("Ana", "+15550000021", "en", nil)])
        w.twilio.faults["+15550000021"] = [.afterAccepting(TwilioError(httpStatus: 500, code: nil, message: "Internal Server Error", moreInfo: nil))]
        let summary = try w.run()
        #expect(summary.sent == 1 && summary.retries == 1 && summary.failed == 0, "\(summary)")
        #expect(w.twilio.sent(to: "+15550000021").count == 1)
        let r = try #require(w.store.recipients(of: batch).first)
        #expect(r.status == "sent" && r.ambiguousSince == nil)
        #expect(r.messageID.flatMap { w.twilio.recorded[$0] } == r.sid)
        #expect(w.twilio.calls == 1)
    }

    /// …and when that list cannot be read, nobody knows: unknown (staff review), never resent.
    @Test func anAmbiguousFailureWhoseListCannotBeReadIsUnknown() throws {
        let w = BundleWorld()
        let batch = w.store.batch(1, senderID: 7, body: "Hi {name}", recipients: [("Ana", "+15550000031", "en", nil)])
        w.twilio.faults["+15550000031"] = [.afterAccepting(TwilioTransportError(code: .timeout, message: "timed out"))]
        w.twilio.listUnreadable = true
        let summary = try w.run()
        #expect(summary.unknown == 1 && summary.sent == 0 && summary.completed == 1, "\(summary)")
        #expect(w.store.recipients(of: batch).map(\.status) == ["unknown"])
        #expect(w.twilio.calls == 1)
    }

    @Test func aRecipientLeftSendingByAKilledRunIsUnknownAndNotResent() throws {
        let w = BundleWorld()
        let batch = w.store.batch(1, senderID: 7, body: "Hi", recipients: [("Ana", "+15550000041", "en", nil), ("Bob", "+15550000042", "en", nil)])
        w.store.recipients[0].status = "sending"
        let summary = try w.run()
        #expect(summary.unknown == 1 && summary.sent == 1 && summary.completed == 1, "\(summary)")
        #expect(w.store.recipients(of: batch).map(\.status) == ["unknown", "sent"])
        #expect(w.twilio.sent(to: "+15550000041").isEmpty)
    }

    @Test func aSenderAnotherRunHoldsIsLeftToThatRunAndTheLimitStopsTheRun() throws {
        let w = BundleWorld()
        _ = w.store.batch(1, senderID: 7, body: "A", recipients: [("Ana", "+15550000051", "en", nil)])
        let other = w.store.batch(1, senderID: 8, body: "B", recipients: [("Bob", "+15550000052", "en", nil), ("Cy", "+15550000053", "en", nil)])
        w.store.lockedElsewhere = [7]
        let summary = try w.run(options: JobOptions(limit: 1))
        #expect(summary.sendersBusy == 1 && summary.sent == 1 && summary.completed == 0, "\(summary)")
        #expect(w.twilio.accepted.map(\.to) == ["+15550000052"])
        #expect(w.store.recipients(of: other).map(\.status) == ["sent", "queued"])
        #expect(w.store.locked.isEmpty)
    }

    @Test func dryRunListsEveryTextAndClaimsNothing() throws {
        let w = BundleWorld()
        let batch = w.store.batch(1, senderID: 7, body: "Hi {name} ({language})", recipients: [("Ana", "+15550000061", "es", nil)])
        let summary = try w.run(options: JobOptions(dryRun: true))
        #expect(summary.plan == ["batch \(batch) → +15550000061: Hi Ana (es)"])
        #expect(w.store.recipients(of: batch).map(\.status) == ["queued"])
        #expect(w.twilio.accepted.isEmpty)
    }
}
