import Postgres
/// The closed sets of the inbound path as enums. Each decodes from a column with a clear
/// `decode_failed` error naming the column when the row holds an unknown value (never a trap), and
/// binds as its raw value.

/// A language the bot speaks (`patients.preferred_language`, the offer's language, the model's answer).
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

/// What a patient's message asks for: the model's `intent`, or the keyword rules' guess.
public enum Intent: String, Sendable, CaseIterable, Codable {
    case book, cancel, reschedule, question, greeting, farewell, handoff
    /// Only the keyword rules say this (the model answers thanks as a "farewell" or "question").
    case thanks

    /// The intents the model may answer (its JSON schema's enum).
    public static let modelIntents: [Intent] = [.book, .cancel, .reschedule, .question, .greeting, .farewell, .handoff]
}
