import Domain
import Foundation
import Testing
import TestSupport

/// The counts `OfferPolicy` names are what a patient is offered: the model is given
/// `modelOfferCount` slots as structured data (the sandbox reads that part and lists what it read),
/// the rules offer `offerCount`.
@Suite("Offer policy end to end: what the bot offers and what the sandbox reads")
struct OfferPolicyEndToEndTests {
    func numbered(_ text: String?) -> [String] {
        (text ?? "").split(separator: "\n").map(String.init).filter { line in
            let digits = line.prefix { $0.isNumber }
            return !digits.isEmpty && line.dropFirst(digits.count).hasPrefix(". ")
        }
    }

    @Test("the model gets OfferPolicy.modelOfferCount slots as a JSON part and offers them; the rules offer OfferPolicy.offerCount", .needsStack)
    func modelAndRulesOffers() throws {
        let clinic = try StackClinic()
        let patient = StackClinic.patient()
        let hello = try clinic.say(patient, "Hello, I would like to book an appointment")
        let call = try #require(try clinic.geminiCalls().last)
        #expect(call["slots"] as? Int == OfferPolicy.modelOfferCount)
        #expect(call["fault"] is NSNull || call["fault"] == nil)
        let listed = numbered(hello.replies.first)
        #expect(listed.count == OfferPolicy.modelOfferCount, "\(hello.replies)")
        let row = try #require(try clinic.conn.query("""
            SELECT c.pending_intent::text AS pending FROM whatsapp_conversations c JOIN patients p ON p.id = c.patient_id
             WHERE p.workspace_id = \(clinic.workspaceID) AND p.phone = \(patient)
            """).first)
        let offer = try #require(PendingOffer.parse(row.string("pending")))
        #expect(offer.slots.count == OfferPolicy.modelOfferCount)
        // What the sandbox listed is the offer, number by number.
        #expect(listed == offer.slots.map { "\($0.n). \($0.label)" })

        // The model fails: the rules offer their own count.
        let marker = "fig\(Int.random(in: 1000...9999))"
        try clinic.fault(["api": "gemini", "kind": "http", "status": 503, "contains": marker])
        let fallback = try clinic.say(StackClinic.patient(), "hello \(marker), an appointment please")
        #expect(numbered(fallback.replies.first).count == OfferPolicy.offerCount, "\(fallback.replies)")
    }
}
