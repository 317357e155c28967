import Foundation

enum GeminiErrors {
    /// Google's error body: {"error":{"code":…,"message":…,"status":…}}.
    static func response(_ code: Int, _ message: String? = nil) -> SandboxResponse {
        let (status, text): (String, String)
        switch code {
        case 400: (status, text) = ("INVALID_ARGUMENT", "Request contains an invalid argument.")
        case 401: (status, text) = ("UNAUTHENTICATED", "Request is missing required authentication credential.")
        case 403: (status, text) = ("PERMISSION_DENIED", "Method doesn't allow unregistered callers. Please use an API key.")
        case 404: (status, text) = ("NOT_FOUND", "Requested entity was not found.")
        case 429: (status, text) = ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota).")
        case 503: (status, text) = ("UNAVAILABLE", "The model is overloaded. Please try again later.")
        case 504: (status, text) = ("DEADLINE_EXCEEDED", "Deadline expired before operation could complete.")
        default: (status, text) = ("INTERNAL", "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting")
        }
        return .json(code, .object([("error", .object([
            ("code", .int(code)), ("message", .string(message ?? text)), ("status", .string(status)),
        ]))]))
    }
}

/// `POST /v1beta/models/{model}:generateContent`, answering a deterministic reply computed from the
/// last user message (so tests are stable).
struct GeminiAPI: Sendable {
    let sandbox: Sandbox

    var routes: [Route] {
        [Route("POST", "/v1beta/models/{model}:generateContent") { r, a, _ in self.generate(r, model: a["model"]!) }]
    }

    func generate(_ r: SandboxRequest, model: String) -> SandboxResponse {
        let key = r.header("x-goog-api-key") ?? Form.first(r.queryItems, "key") ?? ""
        var call = GeminiCall(model: model, apiKey: key, lastUserText: "", systemInstruction: "", at: Date(), answer: nil, fault: nil)
        func record(_ response: SandboxResponse, fault: String?) -> SandboxResponse {
            call.fault = fault
            let c = call
            sandbox.state.withLock { $0.gemini.append(c) }
            return response
        }

        guard let body = r.json, case .object = body else {
            return record(GeminiErrors.response(400, "Invalid JSON payload received."), fault: "invalid_request")
        }
        let request = GeminiRequest(body)
        call.lastUserText = request.lastUserText
        call.systemInstruction = request.systemInstruction
        call.slots = request.slots.count

        if key.isEmpty { return record(GeminiErrors.response(403), fault: "no_key") }
        if let expected = sandbox.seed.geminiKey, key != expected {
            return record(GeminiErrors.response(400, "API key not valid. Please pass a valid API key."), fault: "bad_key")
        }
        if request.contents.isEmpty {
            return record(GeminiErrors.response(400, "* GenerateContentRequest.contents: contents is not specified"), fault: "invalid_request")
        }
        var invalidJSON = false
        if let fault = sandbox.takeFault("gemini", text: request.lastUserText) {
            switch fault {
            case .http(let status): return record(GeminiErrors.response(status), fault: "http_\(status)")
            case .twilioError: return record(GeminiErrors.response(500), fault: "http_500")
            case .hang(let seconds):
                Thread.sleep(forTimeInterval: seconds)
                return record(GeminiErrors.response(504), fault: "hang")
            case .slow(let seconds):
                Thread.sleep(forTimeInterval: seconds)
            case .invalidJSON:
                invalidJSON = true
            }
        }

        let text: String
        if invalidJSON {
            text = "{\"reply\": \"Sure! Here are some times"  // cut off: not JSON
        } else {
            text = BotBrain.answer(request).serialized()
        }
        call.answer = text
        let promptTokens = max(1, (request.systemInstruction.count + request.contents.map(\.text.count).reduce(0, +)) / 4)
        let outTokens = max(1, text.count / 4)
        let response: JSON = .object([
            ("candidates", .array([.object([
                ("content", .object([("parts", .array([.object([("text", .string(text))])])), ("role", .string("model"))])),
                ("finishReason", .string("STOP")),
                ("index", .int(0)),
            ])])),
            ("usageMetadata", .object([
                ("promptTokenCount", .int(promptTokens)),
                ("candidatesTokenCount", .int(outTokens)),
                ("totalTokenCount", .int(promptTokens + outTokens)),
            ])),
            ("modelVersion", .string(model)),
            ("responseId", .string(String(SID.make("").prefix(22)))),
        ])
        return record(.json(200, response), fault: invalidJSON ? "invalid_json" : nil)
    }
}

