import Foundation
import Gemini
import MedsyncLog

/// What the webhook answers.
public struct InboundOutcome: Sendable, Equatable {
    public enum Kind: String, Sendable { case replied, silent, duplicate, unknownSender = "unknown_sender", rejected }
    public var kind: Kind
    /// The text of the `<Message>`, nil for an empty `<Response/>`.
    public var reply: String?
    public var messageID: Int64?
    public var appointmentID: Int64?
    /// True when Gemini answered (false for shortcuts, keywords and the fallback).
    public var usedGemini: Bool = false
    /// Why Gemini was not used or failed (missing_key, timeout, http, invalid_response), for logs and tests.
    public var botFailure: String?

    public var twiml: String { reply.map(TwiML.message) ?? TwiML.empty }
}

/// `POST /api/webhooks/whatsapp` after the signature was verified: record the message, decide, answer.
///
/// The store records the message and opens the turn that answers it (`ConversationStore.receive`: it
/// owns the transaction, see `PGConversationStore`); this decides with `InboundDecision.first` (pure),
/// for `.bot` reads the free slots and history and calls Gemini after `settle()` (no transaction open,
/// no row locked), and writes the decision through the turn: one reply per inbound message, the
/// stored one for a retry (`MessageAlreadyAnswered`, or a MessageSid recorded before).
public struct InboundService {
    /// The free slots of a workspace, earliest first: `(workspaceID, from, days, limit)`.
    public typealias FreeSlotsSource = (_ workspaceID: Int64, _ from: Date, _ days: Int, _ limit: Int) throws -> [Slot]

    public let store: any ConversationStore
    public let freeSlots: FreeSlotsSource
    /// nil: no bot model (fallback rules only).
    public let gemini: GeminiClient?
    /// The route's logger (request_id, message_sid, workspace_id in its metadata).
    public var log: Logger
    public var now: () -> Date
    /// How many local days of free slots the bot sees, and how many it offers.
    public var days = OfferPolicy.days
    public var offerCount = OfferPolicy.offerCount

    public init(store: any ConversationStore, freeSlots: @escaping FreeSlotsSource, gemini: GeminiClient?,
                log: Logger = Logger(label: "medsync.inbound"), now: @escaping () -> Date = Date.init) {
        self.store = store
        self.freeSlots = freeSlots
        self.gemini = gemini
        self.log = log
        self.now = now
    }

    /// Records and answers a decoded webhook; never leaves anything half-written. `sender`: the sender
    /// `To` names when the signature check looked it up already (the clinic is looked up once per
    /// request: the message is recorded with that one). The sender's workspace this session kept from
    /// an earlier webhook may be stale (its number moved to another clinic since, sql/0018): a sender
    /// not found active there is routed again, once.
    public func handle(_ webhook: InboundWebhook, sender: SenderRoute? = nil) throws -> InboundOutcome {
        let outcome = try answer(webhook, sender: sender)
        if outcome.kind == .unknownSender, store.routeAgain() { return try answer(webhook, sender: nil) }
        return outcome
    }

    func answer(_ webhook: InboundWebhook, sender routed: SenderRoute?) throws -> InboundOutcome {
        let sid = webhook.messageSID
        func ignored(_ why: String) -> InboundOutcome {
            log.warning("inbound webhook for \(webhook.to ?? "no To") (\(why) sender), MessageSid \(sid): ignored")
            return InboundOutcome(kind: .unknownSender)
        }
        guard let to = webhook.to else { return ignored("unknown") }
        if let refusal = InboundService.refusal(webhook) {
            guard let sender = try routed ?? store.sender(phone: to) else { return ignored("unknown") }
            guard sender.isActive else { return ignored("disabled") }
            return InboundOutcome(kind: .rejected, reply: refusal)
        }
        if routed?.isActive == false { return ignored("disabled") }
        let text = webhook.text
        let message = IncomingMessage(sid: sid, from: webhook.from, to: to, text: text, mediaJSON: webhook.mediaJSON,
                                      profileName: webhook.profileName, newPatientLanguage: { InboundText.detectLanguage(text) ?? .en },
                                      sender: routed)
        return try store.receive(message, log: log) { recording in
            switch recording {
            case .unknownSender: return ignored("unknown")
            case .disabledSender: return ignored("disabled")
            case .elsewhere: return InboundOutcome(kind: .duplicate)
            case .recorded(let r, let turn): return try answer(webhook, r, turn)
            }
        }
    }

