import Domain
import Foundation
import Testing

/// The inbound decision as a pure function: no database, no model, a fixed clock.
@Suite("Inbound: the decision as a pure function (no database)")
struct InboundDecisionTests {
    static let tz = "America/Mexico_City"
    /// 08:00 in Mexico City.
    static let now = Date(timeIntervalSince1970: 1_796_133_600)
    /// Five 30-minute slots from 09:00 local today.
    static func offer(_ language: Language = .en, rescheduleOf: Int64? = nil) -> PendingOffer {
        let slots = (0..<5).map { i in
            Slot(doctorUserID: 7, startsAt: now.addingTimeInterval(3600 + Double(i) * 1800), endsAt: now.addingTimeInterval(5400 + Double(i) * 1800))
        }
        var o = PendingOffer.make(slots, timeZone: tz, language: language, now: now)
        o.rescheduleOf = rescheduleOf
        return o
    }
    static func conversation(_ state: ConversationState = .bot, _ language: Language = .en, pending: PendingOffer? = offer()) -> ConversationSnapshot {
        ConversationSnapshot(state: state, language: language, pending: pending, timeZone: tz)
    }
    static func first(_ text: String, _ c: ConversationSnapshot = conversation(), now: Date = now) -> InboundStep {
        InboundDecision.first(text: text, conversation: c, now: now)
    }

    @Test("a number names an offered slot: book it, no model", arguments: [("1", 1), ("2", 2), ("2.", 2), ("#5", 5), ("option 3", 3)])
    func number(text: String, n: Int) throws {
        let slot = try #require(Self.offer().slots.first { $0.n == n })
        #expect(Self.first(text) == .book(slot, language: .en, rescheduleOf: nil))
        // "opción" is Spanish: the same slot, answered in Spanish.
        #expect(Self.first("opción \(n)") == .book(slot, language: .es, rescheduleOf: nil))
    }

    @Test("a time names the offered slot at that local time", arguments: [("9:00", 1), ("09:00", 1), ("9h", 1), ("10:30", 4), ("9:30 am", 2)])
    func time(text: String, n: Int) throws {
        let slot = try #require(Self.offer().slots.first { $0.n == n })
        #expect(Self.first(text) == .book(slot, language: .en, rescheduleOf: nil))
    }

    @Test("a number or time outside the offer: not an option, offered again", arguments: ["6", "9", "12", "14:00", "9:15"])
    func outOfRange(text: String) {
        #expect(Self.first(text) == .notAnOption(language: .en))
    }

    @Test("a stale offer: the named slot's time has come, so it is gone (fresh slots), not booked")
    func stale() throws {
        let slot = try #require(Self.offer().slots.first)
        #expect(Self.first("1", now: slot.slot.startsAt) == .slotGone(slot, language: .en, rescheduleOf: nil))
        #expect(Self.first("1", now: slot.slot.startsAt.addingTimeInterval(86400)) == .slotGone(slot, language: .en, rescheduleOf: nil))
        // The next slot is still ahead at that moment.
        let second = try #require(Self.offer().slots.first { $0.n == 2 })
        #expect(Self.first("2", now: slot.slot.startsAt) == .book(second, language: .en, rescheduleOf: nil))
    }

    @Test("a reschedule offer carries the appointment it replaces into the booking")
    func reschedule() throws {
        let c = Self.conversation(pending: Self.offer(rescheduleOf: 42))
        let slot = try #require(c.pending?.slots.first { $0.n == 3 })
        #expect(Self.first("3", c) == .book(slot, language: .en, rescheduleOf: 42))
    }

    @Test("without an offer a number is a message for the bot")
    func noOffer() {
        #expect(Self.first("1", Self.conversation(pending: nil)) == .bot(language: .en))
    }

    @Test("a handed-off conversation: silence for everything but the consent keywords")
    func handedOff() {
        let c = Self.conversation(.handoff, .es)
        #expect(Self.first("1", c) == .silent)
        #expect(Self.first("hola, quiero una cita", c) == .silent)
        #expect(Self.first("quiero hablar con alguien", c) == .silent)
        #expect(Self.first("STOP", c) == .consent(optIn: false, language: .es))
    }

    @Test("consent keywords: the word's language, else the remembered one")
    func consent() {
        #expect(Self.first("STOP", Self.conversation(.bot, .es)) == .consent(optIn: false, language: .es))
        #expect(Self.first("unsubscribe", Self.conversation(.bot, .es)) == .consent(optIn: false, language: .en))
        #expect(Self.first("baja") == .consent(optIn: false, language: .es))
        #expect(Self.first("START", Self.conversation(.bot, .es)) == .consent(optIn: true, language: .es))
        #expect(Self.first("alta") == .consent(optIn: true, language: .es))
    }