/// What the sandbox reads from a generateContent body.
struct GeminiRequest {
    struct Turn { var role: String; var text: String }
    var systemInstruction: String
    var contents: [Turn]
    var schema: JSON?
    /// The offered slots, as the app sends them: a part of the system instruction that is the JSON
    /// object `{"slots":[{"n":1,"label":"tomorrow at 9:00 AM","starts_at":"2026-12-02T15:00:00Z"}]}`.
    var slots: [JSON]

    init(_ body: JSON) {
        func texts(_ content: JSON?) -> [String] { (content?["parts"]?.array ?? []).compactMap { $0["text"]?.string } }
        let system = texts(body["systemInstruction"] ?? body["system_instruction"])
        systemInstruction = system.joined(separator: "\n")
        contents = (body["contents"]?.array ?? []).map { Turn(role: $0["role"]?.string ?? "user", text: texts($0).joined(separator: "\n")) }
        let config = body["generationConfig"] ?? body["generation_config"]
        schema = config?["responseJsonSchema"] ?? config?["response_json_schema"] ?? config?["responseSchema"]
        slots = system.lazy.compactMap { text -> [JSON]? in
            guard text.hasPrefix("{"), let o = JSON.parse(text) else { return nil }
            return o["slots"]?.array
        }.first ?? []
    }

    var lastUserText: String { contents.last { $0.role == "user" }?.text ?? "" }
}

/// The deterministic "model": keyword rules over the last user message, slots read from the
/// structured part the app sends beside the instruction (`GeminiRequest.slots`).
enum BotBrain {
    struct Slot { var number: Int; var text: String; var iso: String?; var minutes: [Int] }

    static func answer(_ request: GeminiRequest) -> JSON {
        let message = request.lastUserText
        let language = detectLanguage(request)
        let slots = findSlots(request.slots)
        let chosen = selectSlot(message, slots)
        let intent = restrict(classify(message, slotChosen: chosen != nil), to: request.schema)
        let es = language == "es"
        let reply: String
        switch intent {
        case "handoff":
            reply = es ? "Te comunico con una persona de nuestro equipo. Te responderán en breve."
                : "I'll connect you with a member of our team. They will reply shortly."
        case "cancel":
            reply = es ? "Entendido, cancelamos tu cita. Si quieres otra, escríbenos."
                : "Understood, we'll cancel your appointment. Write to us if you want a new one."
        case "farewell":
            reply = es ? "¡Hasta luego! Escríbenos cuando lo necesites." : "Goodbye! Write to us any time you need."
        case "book" where chosen != nil:
            reply = es ? "Perfecto, solicité tu cita para \(chosen!.text). La clínica la confirmará en breve."
                : "Great, I've requested \(chosen!.text) for you. The clinic will confirm it shortly."
        case "question":
            reply = es ? "Gracias por tu pregunta. Nuestro equipo te responderá pronto. ¿Quieres reservar una cita?"
                : "Thanks for your question. Our team will get back to you soon. Would you like to book an appointment?"
        default:  // greeting, book without a slot, reschedule: offer the slots
            let opener: String
            switch intent {
            case "greeting": opener = es ? "¡Hola! Puedo ayudarte a reservar una cita." : "Hello! I can help you book an appointment."
            case "reschedule": opener = es ? "Claro, cambiemos tu cita." : "Sure, let's move your appointment."
            default: opener = es ? "Claro, reservemos tu cita." : "Sure, let's book your appointment."
            }
            if slots.isEmpty {
                reply = opener + (es ? " Ahora mismo no hay horarios libres en los próximos días." : " There are no free times in the next days right now.")
            } else {
                let list = slots.prefix(10).map { "\($0.number). \($0.text)" }.joined(separator: "\n")
                reply = opener + (es ? " Horarios disponibles:\n" : " Available times:\n") + list
                    + (es ? "\nResponde con el número del horario que prefieras." : "\nReply with the number of the time you prefer.")
            }
        }
        return .object([
            ("reply", .string(reply)),
            ("intent", .string(intent)),
            ("selected_slot", chosen.map { slotValue($0, schema: request.schema) } ?? .null),
            ("language", .string(language)),
        ])
    }

    // MARK: language