    /// The polite refusal of a message not recorded: too long to read, or nothing to read.
    static func refusal(_ webhook: InboundWebhook) -> String? {
        if case .tooLong = webhook.body { return InboundReplies.tooLong }
        return webhook.isEmpty ? InboundReplies.emptyMessage : nil
    }

    /// A recorded message: answered once. A retry answers the first attempt's reply; one recorded but
    /// never answered (the first attempt crashed between the phases, or is still deciding) is decided
    /// now — the reply's unique key keeps it to one answer either way.
    func answer(_ webhook: InboundWebhook, _ recorded: RecordedMessage, _ turn: any ConversationTurn) throws -> InboundOutcome {
        func duplicate(_ s: StoredReply) -> InboundOutcome { InboundOutcome(kind: .duplicate, reply: s.reply, messageID: s.messageID) }
        var r = recorded
        if !r.isNew {
            // To this workspace only: a MessageSid recorded by another clinic answers nothing of that
            // clinic's conversation.
            let stored = try turn.storedReply()
            guard let messageID = stored.messageID, stored.reply == nil else { return duplicate(stored) }
            r.messageID = messageID
        }
        // From here on the workspace is known: every line about this message names it.
        var service = self
        service.log[metadataKey: "workspace_id"] = "\(r.sender.workspaceID)"
        do {
            return try service.decide(webhook, Turn(r, turn))
        } catch is MessageAlreadyAnswered {
            return duplicate(try turn.storedReply())
        }
    }

    /// A recorded message with the store's turn that answers it.
    struct Turn {
        let message: RecordedMessage
        let store: any ConversationTurn
        /// What the bot knows of the conversation.
        let conversation: ConversationSnapshot
        var sender: SenderRoute { message.sender }

        init(_ message: RecordedMessage, _ store: any ConversationTurn) {
            self.message = message
            self.store = store
            conversation = ConversationSnapshot(state: message.state, language: message.patientLanguage ?? .en,
                                                pending: PendingOffer.parse(message.pendingIntent), timeZone: message.sender.timezone)
        }
    }

    /// The reply and the side effects decided for it.
    struct Decision {
        var reply: String?
        var language: Language
        var pending: PendingOffer?
        var consent: Bool? = nil
        var handoff = false
        var appointmentID: Int64? = nil
        var usedGemini = false
        var botFailure: String? = nil

        var write: ReplyWrite {
            ReplyWrite(reply: reply, language: language, offerJSON: pending?.json, consent: consent, handoff: handoff)
        }
    }

    func decide(_ m: InboundWebhook, _ t: Turn) throws -> InboundOutcome {
        let now = self.now()
        let d: Decision
        switch InboundDecision.first(text: m.text, conversation: t.conversation, now: now) {
        case .silent:
            try t.store.settle()
            return InboundOutcome(kind: .silent, messageID: t.message.messageID)
        case .consent(let optIn, let language):
            let reply = optIn ? InboundReplies.optedIn(clinic: t.sender.clinicName, language: language)
                : InboundReplies.optedOut(clinic: t.sender.clinicName, language: language)
            d = try write(Decision(reply: reply, language: language, pending: nil, consent: optIn), t)
        case .handoff(let language):
            d = try write(Decision(reply: InboundReplies.handoff(language: language), language: language, pending: nil, handoff: true), t)
        case .book(let slot, let language, let rescheduleOf):
            d = try book(slot, language: language, rescheduleOf: rescheduleOf, t, now: now)
        case .slotGone(let slot, let language, let rescheduleOf):
            d = try taken(slot, language: language, rescheduleOf: rescheduleOf, t, now: now)
        case .notAnOption(let language):
            let fresh = try freshOffer(t.sender, language: language, now: now)
            d = try write(Decision(reply: InboundReplies.offer(InboundReplies.notAnOption(language: language), fresh, language: language),
                                   language: language, pending: fresh), t)
        case .bot(let language):
            d = try bot(m, t, language: language, now: now)
        }
        return InboundOutcome(kind: d.reply == nil ? .silent : .replied, reply: d.reply, messageID: t.message.messageID,
                              appointmentID: d.appointmentID, usedGemini: d.usedGemini, botFailure: d.botFailure)
    }

