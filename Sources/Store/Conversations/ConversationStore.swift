import Foundation
import MedsyncLog
import Postgres

/// A language the bot speaks (`patients.preferred_language`, the offer's language, the model's answer).
/// Decodes from a column with a clear `decode_failed` error naming the column when the row holds an
/// unknown value (never a trap), and binds as its raw value.
public enum Language: String, Sendable, CaseIterable, Codable, PGDecodable, PGEncodable {
    case en, es

    public static func pgDecode(text: String) -> Language? { Language(rawValue: text) }
    public var pgValue: PGValue { PGValue(rawValue) }
}

/// `whatsapp_conversations.state`: the bot answers, or staff took the conversation over.
public enum ConversationState: String, Sendable, CaseIterable, PGDecodable, PGEncodable {
    case bot, handoff

    public static func pgDecode(text: String) -> ConversationState? { ConversationState(rawValue: text) }
    public var pgValue: PGValue { PGValue(rawValue) }
}

/// A subaccount's SID and its auth token as stored (Fernet-encrypted).
public struct SubaccountCredential: Sendable, Equatable {
    public var sid: String?
    public var tokenEnc: String

    public init(sid: String?, tokenEnc: String) {
        self.sid = sid
        self.tokenEnc = tokenEnc
    }
}

/// The sender a webhook's `To` names (the active one, else the most recent inactive one, so a
/// disabled number can still be told apart from an unknown one), with its workspace's details.
public struct SenderRoute: Sendable, Equatable {
    public var senderID: Int64
    public var workspaceID: Int64
    public var phone: String
    public var isActive: Bool
    public var subaccountSID: String?
    public var subaccountTokenEnc: String?
    public var timezone: String
    public var clinicName: String
    public var clinicInfo: String

    public init(senderID: Int64, workspaceID: Int64, phone: String, isActive: Bool, subaccountSID: String? = nil,
                subaccountTokenEnc: String? = nil, timezone: String, clinicName: String, clinicInfo: String) {
        self.senderID = senderID
        self.workspaceID = workspaceID
        self.phone = phone
        self.isActive = isActive
        self.subaccountSID = subaccountSID
        self.subaccountTokenEnc = subaccountTokenEnc
        self.timezone = timezone
        self.clinicName = clinicName
        self.clinicInfo = clinicInfo
    }

    /// The subaccount whose token may sign this number's webhooks.
    public var subaccount: SubaccountCredential? {
        subaccountTokenEnc.map { SubaccountCredential(sid: subaccountSID, tokenEnc: $0) }
    }
}

/// An inbound message as it is recorded (the webhook's fields, decoded and bounded by Domain).
public struct IncomingMessage: Sendable {
    /// The MessageSid: one row per SID.
    public var sid: String
    /// The patient's number.
    public var from: String
    /// Our sender number the message was sent to: routes it to its workspace.
    public var to: String
    public var text: String
    /// The media list as the `whatsapp_messages.media` JSON array.
    public var mediaJSON: String
    /// WhatsApp's profile name ("" when none): names a patient who has no name yet.
    public var profileName: String
    /// The language a new patient starts with (asked only when the patient is made).
    public var newPatientLanguage: @Sendable () -> Language
    /// The active sender `to` names when this request looked it up already (the signature check): the
    /// recording statement takes it as it is instead of looking the clinic up again.
    public var sender: SenderRoute?

    public init(sid: String, from: String, to: String, text: String, mediaJSON: String = "[]", profileName: String = "",
                newPatientLanguage: @escaping @Sendable () -> Language = { .en }, sender: SenderRoute? = nil) {
        self.sender = sender
        self.sid = sid
        self.from = from
        self.to = to
        self.text = text
        self.mediaJSON = mediaJSON
        self.profileName = profileName
        self.newPatientLanguage = newPatientLanguage
    }
}

/// A message as recording left it, with what the answer needs of its patient and conversation.
public struct RecordedMessage: Sendable, Equatable {
    public var sender: SenderRoute
    public var patientID: Int64
    public var conversationID: Int64
    /// 0 for a retry until `ConversationTurn.storedReply()` found the first attempt's row.
    public var messageID: Int64
    /// false: this MessageSid was recorded before (a retry).
    public var isNew: Bool
    /// The patient's stored language (nil: none yet).
    public var patientLanguage: Language?
    public var state: ConversationState
    /// The conversation's pending offer as stored (`pending_intent`'s text).
    public var pendingIntent: String?

    public init(sender: SenderRoute, patientID: Int64, conversationID: Int64, messageID: Int64, isNew: Bool,
                patientLanguage: Language?, state: ConversationState, pendingIntent: String?) {
        self.sender = sender
        self.patientID = patientID
        self.conversationID = conversationID
        self.messageID = messageID
        self.isNew = isNew
        self.patientLanguage = patientLanguage
        self.state = state
        self.pendingIntent = pendingIntent
    }
}

/// What recording a message found.
public enum Recording {
    case unknownSender, disabledSender
    /// The MessageSid belongs to another clinic's message: nothing was recorded.
    case elsewhere
    /// Recorded (or found recorded, a retry), with the turn that answers it.
    case recorded(RecordedMessage, any ConversationTurn)
}

/// The answer the first attempt of a MessageSid gave, in the sender's workspace.
public struct StoredReply: Sendable, Equatable {
    /// nil: no message with this SID in this workspace.
    public var messageID: Int64?
    /// nil: the message was never answered.
    public var reply: String?