    @Test("asking for a person hands off, in the language of the message")
    func handoff() {
        #expect(Self.first("Can I talk to a human?") == .handoff(language: .en))
        #expect(Self.first("quiero hablar con alguien", Self.conversation(.bot, .en)) == .handoff(language: .es))
    }

    @Test("Spanish: the message's language wins; a bare number keeps the offer's language")
    func spanish() throws {
        #expect(Self.first("Hola, buenos días") == .bot(language: .es))
        let c = Self.conversation(.bot, .en, pending: Self.offer(.es))
        let slot = try #require(c.pending?.slots.first)
        #expect(Self.first("1", c) == .book(slot, language: .es, rescheduleOf: nil))
        #expect(Self.first("ok", Self.conversation(.bot, .es, pending: nil)) == .bot(language: .es))
    }

    @Test("no text (a picture alone) goes to the bot in the remembered language")
    func nonText() {
        #expect(Self.first("", Self.conversation(.bot, .es)) == .bot(language: .es))
        #expect(Self.first("   ", Self.conversation(.bot, .en, pending: nil)) == .bot(language: .en))
    }

    // MARK: the model's answer

    @Test("the model books an offered slot: the slot relabelled in the answer's language, a pending reschedule kept")
    func modelBooks() throws {
        let shown = Self.offer(.en)
        let answer = BotAnswer(reply: "Perfecto", intent: .book, selectedSlot: 2, language: .es)
        let action = InboundDecision.act(on: answer, offer: shown, pending: Self.offer(rescheduleOf: 9), timeZone: Self.tz, now: Self.now)
        guard case .book(let slot, let language, let rescheduleOf) = action else { Issue.record("\(action)"); return }
        #expect(slot.n == 2)
        #expect(slot.label == "hoy a las 9:30")
        #expect(language == .es)
        #expect(rescheduleOf == 9)
    }

    @Test("the model's other intents", arguments: [
        (Intent.cancel, "cancelNext"), (.handoff, "handoff"), (.reschedule, "rescheduleNext"), (.greeting, "reply"), (.question, "reply"),
        (.farewell, "reply"), (.book, "reply"),  // book without a slot: the model's words and its slots
    ])
    func modelIntents(intent: Intent, kind: String) {
        let answer = BotAnswer(reply: "Hi there", intent: intent, selectedSlot: nil, language: .en)
        let action = InboundDecision.act(on: answer, offer: Self.offer(), pending: nil, timeZone: Self.tz, now: Self.now)
        switch action {
        case .cancelNext(.en): #expect(kind == "cancelNext")
        case .handoff(.en): #expect(kind == "handoff")
        case .rescheduleNext(let offer, .en): #expect(kind == "rescheduleNext" && offer?.slots.count == 5)
        case .reply(let text, let offer, .en): #expect(kind == "reply" && text == "Hi there" && offer == Self.offer())
        default: Issue.record("\(action)")
        }
    }

    // MARK: the keyword rules

    @Test("the rules without a model: cancel, reschedule, thanks keep the earlier offer, a greeting offers slots")
    func rules() {
        let fresh = Self.offer()
        let earlier = Self.offer(.es)
        func rules(_ text: String) -> BotAction {
            InboundDecision.rules(text: text, offer: fresh, pending: earlier, clinic: "Clínica Sol", language: .en)
        }
        #expect(rules("I need to cancel") == .cancelNext(language: .en))
        #expect(rules("please reschedule") == .rescheduleNext(offer: fresh, language: .en))
        #expect(rules("thanks!") == .reply(InboundReplies.thanks(language: .en), offer: earlier, language: .en))
        #expect(rules("bye") == .reply(InboundReplies.farewell(language: .en), offer: earlier, language: .en))
        guard case .reply(let text, let offer, .en) = rules("hello") else { Issue.record("not a reply"); return }
        #expect(text.hasPrefix("Hello! I'm the assistant of Clínica Sol."))
        #expect(text.contains("1. today at 9:00 AM"))
        #expect(offer == fresh)
        guard case .reply(let none, nil, .en) = InboundDecision.rules(text: "hello", offer: nil, pending: nil, clinic: "X", language: .en) else {
            Issue.record("not a reply"); return
        }
        #expect(none.contains("There are no free times"))
    }
}
