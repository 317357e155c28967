import Foundation
import Gemini

/// The model's structured answer, validated.
public struct BotAnswer: Sendable, Equatable {
    public var reply: String
    public var intent: Intent
    public var selectedSlot: Int?
    public var language: Language

    public init(reply: String, intent: Intent, selectedSlot: Int?, language: Language) {
        self.reply = reply
        self.intent = intent
        self.selectedSlot = selectedSlot
        self.language = language
    }

    /// The JSON schema sent as `responseJsonSchema`.
    public static let schema = GeminiSchema([
            "type": "object",
            "properties": [
                "reply": ["type": "string", "description": "The WhatsApp message to send to the patient, in their language."],
                "intent": ["type": "string", "enum": Intent.modelIntents.map(\.rawValue)],
                "selected_slot": ["type": ["integer", "null"],
                                  "description": "The number of the offered slot the patient chose, or null."],
                "language": ["type": "string", "enum": Language.allCases.map(\.rawValue)],
            ] as [String: Any],
            "required": ["reply", "intent", "selected_slot", "language"],
        ])

    /// Parses and validates the model's text; anything else than a complete, consistent answer is an error.
    public static func parse(_ text: String, slotCount: Int) throws(GeminiError) -> BotAnswer {
        guard let o = try? JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any] else {
            throw .invalidResponse("the model's answer is not a JSON object")
        }
        guard let reply = (o["reply"] as? String)?.trimmingCharacters(in: .whitespacesAndNewlines), !reply.isEmpty,
              reply.count <= 1600 else { throw .invalidResponse("reply must be a non-empty string of at most 1600 characters") }
        guard let intent = (o["intent"] as? String).flatMap(Intent.init(rawValue:)), Intent.modelIntents.contains(intent) else {
            throw .invalidResponse("intent must be one of \(Intent.modelIntents.map(\.rawValue).joined(separator: ", "))")
        }
        guard let language = (o["language"] as? String).flatMap(Language.init(rawValue:)) else {
            throw .invalidResponse("language must be en or es")
        }
        var slot: Int? = nil
        switch o["selected_slot"] {
        case nil, is NSNull: slot = nil
        // A JSON true/false is an NSNumber of type "c": not a slot number.
        case let n as NSNumber where String(cString: n.objCType) != "c" && n.doubleValue == n.doubleValue.rounded():
            guard (1...max(slotCount, 1)).contains(n.intValue), slotCount > 0 else {
                throw .invalidResponse("selected_slot \(n) is not one of the offered slots")
            }
            slot = n.intValue
        default:
            throw .invalidResponse("selected_slot must be an integer or null")
        }
        return BotAnswer(reply: reply, intent: intent, selectedSlot: slot, language: language)
    }
}

extension InboundService {
    /// The system instruction: clinic, local date/time, numbered free slots, rules.
    static func instruction(sender: SenderRoute, offer: PendingOffer?, now: Date) -> String {
        var lines = [
            "You are the WhatsApp booking assistant of \(sender.clinicName). Answer briefly and kindly, in the patient's language (English or Spanish).",
            "Clinic information: \(sender.clinicInfo.isEmpty ? "none given" : sender.clinicInfo)",
            "The clinic's local date and time now: \(LocalTime.longNow(now, timeZone: sender.timezone)) (\(sender.timezone)).",
        ]
        if let offer, !offer.slots.isEmpty {
            lines.append("Free appointment slots: the \"slots\" list of the JSON part below (n, label, starts_at); offer them by label with their number n (the patient may answer with the number).")
        } else {
            lines.append("There are no free appointment slots in the next days.")
        }
        lines += [
            "Rules: never invent slots; when the patient picks one of the slots above set intent to \"book\" and selected_slot to its number.",
            "Use intent \"cancel\" when they want to cancel their appointment, \"handoff\" when they ask for a person,",
            "\"reschedule\" to move an appointment, otherwise \"question\", \"greeting\" or \"farewell\". Do not give medical advice.",
            "Answer only with the JSON object of the schema: reply, intent, selected_slot, language.",
        ]
        return lines.joined(separator: "\n")
    }

    /// Asks the model (no transaction open: the history, the conversation's last 8 messages with the
    /// current one last, is read by a statement of its own).
    func askGemini(_ gemini: GeminiClient, turn: any ConversationTurn, sender: SenderRoute, offer: PendingOffer?, now: Date)
        -> Result<BotAnswer, GeminiError>
    {
        do throws(GeminiError) {
            let turns: [GeminiTurn]
            do {
                turns = try turn.history().map { GeminiTurn(role: $0.isInbound ? .user : .model, text: $0.body) }
            } catch {
                throw GeminiError(code: "transport", message: "cannot read the history: \(error)")
            }
            let text = try gemini.generateJSON(system: InboundService.instruction(sender: sender, offer: offer, now: now), data: OfferPolicy.modelSlots(offer),
                                               turns: turns, schema: BotAnswer.schema)
            return .success(try BotAnswer.parse(text, slotCount: offer?.slots.count ?? 0))
        } catch {
            return .failure(error)
        }
    }
}

enum Dates {
    static func iso(_ d: Date) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        return f.string(from: d)
    }
}
