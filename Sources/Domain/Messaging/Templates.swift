import Foundation

/// The in-app WhatsApp templates (English and Spanish). A template renders a freeform body; when a
/// workspace maps a Meta Content SID to a template and language (`workspaces.content_sids`), the
/// message goes as `ContentSid` + `ContentVariables` instead (numbered in `variables` order) and is
/// allowed outside the 24-hour window.
public struct MessageTemplate: Sendable, Equatable, Encodable {
    public let key: String
    /// Placeholders in order; ContentVariables numbers them "1", "2", … in this order.
    public let variables: [String]
    /// Body per language ("en", "es") with `{variable}` placeholders.
    public let bodies: [String: String]
    /// Meta's template category (`utility` or `marketing`), as the product guide lists it.
    public let category: String
    /// The variables the product guide's clients send (`date` and `time` stand for `{when}`;
    /// `doctor_name` and `clinic_name` are filled from the appointment and the clinic when not given).
    public let guideVariables: [String]

    public init(key: String, variables: [String], bodies: [String: String], category: String = "utility", guideVariables: [String]? = nil) {
        self.key = key
        self.variables = variables
        self.bodies = bodies
        self.category = category
        self.guideVariables = guideVariables ?? variables
    }
}

public enum Templates {
    public static let languages = ["en", "es"]

    public static let all: [MessageTemplate] = [
        MessageTemplate(
            key: "appt_reminder", variables: ["patient_name", "doctor_name", "when"],
            bodies: [
                "en": "Hi {patient_name}, this is a reminder of your appointment with {doctor_name} {when}. Reply to this message if you need to change it.",
                "es": "Hola {patient_name}, le recordamos su cita con {doctor_name} {when}. Responda a este mensaje si necesita cambiarla.",
            ], guideVariables: ["patient_name", "date", "time"]),
        MessageTemplate(
            key: "appt_confirmed", variables: ["patient_name", "doctor_name", "when", "clinic_name"],
            bodies: [
                "en": "Hi {patient_name}, your appointment with {doctor_name} {when} at {clinic_name} is confirmed.",
                "es": "Hola {patient_name}, su cita con {doctor_name} {when} en {clinic_name} está confirmada.",
            ], guideVariables: ["patient_name", "date", "time", "doctor_name"]),
        MessageTemplate(
            key: "followup", variables: ["patient_name", "doctor_name"],
            bodies: [
                "en": "Hi {patient_name}, how are you feeling after your visit with {doctor_name}? Reply here if you have any questions.",
                "es": "Hola {patient_name}, ¿cómo se siente después de su consulta con {doctor_name}? Responda aquí si tiene alguna pregunta.",
            ], guideVariables: ["patient_name"]),
        MessageTemplate(
            key: "pre_visit", variables: ["patient_name", "when", "clinic_name"],
            bodies: [
                "en": "Hi {patient_name}, before your appointment {when} at {clinic_name}: please arrive 10 minutes early and bring your ID and any recent test results.",
                "es": "Hola {patient_name}, antes de su cita {when} en {clinic_name}: llegue 10 minutos antes y traiga su identificación y sus estudios recientes.",
            ], guideVariables: ["patient_name", "date"]),
        MessageTemplate(
            key: "reschedule", variables: ["patient_name", "doctor_name", "when"],
            bodies: [
                "en": "Hi {patient_name}, your appointment with {doctor_name} {when} needs to be rescheduled. Reply with a time that suits you.",
                "es": "Hola {patient_name}, necesitamos cambiar su cita con {doctor_name} {when}. Responda con un horario que le convenga.",
            ], guideVariables: ["patient_name", "date"]),
        MessageTemplate(
            key: "custom", variables: ["message"],
            bodies: ["en": "{message}", "es": "{message}"], category: "marketing"),
    ]

    public static func list() -> [MessageTemplate] { all }

    public static func template(_ key: String) -> MessageTemplate? { all.first { $0.key == key } }

