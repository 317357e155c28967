import Foundation
import Gemini

/// What the bot offers, named once: how many free slots, over how many days, read from how many
/// candidates — and the staff's free-slots view built from the same computation.
public enum OfferPolicy {
    /// Local days of free slots an offer is taken from (today included).
    public static let days = 7
    /// Free slots read for an offer (the earliest; an offer keeps one per distinct start time).
    public static let candidates = 200
    /// Slots in an offer the rules make (no model), and in a fresh offer after a slot is gone.
    public static let offerCount = 5
    /// Slots the model is given to offer from.
    public static let modelOfferCount = 8

    /// A request staff declined: free times offered instead (the same doctor's first), over how many
    /// days, read from how many candidates.
    public static let declinedOfferCount = 3
    public static let declinedDays = 14
    public static let declinedCandidates = 300

    /// Staff's view of one doctor's free slots: days by default, days at most, slots at most.
    public static let staffDefaultDays = 7
    public static let staffMaxDays = 31
    public static let staffSlotLimit = 2000

    /// The offered slots as the model receives them, structured beside the instruction:
    /// `{"slots":[{"label":"tomorrow at 9:00 AM","n":1,"starts_at":"2026-12-02T15:00:00Z"}]}`
    /// (an empty list when there is no offer).
    public static func modelSlots(_ offer: PendingOffer?) -> GeminiData {
        struct Item: Encodable { let n: Int; let label: String; let starts_at: String }
        struct Body: Encodable { let slots: [Item] }
        let body = Body(slots: (offer?.slots ?? []).map {
            Item(n: $0.n, label: $0.label, starts_at: Dates.iso(Date(timeIntervalSince1970: TimeInterval($0.startsAt))))
        })
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return GeminiData(json: (try? String(decoding: encoder.encode(body), as: UTF8.self)) ?? #"{"slots":[]}"#)
    }
}