    static let spanishWords: Set<String> = [
        "hola", "cita", "quiero", "gracias", "buenos", "buenas", "dias", "tardes", "noches", "reservar", "agendar",
        "cancelar", "manana", "por", "favor", "para", "una", "el", "la", "de", "que", "con", "si", "adios", "hablar",
        "alguien", "necesito", "puedo", "tengo", "hora", "turno", "opcion", "quisiera", "cambiar", "reprogramar", "es",
        "mi", "hasta", "luego", "persona", "humano", "medico", "doctora", "cuando", "donde", "cuanto", "cuesta", "y", "lo",
        "me", "te", "esta", "estoy", "primera", "segunda", "tercera", "consulta", "vale", "claro", "bien", "chao",
        "mejor", "las", "los", "en", "del", "al", "pero", "puede", "seria", "tiene", "hay", "doctor", "sabado", "lunes",
        "martes", "miercoles", "jueves", "viernes", "tarde", "temprano", "cuanto", "precio", "ayuda", "nos", "vemos",
    ]
    static let englishWords: Set<String> = [
        "hi", "hello", "hey", "the", "i", "want", "book", "appointment", "please", "thanks", "thank", "you", "can",
        "is", "my", "cancel", "need", "with", "to", "an", "time", "tomorrow", "would", "like", "good", "morning",
        "afternoon", "evening", "bye", "goodbye", "talk", "speak", "someone", "human", "person", "agent", "what",
        "when", "where", "how", "much", "does", "it", "cost", "first", "second", "third", "option", "reschedule",
        "and", "do", "have", "are", "there", "any", "ok", "okay", "yes", "no", "see",
    ]

    static func words(_ text: String) -> [String] {
        fold(text).split { !($0.isLetter || $0.isNumber) }.map(String.init)
    }

    static func fold(_ text: String) -> String {
        text.folding(options: [.diacriticInsensitive, .caseInsensitive], locale: Locale(identifier: "en_US_POSIX")).lowercased()
    }

    /// "es" or "en" from the last user message that says anything; English when none does.
    static func detectLanguage(_ request: GeminiRequest) -> String {
        for turn in request.contents.reversed() where turn.role == "user" {
            if let l = language(of: turn.text) { return l }
        }
        return "en"
    }

    static func language(of text: String) -> String? {
        if text.contains(where: { "ñ¿¡áéíóú".contains($0) }) { return "es" }
        let w = words(text)
        let es = w.filter(spanishWords.contains).count
        let en = w.filter(englishWords.contains).count
        if es > en { return "es" }
        if en > es { return "en" }
        return nil
    }

    // MARK: intent

    static func classify(_ message: String, slotChosen: Bool) -> String {
        let t = " " + words(message).joined(separator: " ") + " "
        func has(_ phrases: [String]) -> Bool { phrases.contains { t.contains(" \($0) ") } }
        if has(["human", "person", "agent", "someone", "operator", "real person", "talk to someone", "humano", "persona",
                "agente", "alguien", "operador", "hablar con alguien", "recepcion", "receptionist"]) { return "handoff" }
        if has(["cancel", "cancelar", "anular", "cancela", "cancelo"]) { return "cancel" }
        if has(["reschedule", "move my appointment", "change my appointment", "another time", "reprogramar", "cambiar",
                "mover", "otra hora", "otro dia"]) { return "reschedule" }
        if slotChosen || has(["book", "appointment", "schedule", "reserve", "booking", "cita", "reservar", "agendar",
                              "turno", "consulta", "reserva", "quiero una", "available", "disponible", "horarios"]) { return "book" }
        if has(["bye", "goodbye", "see you", "adios", "hasta luego", "chao", "nos vemos", "hasta pronto"]) { return "farewell" }
        if has(["hi", "hello", "hey", "good morning", "good afternoon", "good evening", "hola", "buenos dias",
                "buenas tardes", "buenas noches", "buenas", "saludos"]) { return "greeting" }
        return "question"
    }

    /// Keeps the intent inside the schema's enum, if it has one.
    static func restrict(_ intent: String, to schema: JSON?) -> String {
        guard let options = schema?["properties"]?["intent"]?["enum"]?.array?.compactMap(\.string), !options.isEmpty,
            !options.contains(intent)
        else { return intent }
        return options.contains("question") ? "question" : options[0]
    }

    // MARK: slots