    /// The body of `key` in `language` with every placeholder filled. Throws `unknown_template`,
    /// `unsupported_language` or `missing_variables` (listing them).
    public static func render(key: String, language: String, variables: [String: String]) throws(AppError) -> String {
        guard let t = template(key) else {
            throw AppError(.unknownTemplate, "There is no template \"\(key)\" (available: \(all.map(\.key).joined(separator: ", "))).")
        }
        guard let body = t.bodies[language] else {
            throw AppError(.unsupportedLanguage, "Templates exist in \(languages.joined(separator: " and ")), not \"\(language)\".")
        }
        let variables = completed(variables, language: language)
        let missing = t.variables.filter { (variables[$0] ?? "").isEmpty }
        guard missing.isEmpty else {
            // Named as the guide's clients send them: {when} is `date` (and `time`).
            var names: [String] = []
            for m in missing {
                let dateTime = t.guideVariables.filter { $0 == "date" || $0 == "time" }
                let asked = m == "when" ? (dateTime.isEmpty ? ["date"] : dateTime) : [m]
                for n in asked where !names.contains(n) { names.append(n) }
            }
            throw AppError(.missingVariables, "The template \(key) needs: \(names.joined(separator: ", ")).")
        }
        return fill(body, variables)
    }

    /// The guide's `date` and `time` as `{when}` ("on 3 Dec at 9:00" / "el 3 dic a las 9:00") when
    /// `when` is not given; every other variable as given.
    public static func completed(_ variables: [String: String], language: String) -> [String: String] {
        var v = variables
        let date = (v["date"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        let time = (v["time"] ?? "").trimmingCharacters(in: .whitespacesAndNewlines)
        if (v["when"] ?? "").isEmpty, !date.isEmpty {
            let es = language == "es"
            v["when"] = (es ? "el \(date)" : "on \(date)") + (time.isEmpty ? "" : (es ? " a las \(time)" : " at \(time)"))
        }
        return v
    }

    /// Replaces `{name}` for every given variable; unknown placeholders stay as written.
    public static func fill(_ text: String, _ variables: [String: String]) -> String {
        var out = ""
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{") {
            out += rest[..<open]
            guard let close = rest[open...].firstIndex(of: "}") else { out += rest[open...]; rest = ""; break }
            let name = String(rest[rest.index(after: open)..<close])
            if let value = variables[name] { out += value } else { out += rest[open...close] }
            rest = rest[rest.index(after: close)...]
        }
        return out + rest
    }

    /// The placeholders `{name}` used in a text, in order of first use.
    public static func placeholders(in text: String) -> [String] {
        var names: [String] = []
        var rest = Substring(text)
        while let open = rest.firstIndex(of: "{"), let close = rest[open...].firstIndex(of: "}") {
            let name = String(rest[rest.index(after: open)..<close])
            if !name.isEmpty, !names.contains(name) { names.append(name) }
            rest = rest[rest.index(after: close)...]
        }
        return names
    }

    /// ContentVariables for a Content SID template: {"1": first variable, "2": second, …}.
    public static func contentVariables(key: String, variables: [String: String], language: String = "en") -> [String: String] {
        guard let t = template(key) else { return [:] }
        let variables = completed(variables, language: language)
        var out: [String: String] = [:]
        for (i, name) in t.variables.enumerated() { out[String(i + 1)] = variables[name] ?? "" }
        return out
    }

    /// The Meta Content SID the workspace maps to `key` in `language` (`workspaces.content_sids`), if any.
    public static func contentSid(_ store: some MessageStore, workspaceID: Int64, key: String, language: String) throws -> String? {
        try store.contentSid(workspaceID: workspaceID, key: key, language: language)
    }

    /// A template as staff see it (GET /api/whatsapp/templates): its bodies and the Content SIDs the
    /// workspace maps it to.
    public struct CatalogueEntry: Sendable, Encodable {
        public let id: String
        public let category: String
        /// Placeholders of the bodies, in ContentVariables order ("1", "2", …).
        public let variables: [String]
        /// What the product guide's clients send (`date`/`time` for `when`; doctor and clinic filled in).
        public let requiredVariables: [String]
        public let bodies: [String: String]
        public let contentSids: [String: String]
        enum CodingKeys: String, CodingKey {
            case id, category, variables, bodies
            case requiredVariables = "required_variables", contentSids = "content_sids"
        }
    }

    /// Every template, with the workspace's Content SID per language where one is mapped.
    public static func catalogue(_ store: some MessageStore, workspaceID: Int64) throws -> [CatalogueEntry] {
        try list().map { t in
            var sids: [String: String] = [:]
            for lang in languages {
                if let sid = try contentSid(store, workspaceID: workspaceID, key: t.key, language: lang) { sids[lang] = sid }
            }
            return CatalogueEntry(id: t.key, category: t.category, variables: t.variables, requiredVariables: t.guideVariables,
                                  bodies: t.bodies, contentSids: sids)
        }
    }
}
