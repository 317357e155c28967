import Domain
import Foundation
import Gemini
import Testing

/// What the bot offers comes from `OfferPolicy`, and the model receives the offered slots as
/// structured data (a JSON part of the system instruction), not only as prose.
struct OfferPolicyTests {
    let now = Date(timeIntervalSince1970: 1_796_133_600)   // Tue 1 Dec 2026, 08:00 in Mexico City

    /// Free slots every half hour from 9:00 for two doctors, both free at the same times.
    func free(_ n: Int) -> [Slot] {
        (0..<n).flatMap { i -> [Slot] in
            let start = now.addingTimeInterval(3600 + Double(i) * 1800)
            return [Slot(doctorUserID: 1, startsAt: start, endsAt: start.addingTimeInterval(1800)),
                    Slot(doctorUserID: 2, startsAt: start, endsAt: start.addingTimeInterval(1800))]
        }
    }

    @Test func theValuesTheBotAndTheStaffViewUse() {
        #expect(OfferPolicy.days == 7 && OfferPolicy.candidates == 200)
        #expect(OfferPolicy.offerCount == 5 && OfferPolicy.modelOfferCount == 8)
        #expect(OfferPolicy.declinedOfferCount == 3 && OfferPolicy.declinedDays == 14 && OfferPolicy.declinedCandidates == 300)
        #expect(OfferPolicy.staffDefaultDays == 7 && OfferPolicy.staffMaxDays == 31 && OfferPolicy.staffSlotLimit == 2000)
    }

    @Test func anOfferHoldsOneSlotPerDistinctStartUpToTheCount() {
        for count in [OfferPolicy.offerCount, OfferPolicy.modelOfferCount, OfferPolicy.declinedOfferCount] {
            let offered = FreeSlots.offer(free(20), count: count)
            #expect(offered.count == count)
            #expect(Set(offered.map(\.startsAt)).count == count)
        }
        #expect(FreeSlots.offer(free(2), count: OfferPolicy.modelOfferCount).count == 2)
    }

    @Test func theModelReceivesTheOfferedSlotsAsAJSONPartOfTheInstruction() throws {
        let offer = PendingOffer.make(FreeSlots.offer(free(20), count: OfferPolicy.modelOfferCount), timeZone: "America/Mexico_City", language: "en", now: now)
        let data = OfferPolicy.modelSlots(offer)
        let body = GeminiClient.body(system: "You are…", data: data, turns: [GeminiTurn(role: .user, text: "hi")], schema: BotAnswer.schema)
        let o = try #require(try JSONSerialization.jsonObject(with: Data(body)) as? [String: Any])
        let parts = try #require((o["systemInstruction"] as? [String: Any])?["parts"] as? [[String: Any]])
        #expect(parts.count == 2)
        #expect(parts[0]["text"] as? String == "You are…")
        let text = try #require(parts[1]["text"] as? String)
        let slots = try #require((try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any])?["slots"] as? [[String: Any]])
        #expect(slots.count == OfferPolicy.modelOfferCount)
        #expect(slots.first?["n"] as? Int == 1)
        #expect(slots.first?["label"] as? String == "today at 9:00 AM")
        #expect(slots.first?["starts_at"] as? String == "2026-12-01T15:00:00Z")
        #expect(slots.map { $0["label"] as? String } == offer.slots.map(\.label))
        // No offer: an empty list, and no second part when no data is given.
        #expect(OfferPolicy.modelSlots(nil).json == #"{"slots":[]}"#)
        let plain = try #require(try JSONSerialization.jsonObject(with: Data(GeminiClient.body(system: "s", turns: [], schema: BotAnswer.schema))) as? [String: Any])
        #expect(((plain["systemInstruction"] as? [String: Any])?["parts"] as? [Any])?.count == 1)
    }
}
