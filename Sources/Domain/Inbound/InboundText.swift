import Foundation

/// The keyword rules of the inbound path: normalization, language, opt-out/opt-in, handoff and
/// slot shortcuts. Pure functions (tested without a database).
public enum InboundText {
    /// Lower-case, accents removed, punctuation as spaces, single spaces: "¡Hola, ¿Qué tal!" → "hola que tal".
    public static func normalize(_ text: String) -> String {
        if ASCIIText.isASCII(text) { return normalizeASCII(text) }
        let folded = text.folding(options: [.diacriticInsensitive, .caseInsensitive], locale: Locale(identifier: "en_US_POSIX"))
            .lowercased()
        var out = ""
        var space = true
        for ch in folded {
            if ch.isLetter || ch.isNumber {
                out.append(ch)
                space = false
            } else if !space {
                out.append(" ")
                space = true
            }
        }
        if out.hasSuffix(" ") { out.removeLast() }
        return out
    }

    /// `normalize` for ASCII text, byte by byte: for ASCII, folding is lower-casing, the letters and
    /// numbers are a-z and 0-9, and CR LF (one Character) is two separators that collapse to one space.
    static func normalizeASCII(_ text: String) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(text.utf8.count)
        var space = true
        for b in text.utf8 {
            let lower = b >= 0x41 && b <= 0x5A ? b + 0x20 : b
            if (lower >= 0x61 && lower <= 0x7A) || (lower >= 0x30 && lower <= 0x39) {
                out.append(lower)
                space = false
            } else if !space {
                out.append(0x20)
                space = true
            }
        }
        if out.last == 0x20 { out.removeLast() }
        return String(decoding: out, as: UTF8.self)
    }

    static let spanishWords: Set<String> = [
        "hola", "cita", "quiero", "quisiera", "gracias", "buenos", "buenas", "dias", "tardes", "noches", "reservar",
        "agendar", "cancelar", "manana", "por", "favor", "para", "una", "el", "la", "de", "que", "con", "adios", "hablar",
        "alguien", "necesito", "puedo", "tengo", "hora", "turno", "opcion", "cambiar", "reprogramar", "es", "mi", "hasta",
        "luego", "persona", "humano", "medico", "doctora", "cuando", "donde", "cuanto", "cuesta", "y", "me", "esta",
        "estoy", "consulta", "vale", "claro", "bien", "chao", "las", "los", "en", "del", "al", "pero", "puede", "hay",
        "lunes", "martes", "miercoles", "jueves", "viernes", "sabado", "domingo", "precio", "ayuda", "baja", "alta",
        "suscripcion", "horario", "horarios", "disponible", "nada", "algo", "usted", "ustedes", "podria",
    ]
    static let englishWords: Set<String> = [
        "hi", "hello", "hey", "the", "i", "want", "book", "appointment", "please", "thanks", "thank", "you", "can",
        "is", "my", "cancel", "need", "with", "to", "an", "time", "tomorrow", "would", "like", "good", "morning",
        "afternoon", "evening", "bye", "goodbye", "talk", "speak", "someone", "human", "person", "agent", "what",
        "when", "where", "how", "much", "does", "it", "cost", "first", "second", "option", "reschedule", "and", "do",
        "have", "are", "there", "any", "yes", "see", "stop", "start", "unsubscribe", "available", "slot",
    ]

    /// Spanish or English when the text says which, else nil (numbers, "ok", emoji…).
    public static func detectLanguage(_ text: String) -> Language? {
        detectLanguage(text, normalized: normalize(text))
    }

    /// `detectLanguage` when the caller has `normalize(text)` already.
    static func detectLanguage(_ text: String, normalized: String) -> Language? {
        if !ASCIIText.isASCII(text), text.contains(where: { "ñ¿¡áéíóú".contains($0) }) { return .es }
        let w = normalized.split(separator: " ").map(String.init)
        let es = w.filter(spanishWords.contains).count
        let en = w.filter(englishWords.contains).count
        if es > en { return .es }
        if en > es { return .en }
        return nil
    }

    // MARK: opt-out / opt-in (the whole message is the keyword)

    /// Opt-out keywords and the language they imply (nil: the patient's own language).
    static let optOut: [String: Language?] = [
        "stop": nil, "stopall": nil, "unsubscribe": .en, "end": .en, "quit": .en, "optout": .en, "opt out": .en,
        "stop messages": .en, "baja": .es, "dar de baja": .es, "darme de baja": .es, "cancelar suscripcion": .es,
        "cancelar la suscripcion": .es, "desuscribir": .es, "desuscribirme": .es, "no mas mensajes": .es,
        "alto": .es, "parar": .es,
    ]
    static let optIn: [String: Language?] = [
        "start": nil, "unstop": .en, "subscribe": .en, "resubscribe": .en, "opt in": .en, "optin": .en,
        "alta": .es, "dar de alta": .es, "darme de alta": .es, "suscribir": .es, "suscribirme": .es,
        "reanudar": .es,
    ]

    public enum Consent: Equatable, Sendable { case optOut(language: Language?), optIn(language: Language?) }

    public static func consentKeyword(_ text: String) -> Consent? { consentKeyword(normalized: normalize(text)) }

    static func consentKeyword(normalized n: String) -> Consent? {
        if let l = optOut[n] { return .optOut(language: l) }
        if let l = optIn[n] { return .optIn(language: l) }
        return nil
    }

    // MARK: handoff

    static let handoffPhrases = [
        "human", "humans", "agent", "operator", "real person", "a person", "talk to someone", "speak to someone",
        "talk to a person", "speak to a person", "receptionist", "staff member",
        "humano", "una persona", "agente", "operador", "hablar con alguien", "hablar con una persona", "recepcion",
        "recepcionista", "alguien del equipo", "persona real",
    ]

    /// The phrases as the bytes of " phrase " (all ASCII), for `asksForHuman(normalized:)`.
    static let handoffNeedles: [[UInt8]] = handoffPhrases.map { Array(" \($0) ".utf8) }

    public static func asksForHuman(_ text: String) -> Bool { asksForHuman(normalized: normalize(text)) }

    static func asksForHuman(normalized: String) -> Bool {
        let t = " " + normalized + " "
        if ASCIIText.isASCII(t) { return handoffNeedles.contains { ASCIIText.contains(t, $0) } }
        return handoffPhrases.contains { t.contains(" \($0) ") }
    }

    // MARK: slot shortcuts

    public enum Shortcut: Equatable, Sendable {
        case number(Int)
        /// Minutes after midnight; `meridiem` true when AM/PM was said.
        case time(minutes: Int, meridiem: Bool)
    }

    /// "1", "2.", "#3", "opción 2", "9:00", "09:00", "9h", "9 am", "14:30" — nothing else.
    public static func shortcut(_ text: String) -> Shortcut? {
        var t = ASCIIText.trimmingWhitespacesAndNewlines(text).lowercased()
        guard !t.isEmpty, t.count <= 16 else { return nil }
        for prefix in ["option ", "opcion ", "opción ", "#", "n.", "no. ", "numero ", "número "] where t.hasPrefix(prefix) {
            t = ASCIIText.trimmingWhitespaces(String(t.dropFirst(prefix.count)))
        }
        while let last = t.last, last == "." || last == ")" || last == "!" { t.removeLast() }
        let chars = Array(t)
        var i = 0
        func digits(max: Int) -> Int? {
            var n = 0, k = 0
            while i < chars.count, k < max, let d = chars[i].wholeNumberValue, chars[i].isASCII { n = n * 10 + d; i += 1; k += 1 }
            return k == 0 ? nil : n
        }
        guard let first = digits(max: 2) else { return nil }
        if i == chars.count { return first >= 1 ? .number(first) : nil }
        var minute = 0
        var hasMinute = false
        if chars[i] == ":" || chars[i] == "." {
            i += 1
            let start = i
            guard let m = digits(max: 2), i - start == 2, m < 60 else { return nil }
            minute = m
            hasMinute = true
        }
        let rest = String(chars[i...]).replacingOccurrences(of: " ", with: "").replacingOccurrences(of: ".", with: "")
        var hour = first
        var meridiem = false
        switch rest {
        case "": guard hasMinute else { return nil }
        case "h", "hs", "hrs", "horas": break
        case "am": meridiem = true; if hour == 12 { hour = 0 }
        case "pm": meridiem = true; if hour < 12 { hour += 12 }
        default: return nil
        }
        guard hour < 24, first <= (meridiem ? 12 : 23) else { return nil }
        return .time(minutes: hour * 60 + minute, meridiem: meridiem)
    }

    // MARK: fallback intent

    public static func fallbackIntent(_ text: String) -> Intent {
        let t = " " + normalize(text) + " "
        func has(_ p: [String]) -> Bool { p.contains { t.contains(" \($0) ") } }
        if has(["cancel", "cancelar", "cancela", "cancelo", "anular"]) { return .cancel }
        if has(["reschedule", "move my appointment", "change my appointment", "reprogramar", "cambiar mi cita", "mover mi cita"]) {
            return .reschedule
        }
        if has(["bye", "goodbye", "see you", "adios", "hasta luego", "chao", "nos vemos", "hasta pronto"]) { return .farewell }
        if has(["thanks", "thank you", "gracias", "muchas gracias"]) && !has(["book", "cita", "appointment"]) { return .thanks }
        if has(["book", "appointment", "schedule", "reserve", "booking", "available", "slot", "cita", "reservar", "agendar",
                "turno", "consulta", "reserva", "horario", "horarios", "disponible"]) { return .book }
        if has(["hi", "hello", "hey", "good morning", "good afternoon", "good evening", "hola", "buenos dias",
                "buenas tardes", "buenas noches", "buenas", "saludos"]) { return .greeting }
        return .question
    }
}
