import Foundation

/// One offered slot, as stored in the conversation's `pending_intent`.
public struct OfferedSlot: Codable, Sendable, Equatable {
    public var n: Int
    public var doctorID: Int64
    public var startsAt: Int64   // Unix seconds
    public var endsAt: Int64
    public var label: String

    enum CodingKeys: String, CodingKey {
        case n, label
        case doctorID = "doctor_id", startsAt = "starts_at", endsAt = "ends_at"
    }

    public var slot: Slot {
        Slot(doctorUserID: doctorID, startsAt: Date(timeIntervalSince1970: TimeInterval(startsAt)),
             endsAt: Date(timeIntervalSince1970: TimeInterval(endsAt)))
    }
}

/// The numbered slots the bot offered last (`whatsapp_conversations.pending_intent`).
public struct PendingOffer: Codable, Sendable, Equatable {
    public var kind: String = "slots"
    public var language: String
    public var slots: [OfferedSlot]
    /// The appointment a booking from this offer replaces (the patient asked to reschedule).
    public var rescheduleOf: Int64?

    enum CodingKeys: String, CodingKey {
        case kind, language, slots
        case rescheduleOf = "reschedule_of"
    }

    public init(language: String, slots: [OfferedSlot], rescheduleOf: Int64? = nil) {
        self.language = language
        self.slots = slots
        self.rescheduleOf = rescheduleOf
    }

    public static func make(_ slots: [Slot], timeZone: String, language: Language, now: Date) -> PendingOffer {
        make(slots, timeZone: timeZone, language: language.rawValue, now: now)
    }

    public static func make(_ slots: [Slot], timeZone: String, language: String, now: Date) -> PendingOffer {
        PendingOffer(language: language, slots: slots.enumerated().map { i, s in
            OfferedSlot(n: i + 1, doctorID: s.doctorUserID, startsAt: Int64(s.startsAt.timeIntervalSince1970),
                        endsAt: Int64(s.endsAt.timeIntervalSince1970),
                        label: LocalTime.describe(s.startsAt, timeZone: timeZone, language: language, now: now))
        })
    }

    public var json: String {
        String(decoding: (try? JSONEncoder().encode(self)) ?? Data("null".utf8), as: UTF8.self)
    }

    /// The offer in `pending_intent`'s text; nil for none, for JSON of another shape or kind.
    /// `PendingOfferJSON` reads the shape the app writes (JSONDecoder was 7 % of a webhook's CPU);
    /// JSONDecoder decides whatever it does not know.
    public static func parse(_ text: String?) -> PendingOffer? {
        guard let text, let o = PendingOfferJSON.decode(text) ?? (try? JSONDecoder().decode(PendingOffer.self, from: Data(text.utf8))),
              o.kind == "slots" else { return nil }
        return o
    }

    /// The slot a shortcut names: its number, or a time one slot has (an afternoon slot for "9:00"
    /// only when no morning one matches and no AM/PM was said).
    public func select(_ shortcut: InboundText.Shortcut, timeZone: String) -> OfferedSlot? {
        switch shortcut {
        case .number(let n):
            return slots.first { $0.n == n }
        case .time(let minutes, let meridiem):
            func at(_ m: Int) -> OfferedSlot? {
                slots.first { s in
                    let p = LocalTime.parts(Date(timeIntervalSince1970: TimeInterval(s.startsAt)), timeZone: timeZone)
                    return p.hour * 60 + p.minute == m
                }
            }
            if let s = at(minutes) { return s }
            if !meridiem, minutes < 12 * 60 { return at(minutes + 12 * 60) }
            return nil
        }
    }
}