    /// The model (or the rules): free slots and history are read, then Gemini is called with no
    /// transaction open; its answer becomes a `BotAction` (pure) that is written.
    func bot(_ m: InboundWebhook, _ t: Turn, language: Language, now: Date) throws -> Decision {
        // Never a transaction open across the model call: the message and its marks commit first.
        try t.store.settle()
        let free = try freeSlots(t.sender.workspaceID, now, days, OfferPolicy.candidates)
        var usedGemini = false
        var failure: String? = nil
        let action: BotAction
        if let gemini {
            let offered = FreeSlots.offer(free, count: OfferPolicy.modelOfferCount)
            let offer = offered.isEmpty ? nil : PendingOffer.make(offered, timeZone: t.sender.timezone, language: language, now: now)
            switch askGemini(gemini, turn: t.store, sender: t.sender, offer: offer, now: now) {
            case .success(let answer):
                action = InboundDecision.act(on: answer, offer: offer, pending: t.conversation.pending, timeZone: t.sender.timezone, now: now)
                usedGemini = true
            case .failure(let error):
                log.warning("bot fallback for conversation \(t.message.conversationID): \(error)")
                failure = error.code
                action = rules(m, t, free: free, language: language, now: now)
            }
        } else {
            failure = GeminiError.missingKey.code
            action = rules(m, t, free: free, language: language, now: now)
        }
        var d = try perform(action, t, now: now)
        d.usedGemini = usedGemini
        d.botFailure = failure
        return d
    }

    func rules(_ m: InboundWebhook, _ t: Turn, free: [Slot], language: Language, now: Date) -> BotAction {
        let offered = FreeSlots.offer(free, count: offerCount)
        let offer = offered.isEmpty ? nil : PendingOffer.make(offered, timeZone: t.sender.timezone, language: language, now: now)
        return InboundDecision.rules(text: m.text, offer: offer, pending: t.conversation.pending, clinic: t.sender.clinicName, language: language)
    }

    func perform(_ action: BotAction, _ t: Turn, now: Date) throws -> Decision {
        switch action {
        case .book(let slot, let language, let rescheduleOf):
            if slot.slot.startsAt > now { return try book(slot, language: language, rescheduleOf: rescheduleOf, t, now: now) }
            return try taken(slot, language: language, rescheduleOf: rescheduleOf, t, now: now)
        case .cancelNext(let language):
            return try cancelNext(t, language: language, now: now)
        case .rescheduleNext(let offer, let language):
            return try write(try reschedule(t, offer: offer, language: language, now: now), t)
        case .handoff(let language):
            return try write(Decision(reply: InboundReplies.handoff(language: language), language: language, pending: nil, handoff: true), t)
        case .reply(let text, let offer, let language):
            return try write(Decision(reply: text, language: language, pending: offer), t)
        }
    }

    /// `excluding`: a doctor whose slots are not to be offered (one who no longer sees patients here).
    func freshOffer(_ sender: SenderRoute, language: Language, now: Date, excluding: Int64? = nil) throws -> PendingOffer? {
        let free = try freeSlots(sender.workspaceID, now, days, OfferPolicy.candidates)
            .filter { $0.doctorUserID != excluding }
        let offered = FreeSlots.offer(free, count: offerCount)
        return offered.isEmpty ? nil : PendingOffer.make(offered, timeZone: sender.timezone, language: language, now: now)
    }

    // MARK: write

