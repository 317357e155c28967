import Domain
import MedsyncLog
import Foundation
import TestSupport
import Testing

/// The status callback's rules on the in-memory store (the trigger that keeps statuses forward-only,
/// and the account check, are PostgreSQL's: ConversationStoreTests).
@Suite("Status callbacks: forward-only updates")
struct InboundStatusTests {
    static let master = "AC0000000000000000000000000000de00"

    @Test("a callback moves its message; statuses messages do not track, no AccountSid and unknown SIDs are acknowledged; no MessageSid is a 400")
    func acknowledged() throws {
        let clinic = MemoryClinic()
        let out = try clinic.send("+5215512345678", "hello")
        let i = try #require(clinic.store.messages.firstIndex { $0.id != out.messageID })
        clinic.store.messages[i].twilioSID = "SMa"
        func cb(_ params: [(String, String)]) throws -> StatusCallback.Outcome {
            try StatusCallback.apply(clinic.store, params: params, masterAccountSID: InboundStatusTests.master, log: .discarding)
        }
        let delivered = try cb([("MessageSid", "SMa"), ("MessageStatus", "Delivered"), ("AccountSid", InboundStatusTests.master)])
        #expect(delivered.found && delivered.status == "delivered")
        #expect(try cb([("MessageSid", "SMa"), ("MessageStatus", "accepted"), ("AccountSid", InboundStatusTests.master)]).found == false)
        #expect(try cb([("MessageSid", "SMa"), ("MessageStatus", "read")]).found == false)
        #expect(try cb([("MessageSid", "SMunknown"), ("MessageStatus", "read"), ("AccountSid", InboundStatusTests.master)]).found == false)
        #expect(clinic.store.messages[i].status == "delivered")
        #expect(throws: AppError.self) { try cb([("MessageStatus", "sent")]) }
        #expect(throws: AppError.self) { try cb([("MessageSid", "SMa")]) }
    }

    @Test("the error codes clinics meet are explained in plain words", arguments: [63016, 63112, 63024, 21211, 21408])
    func explanations(code: Int) {
        let text = StatusCallback.explanation(for: code)
        #expect(!text.contains("Twilio reported error"))
        #expect(text.count > 40)
    }
}