    /// Each slot's number, label and start; the clock times in its label are what a patient may say.
    static func findSlots(_ items: [JSON]) -> [Slot] {
        items.compactMap { item in
            guard let n = item["n"]?.int, let label = item["label"]?.string else { return nil }
            return Slot(number: n, text: label, iso: item["starts_at"]?.string, minutes: times(in: label))
        }
    }

    static func isoTimestamp(in text: String) -> String? {
        let re = try! NSRegularExpression(pattern: #"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?"#)
        let ns = text as NSString
        guard let m = re.firstMatch(in: text, range: NSRange(location: 0, length: ns.length)) else { return nil }
        return ns.substring(with: m.range)
    }

    /// Minutes after midnight of every clock time written in `text`
    /// ("9:00", "09:00", "9:00 AM", "2:30 pm", "14:30", "9h", "9am", "9 a.m."). ISO timestamps are skipped.
    static func times(in text: String) -> [Int] {
        var t = fold(text)
        if let iso = isoTimestamp(in: text) { t = t.replacingOccurrences(of: fold(iso), with: " ") }
        let re = try! NSRegularExpression(pattern: #"(?<![\d:])(\d{1,2})(?::(\d{2}))?\s*(a\.?\s?m\.?|p\.?\s?m\.?|h(?:rs|s)?\b)?"#)
        let ns = t as NSString
        var out: [Int] = []
        for m in re.matches(in: t, range: NSRange(location: 0, length: ns.length)) {
            func group(_ i: Int) -> String? {
                let r = m.range(at: i)
                return r.location == NSNotFound ? nil : ns.substring(with: r)
            }
            guard var hour = group(1).flatMap(Int.init) else { continue }
            let minute = group(2).flatMap(Int.init)
            let suffix = group(3)?.replacingOccurrences(of: ".", with: "").replacingOccurrences(of: " ", with: "")
            guard minute != nil || suffix != nil else { continue }  // a bare number is not a time
            if let s = suffix, s.hasPrefix("p"), hour < 12 { hour += 12 }
            if let s = suffix, s.hasPrefix("a"), hour == 12 { hour = 0 }
            guard hour < 24, (minute ?? 0) < 60 else { continue }
            out.append(hour * 60 + (minute ?? 0))
        }
        return out
    }

    /// The slot the patient picked: a bare number ("2"), "option 2"/"opción 2"/"la 2", an ordinal, or a
    /// time that one offered slot has.
    static func selectSlot(_ message: String, _ slots: [Slot]) -> Slot? {
        guard !slots.isEmpty else { return nil }
        let w = words(message)
        func slot(_ n: Int) -> Slot? { slots.first { $0.number == n } }
        if w.count == 1, let n = Int(w[0]) { return slot(n) }
        for (i, word) in w.enumerated() where i > 0 {
            if ["option", "opcion", "number", "numero", "la", "el", "slot", "#"].contains(w[i - 1]), let n = Int(word) {
                return slot(n)
            }
        }
        let ordinals = ["first": 1, "second": 2, "third": 3, "fourth": 4, "fifth": 5,
                        "primera": 1, "primero": 1, "segunda": 2, "segundo": 2, "tercera": 3, "tercero": 3, "cuarta": 4, "quinta": 5]
        for word in w { if let n = ordinals[word], let s = slot(n) { return s } }
        let said = times(in: message)
        for minutes in said {
            if let s = slots.first(where: { $0.minutes.contains(minutes) }) { return s }
            // "9:00" may mean 9 PM when only afternoon slots exist.
            if minutes < 12 * 60, let s = slots.first(where: { $0.minutes.contains(minutes + 12 * 60) }) { return s }
        }
        return nil
    }

    /// The slot in the form the schema asks for: its number for an integer field, else its ISO
    /// timestamp when the instruction gave one, else its text.
    static func slotValue(_ slot: Slot, schema: JSON?) -> JSON {
        let field = schema?["properties"]?["selected_slot"]
        var types: [String] = []
        if let t = field?["type"]?.string { types = [t] }
        if let ts = field?["type"]?.array { types = ts.compactMap(\.string) }
        for alt in field?["anyOf"]?.array ?? [] { if let t = alt["type"]?.string { types.append(t) } }
        if types.contains("integer") || types.contains("number") { return .int(slot.number) }
        return .string(slot.iso ?? slot.text)
    }
}