    public init(messageID: Int64?, reply: String?) {
        self.messageID = messageID
        self.reply = reply
    }
}

/// What an answer writes in one statement: the reply linked to the message (its unique key
/// decides), the conversation's offer and state, the patient's language and consent.
public struct ReplyWrite: Sendable, Equatable {
    public var reply: String?
    public var language: Language
    /// The offer to remember (`pending_intent` JSON), nil clears it.
    public var offerJSON: String?
    /// Consent set on (true) or off (false); nil leaves it.
    public var consent: Bool?
    /// The conversation goes to staff.
    public var handoff: Bool

    public init(reply: String?, language: Language, offerJSON: String?, consent: Bool? = nil, handoff: Bool = false) {
        self.reply = reply
        self.language = language
        self.offerJSON = offerJSON
        self.consent = consent
        self.handoff = handoff
    }
}

/// A slot booked as `pending_review` with its reply, the offer cleared and the patient's language.
public struct SlotBooking: Sendable, Equatable {
    public var doctorID: Int64
    public var startsAt: Date
    public var endsAt: Date
    /// The appointment this booking replaces (cancelled with it).
    public var replaces: Int64?
    public var reply: String
    public var language: Language

    public init(doctorID: Int64, startsAt: Date, endsAt: Date, replaces: Int64?, reply: String, language: Language) {
        self.doctorID = doctorID
        self.startsAt = startsAt
        self.endsAt = endsAt
        self.replaces = replaces
        self.reply = reply
        self.language = language
    }
}

public enum BookingResult: Sendable, Equatable {
    case booked(appointmentID: Int64)
    /// The doctor's time was taken meanwhile: nothing was written.
    case taken
    /// The doctor is not (or no longer) a doctor of this workspace: nothing was written.
    case doctorGone
}

/// The patient's next appointment that is not cancelled.
public struct UpcomingAppointment: Sendable, Equatable {
    public var id: Int64
    public var startsAt: Date

    public init(id: Int64, startsAt: Date) {
        self.id = id
        self.startsAt = startsAt
    }
}

/// One line of a conversation's history, as the model reads it.
public struct HistoryLine: Sendable, Equatable {
    public var isInbound: Bool
    public var body: String

    public init(isInbound: Bool, body: String) {
        self.isInbound = isInbound
        self.body = body
    }
}

/// Thrown by a turn's write when another delivery of the same MessageSid answered it first (the
/// reply's unique key): nothing of this write was kept; the stored reply is the answer.
public struct MessageAlreadyAnswered: Error, Sendable {
    public init() {}
}

/// One recorded message being answered: what its answer reads and writes, in the unit of work the
/// store opened for it (`ConversationStore.receive`). Each write is one statement; the store decides
/// whether it carries the COMMIT of a transaction still open.
public protocol ConversationTurn: AnyObject {
    /// The first attempt's reply (a retry); fills the turn's message id with the first attempt's.
    func storedReply() throws -> StoredReply
    /// The answer writes nothing now (it says nothing, or it is to call the model): the message is
    /// committed with its marks on the conversation, so no transaction stays open across a slow call.
    func settle() throws
    /// Writes the reply and what goes with it. Throws `MessageAlreadyAnswered`.
    func write(_ write: ReplyWrite) throws
    /// Books a slot with its reply. Throws `MessageAlreadyAnswered`.
    func book(_ booking: SlotBooking) throws -> BookingResult
    /// Cancels the patient's next appointment after `now` and writes the reply `answer` gives for its
    /// start (nil: there was none), together. Throws `MessageAlreadyAnswered`.
    func cancelNext(after now: Date, answer: (Date?) -> ReplyWrite) throws
    /// The patient's next appointment after `now`.
    func nextAppointment(after now: Date) throws -> UpcomingAppointment?
    /// The conversation's last 8 messages with a body, oldest first (the current one last).
    func history() throws -> [HistoryLine]
}

/// Conversations and their messages as the webhooks see them: routing a number to its clinic,
/// recording an inbound message and answering it once, and Twilio's status callbacks.
public protocol ConversationStore {
    /// The sender a number names; routes the session to its workspace (row-level security).
    func sender(phone: String) throws -> SenderRoute?
    /// A sender's workspace kept from an earlier request may be stale: true when it will be looked up
    /// again (the caller then asks again, once).
    func routeAgain() -> Bool
    /// Records `message` and answers it with `answer` as one unit of work the store owns: a new message
    /// is recorded and answered in one transaction when it can be; a database error in it rolls it back,
    /// and the message is recorded and answered again in steps.
    func receive<T>(_ message: IncomingMessage, log: Logger, answer: (Recording) throws -> T) throws -> T
    /// The subaccount a status callback names (by AccountSid, else by the sender number in From).
    func subaccountToken(accountSID: String?, from: String?) throws -> SubaccountCredential?
    /// Moves the status of the message `sid` forward (the schema keeps the order), only for a message
    /// sent through a sender of `account` (its subaccount, or the master account for a sender without
    /// one). `found` false: no such message of that account; else the message's status after it.
    func updateStatus(sid: String, status: String, errorCode: Int?, errorMessage: String?, account: String,
                      masterAccountSID: String) throws -> (found: Bool, status: String?)
}
