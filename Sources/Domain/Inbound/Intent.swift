/// What a patient's message asks for: the model's `intent`, or the keyword rules' guess.
public enum Intent: String, Sendable, CaseIterable, Codable {
    case book, cancel, reschedule, question, greeting, farewell, handoff
    /// Only the keyword rules say this (the model answers thanks as a "farewell" or "question").
    case thanks

    /// The intents the model may answer (its JSON schema's enum).
    public static let modelIntents: [Intent] = [.book, .cancel, .reschedule, .question, .greeting, .farewell, .handoff]
}
