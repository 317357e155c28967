import Foundation

/// What the bot knows of a conversation when a message comes in (read by the recording statement).
public struct ConversationSnapshot: Sendable, Equatable {
    public var state: ConversationState
    /// The patient's remembered language.
    public var language: Language
    /// The numbered slots offered last, if any.
    public var pending: PendingOffer?
    /// The clinic's time zone (slot times like "9:00" are local).
    public var timeZone: String

    public init(state: ConversationState, language: Language, pending: PendingOffer?, timeZone: String) {
        self.state = state
        self.language = language
        self.pending = pending
        self.timeZone = timeZone
    }
}

/// The first decision on a message: a pure function of the conversation, the text and the clock
/// (`InboundDecision.first`). Recording happens before it; the writes, and the model call for `.bot`,
/// after it.
public enum InboundStep: Sendable, Equatable {
    /// STOP / START (and their Spanish words): consent off or on, confirmed in `language`.
    case consent(optIn: Bool, language: Language)
    /// The conversation is with staff: no answer, nothing written.
    case silent
    /// The patient asks for a person: the conversation goes to staff.
    case handoff(language: Language)
    /// A shortcut ("2", "9:00") names an offered slot that is still ahead: book it.
    case book(OfferedSlot, language: Language, rescheduleOf: Int64?)
    /// A shortcut names an offered slot whose time has come (a stale offer): say so, offer fresh slots.
    case slotGone(OfferedSlot, language: Language, rescheduleOf: Int64?)
    /// A shortcut after an offer that names none of its slots: offer fresh slots.
    case notAnOption(language: Language)
    /// Anything else: the bot (the model, or the keyword rules without one).
    case bot(language: Language)
}

/// What the bot does with a message it answers (from the model's answer or the keyword rules).
public enum BotAction: Sendable, Equatable {
    case book(OfferedSlot, language: Language, rescheduleOf: Int64?)
    /// Cancel the patient's next appointment and say which.
    case cancelNext(language: Language)
    /// Offer `offer` to replace the patient's next appointment.
    case rescheduleNext(offer: PendingOffer?, language: Language)
    case handoff(language: Language)
    /// Say `text` and remember `offer` as the conversation's pending offer (nil clears it).
    case reply(String, offer: PendingOffer?, language: Language)
}

/// The inbound decisions as pure functions (no database, no model, no clock of their own).
public enum InboundDecision {
    /// The first decision: consent keywords in every state, then handoff silence, a request for a
    /// person, slot shortcuts after an offer, else the bot.
    public static func first(text: String, conversation c: ConversationSnapshot, now: Date) -> InboundStep {
        let normalized = InboundText.normalize(text)
        let detected = InboundText.detectLanguage(text, normalized: normalized)
        // 1. Consent keywords work in every state; STOP/START are universal, so they answer in the
        //    language the patient has been using unless the word says another.
        switch InboundText.consentKeyword(normalized: normalized) {
        case .optOut(let l)?: return .consent(optIn: false, language: l ?? c.language)
        case .optIn(let l)?: return .consent(optIn: true, language: l ?? c.language)
        case nil: break
        }
        // 2. A conversation handed to staff: the bot is quiet until staff hand it back.
        if c.state == .handoff { return .silent }
        let language = detected ?? c.language
        // 3. Asking for a person.
        if InboundText.asksForHuman(normalized: normalized) { return .handoff(language: language) }
        // 4. Slot shortcuts after numbered offers: no model call.
        if let offer = c.pending, let shortcut = InboundText.shortcut(text) {
            let language = detected ?? Language(rawValue: offer.language) ?? c.language
            guard let chosen = offer.select(shortcut, timeZone: c.timeZone) else { return .notAnOption(language: language) }
            if chosen.slot.startsAt > now { return .book(chosen, language: language, rescheduleOf: offer.rescheduleOf) }
            return .slotGone(chosen, language: language, rescheduleOf: offer.rescheduleOf)
        }
        // 5. The bot.
        return .bot(language: language)
    }

    /// Acts on a valid model answer. `offer` is what the model was shown (labelled in the language
    /// guessed before); `pending` the conversation's earlier offer (a reschedule it started carries on).
    /// The facts (booking, cancelling, handoff) are the bot's own sentences; other answers are the
    /// model's reply, with its slots remembered in the answer's language.
    public static func act(on answer: BotAnswer, offer: PendingOffer?, pending: PendingOffer?, timeZone: String, now: Date) -> BotAction {
        let language = answer.language
        let relabeled = offer.map { o in
            PendingOffer(language: language.rawValue, slots: o.slots.map { s in
                var s = s
                s.label = LocalTime.describe(s.slot.startsAt, timeZone: timeZone, language: language.rawValue, now: now)
                return s
            })
        }
        switch answer.intent {
        case .book:
            if let n = answer.selectedSlot, let chosen = relabeled?.slots.first(where: { $0.n == n }) {
                return .book(chosen, language: language, rescheduleOf: pending?.rescheduleOf)
            }
        case .cancel:
            return .cancelNext(language: language)
        case .handoff:
            return .handoff(language: language)
        case .reschedule:
            return .rescheduleNext(offer: relabeled, language: language)
        case .question, .greeting, .farewell, .thanks:
            break
        }
        return .reply(answer.reply, offer: relabeled, language: language)
    }

    /// The keyword rules when there is no model or it failed: `offer` the fresh slots to show.
    public static func rules(text: String, offer: PendingOffer?, pending: PendingOffer?, clinic: String, language: Language) -> BotAction {
        switch InboundText.fallbackIntent(text) {
        case .cancel:
            return .cancelNext(language: language)
        case .reschedule:
            return .rescheduleNext(offer: offer, language: language)
        case .farewell:
            return .reply(InboundReplies.farewell(language: language), offer: pending, language: language)
        case .thanks:
            return .reply(InboundReplies.thanks(language: language), offer: pending, language: language)
        case .question:
            return .reply(InboundReplies.offer(InboundReplies.question(language: language), offer, language: language),
                          offer: offer, language: language)
        case .greeting, .book, .handoff:
            return .reply(InboundReplies.offer(InboundReplies.greeting(clinic: clinic, language: language), offer, language: language),
                          offer: offer, language: language)
        }
    }
}