    /// Books the chosen slot as `pending_review` with its reply (the store's one statement); a slot
    /// taken meanwhile, or whose doctor no longer sees patients here, is answered by `taken`.
    func book(_ chosen: OfferedSlot, language: Language, rescheduleOf: Int64?, _ t: Turn, now: Date) throws -> Decision {
        // The same limits as every other path that places an appointment (a stale offer out of them is gone).
        guard AppointmentSpan.problem(startsAt: chosen.slot.startsAt, endsAt: chosen.slot.endsAt, now: now) == nil else {
            return try taken(chosen, language: language, rescheduleOf: rescheduleOf, t, now: now)
        }
        let label = LocalTime.describe(chosen.slot.startsAt, timeZone: t.sender.timezone, language: language.rawValue, now: now)
        let reply = InboundReplies.booked(label, language: language)
        switch try t.store.book(SlotBooking(doctorID: chosen.doctorID, startsAt: chosen.slot.startsAt, endsAt: chosen.slot.endsAt,
                                            replaces: rescheduleOf, reply: reply, language: language)) {
        case .booked(let id):
            return Decision(reply: reply, language: language, pending: nil, appointmentID: id)
        case .taken:
            log.info("slot \(label) for doctor \(chosen.doctorID) was taken meanwhile")
            return try taken(chosen, language: language, rescheduleOf: rescheduleOf, t, now: now)
        case .doctorGone:
            log.info("offered doctor \(chosen.doctorID) is no longer a doctor of this workspace")
            return try taken(chosen, language: language, rescheduleOf: rescheduleOf, t, now: now, gone: true)
        }
    }

    /// The chosen slot is gone (taken meanwhile, its time has come, or — `gone` — its doctor no
    /// longer sees patients here): say so and offer others.
    func taken(_ chosen: OfferedSlot, language: Language, rescheduleOf: Int64?, _ t: Turn, now: Date, gone: Bool = false) throws -> Decision {
        let label = LocalTime.describe(chosen.slot.startsAt, timeZone: t.sender.timezone, language: language.rawValue, now: now)
        var fresh = try freshOffer(t.sender, language: language, now: now, excluding: gone ? chosen.doctorID : nil)
        fresh?.rescheduleOf = rescheduleOf
        let sorry = gone ? InboundReplies.unavailable(label, language: language) : InboundReplies.taken(label, language: language)
        return try write(Decision(reply: InboundReplies.offer(sorry, fresh, language: language), language: language, pending: fresh), t)
    }

    /// Cancels the patient's next appointment and says which, together (the store's short transaction).
    func cancelNext(_ t: Turn, language: Language, now: Date) throws -> Decision {
        var decided = Decision(reply: nil, language: language, pending: nil)
        try t.store.cancelNext(after: now) { at in
            guard let at else {
                decided = Decision(reply: InboundReplies.nothingToCancel(language: language), language: language, pending: nil)
                return decided.write
            }
            let label = LocalTime.describe(at, timeZone: t.sender.timezone, language: language.rawValue, now: now)
            decided = Decision(reply: InboundReplies.cancelled(label, language: language), language: language, pending: nil)
            return decided.write
        }
        return decided
    }

    /// The patient's next appointment (to be replaced), and the offer that will replace it.
    func reschedule(_ t: Turn, offer: PendingOffer?, language: Language, now: Date) throws -> Decision {
        guard let next = try t.store.nextAppointment(after: now) else {
            return Decision(reply: InboundReplies.offer(InboundReplies.nothingToMove(language: language), offer, language: language),
                            language: language, pending: offer)
        }
        var replacing = offer
        replacing?.rescheduleOf = next.id
        let label = LocalTime.describe(next.startsAt, timeZone: t.sender.timezone, language: language.rawValue, now: now)
        return Decision(reply: InboundReplies.offer(InboundReplies.moving(label, language: language), replacing, language: language),
                        language: language, pending: replacing)
    }

    /// Writes a decision in one statement (the store's).
    func write(_ d: Decision, _ t: Turn) throws -> Decision {
        try t.store.write(d.write)
        return d
    }
}
