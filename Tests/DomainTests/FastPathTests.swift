@testable import Domain
import Foundation
import Testing

/// The webhook's ASCII fast paths (ASCIIText, InboundText, LocalTime's calendar cache) against the
/// Foundation calls they replace, on tricky input: every ASCII character, CR LF, accents, Unicode
/// spaces, empty and very long text, text repaired from invalid UTF-8.
@Suite("Fast paths: the same answers as Foundation")
struct FastPathTests {
    /// Samples: every ASCII character alone and between letters, plus the tricky cases.
    static let samples: [String] = {
        var s: [String] = ["", " ", "\t", "\r\n", " \r\n ", "1", " 1 ", "\u{00A0}1\u{00A0}", "\u{2003}2\u{3000}", "\u{0085}3\u{0085}",
                           "\u{200B}4\u{200B}", "¡Hola, ¿Qué tal!", "  Baja ", "CANCELAR SUSCRIPCIÓN", "Mañana a las 9",
                           "e\u{301}", "Ｈｅｌｌｏ", "İstanbul", "straße", "ǅ", "Can I talk to a HUMAN?", "quiero hablar con alguien",
                           "opción 2", "#3", "9:00 am", "\u{FFFD}abc", String(decoding: [0x31, 0xFF, 0x32, 0xC3], as: UTF8.self),
                           "a\u{0}b", "\u{7F}x\u{1B}", "x\r", "\ny", "\u{0B}z\u{0C}", "a\r\nb", "TALK  TO---SOMEONE!!",
                           String(repeating: "Hello there ", count: 400), String(repeating: " ", count: 5000) + "x",
                           "👍🏽 ok", "١٢٣", "½"]
        for b in 0..<128 {
            let c = String(decoding: [UInt8(b)], as: UTF8.self)
            s += [c, "a\(c)B", "\(c)Z9\(c)", "\(c)\(c)"]
        }
        return s
    }()

    /// InboundText.normalize before the fast path (Foundation folding for every text).
    static func referenceNormalize(_ text: String) -> String {
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

    static func referenceDetect(_ text: String) -> Language? {
        if text.contains(where: { "ñ¿¡áéíóú".contains($0) }) { return .es }
        let w = referenceNormalize(text).split(separator: " ").map(String.init)
        let es = w.filter(InboundText.spanishWords.contains).count
        let en = w.filter(InboundText.englishWords.contains).count
        if es > en { return .es }
        if en > es { return .en }
        return nil
    }

    @Test("trimming whitespace matches CharacterSet.whitespaces and .whitespacesAndNewlines")
    func trimming() {
        for s in Self.samples {
            #expect(ASCIIText.trimmingWhitespaces(s) == s.trimmingCharacters(in: .whitespaces), "\(Array(s.utf8).prefix(20))")
            #expect(ASCIIText.trimmingWhitespacesAndNewlines(s) == s.trimmingCharacters(in: .whitespacesAndNewlines),
                    "\(Array(s.utf8).prefix(20))")
        }
        #expect(ASCIIText.trimmingWhitespacesAndNewlines("\u{00A0}1\u{2003}") == "1")  // Unicode spaces: Foundation's answer
        #expect(ASCIIText.trimmingWhitespaces(" \n1\n ") == "\n1\n")
    }

    @Test("normalize, detectLanguage and asksForHuman match the Foundation versions")
    func keywordRules() {
        for s in Self.samples {
            let n = InboundText.normalize(s)
            #expect(n == Self.referenceNormalize(s), "\(Array(s.utf8).prefix(20))")
            #expect(InboundText.detectLanguage(s) == Self.referenceDetect(s), "\(Array(s.utf8).prefix(20))")
            let t = " " + n + " "
            #expect(InboundText.asksForHuman(s) == InboundText.handoffPhrases.contains { t.contains(" \($0) ") }, "\(s.prefix(40))")
        }
        #expect(InboundText.normalize("¡Hola, ¿Qué tal!") == "hola que tal")
        #expect(InboundText.normalize("Line one\r\nLINE two") == "line one line two")
        #expect(InboundText.detectLanguage("hola, quiero una cita") == .es)
        #expect(InboundText.detectLanguage("mañana") == .es)
        #expect(InboundText.detectLanguage("I want to book an appointment") == .en)
        #expect(InboundText.detectLanguage("1") == nil)
        #expect(InboundText.asksForHuman("TALK  TO---SOMEONE!!"))
        #expect(!InboundText.asksForHuman("humanity"))
    }

    @Test("shortcuts around Unicode spaces and newlines")
    func shortcuts() {
        #expect(InboundText.shortcut("\u{00A0}1\u{00A0}") == .number(1))
        #expect(InboundText.shortcut("\r\n2\r\n") == .number(2))
        #expect(InboundText.shortcut("option\u{2003}3") == nil)
        #expect(InboundText.shortcut("opción \t4") == .number(4))
        #expect(InboundText.shortcut(String(repeating: " ", count: 5000) + "1") == .number(1))
    }

    @Test("webhook fields: E.164 and an empty body with Unicode spaces")
    func webhookFields() throws {
        #expect(InboundWebhook.e164(" whatsapp:+15550001000\t") == "+15550001000")
        #expect(InboundWebhook.e164("\u{00A0}WhatsApp:+15550001000\u{00A0}") == "+15550001000")
        #expect(InboundWebhook.e164("whatsapp:+1555000100\u{0301}") == nil)
        let blank = try InboundWebhook(form: [("From", "whatsapp:+15550001111"), ("MessageSid", "SM1"), ("Body", "\u{3000}\r\n\u{00A0}")])
        #expect(blank.isEmpty)
        let one = try InboundWebhook(form: [("From", "whatsapp:+15550001111"), ("MessageSid", "SM1"), ("Body", " 1 ")])
        #expect(!one.isEmpty)
        #expect(one.mediaJSON == "[]")
        let media = try InboundWebhook(form: [("From", "whatsapp:+15550001111"), ("MessageSid", "SM1"), ("NumMedia", "1"),
                                              ("MediaUrl0", "https://m.example/1"), ("MediaContentType0", "image/jpeg")])
        let decoded = try JSONSerialization.jsonObject(with: Data(media.mediaJSON.utf8)) as? [[String: String]]
        #expect(decoded == [["url": "https://m.example/1", "content_type": "image/jpeg"]], "\(media.mediaJSON)")
    }

    @Test("the public URL from forwarded headers, trimmed as before")
    func publicURL() {
        #expect(WebhookVerifier.publicURL(requestURI: "/x", headers: ["x-forwarded-host": " a.example , b", "x-forwarded-proto": "\tHTTPS "],
                                          baseURL: nil) == "https://a.example/x")
        #expect(WebhookVerifier.publicURL(requestURI: "/x", headers: ["host": "\u{00A0}h.example\u{00A0}"], baseURL: nil) == "http://h.example/x")
        #expect(WebhookVerifier.publicURL(requestURI: "/x", headers: ["host": " \t "], baseURL: nil) == nil)
    }

    @Test("slot labels from cached calendars match fresh calendars, across zones and DST changes")
    func localTime() {
        let zones = ["UTC", "America/Mexico_City", "Europe/Madrid", "America/New_York", "Australia/Lord_Howe", "Asia/Kathmandu",
                     "America/Santiago", "Pacific/Chatham", "No/Such_Zone"]
        // Around the 2026 DST changes (March/April, October/November) and a year's end, every 5 h 17 min.
        let starts: [TimeInterval] = [1_772_323_200, 1_774_915_200, 1_792_800_000, 1_798_675_200]
        for zone in zones {
            var fresh = Calendar(identifier: .gregorian)
            fresh.timeZone = TimeZone(identifier: zone) ?? TimeZone(identifier: "UTC")!
            for start in starts {
                for step in 0..<40 {
                    let now = Date(timeIntervalSince1970: start + Double(step) * 19_020)
                    let date = now.addingTimeInterval(Double(step % 9) * 43_200 + 1_800)
                    let c = fresh.dateComponents([.year, .month, .day, .weekday, .hour, .minute], from: date)
                    let p = LocalTime.parts(date, timeZone: zone)
                    #expect([p.year, p.month, p.day, p.weekday + 1, p.hour, p.minute] == [c.year, c.month, c.day, c.weekday, c.hour, c.minute])
                    let days = fresh.dateComponents([.day], from: fresh.startOfDay(for: now), to: fresh.startOfDay(for: date)).day ?? 99
                    let label = LocalTime.describe(date, timeZone: zone, language: "en", now: now)
                    switch days {
                    case 0: #expect(label.hasPrefix("today at "))
                    case 1: #expect(label.hasPrefix("tomorrow at "))
                    default: #expect(label.hasPrefix(LocalTime.weekdaysEN[p.weekday] + " \(p.day) "))
                    }
                }
            }
        }
        #expect(LocalTime.calendar("No/Such_Zone").timeZone.identifier == "GMT" || LocalTime.calendar("No/Such_Zone").timeZone.identifier == "UTC")
    }

    @Test("wall-clock parts by arithmetic match Calendar from 1900 to 9999, and Calendar answers outside")
    func partsSweep() {
        let zones = ["UTC", "America/Mexico_City", "Europe/Madrid", "Africa/Monrovia", "Asia/Kolkata", "Pacific/Kiritimati", "America/St_Johns"]
        var rng = SystemRandomNumberGenerator()
        var instants: [Double] = [-2_208_988_800, -2_208_988_800.5, -1, -0.25, 0, 0.999, 86_399.9, 951_782_400, 4_107_542_400,
                                  253_402_300_799, 253_402_300_800, -2_208_988_801, -12_219_292_800, 1e15, -1e15]
        for _ in 0..<3000 { instants.append(Double.random(in: -2_208_988_800..<253_402_300_800, using: &rng).rounded(.down)) }
        for _ in 0..<1000 { instants.append(Double.random(in: 1_700_000_000..<2_000_000_000, using: &rng)) }
        for zone in zones {
            var fresh = Calendar(identifier: .gregorian)
            fresh.timeZone = TimeZone(identifier: zone)!
            for t in instants {
                let date = Date(timeIntervalSince1970: t)
                let c = fresh.dateComponents([.year, .month, .day, .weekday, .hour, .minute], from: date)
                let p = LocalTime.parts(date, timeZone: zone)
                #expect([p.year, p.month, p.day, p.weekday + 1, p.hour, p.minute] == [c.year, c.month, c.day, c.weekday, c.hour, c.minute],
                        "\(zone) \(t)")
            }
        }
    }

    @Test("the calendar cache under concurrent workers")
    func concurrentCalendars() async {
        let zones = ["UTC", "America/Mexico_City", "Europe/Madrid", "Asia/Tokyo"]
        let now = Date(timeIntervalSince1970: 1_796_000_000)
        let expected = zones.map { LocalTime.describe(now.addingTimeInterval(90_000), timeZone: $0, language: "es", now: now) }
        let results = await withTaskGroup(of: [String].self) { group in
            for _ in 0..<8 {
                group.addTask { (0..<200).map { i in LocalTime.describe(now.addingTimeInterval(90_000), timeZone: zones[i % 4], language: "es", now: now) } }
            }
            var all: [[String]] = []
            for await r in group { all.append(r) }
            return all
        }
        for r in results { #expect(r == (0..<200).map { expected[$0 % 4] }) }
    }

    // MARK: pending_intent

    static func foundationOffer(_ text: String) -> PendingOffer? {
        try? JSONDecoder().decode(PendingOffer.self, from: Data(text.utf8))
    }

    static let offerTexts: [String] = [
        // as PostgreSQL's jsonb prints what the bench and the app store
        #"{"kind": "slots", "slots": [{"n": 1, "label": "slot 12", "ends_at": 1796001800, "doctor_id": 7, "starts_at": 1796000000}], "language": "en"}"#,
        #"{"kind": "slots", "slots": [{"n": 1, "label": "mié 3 dic a las 9:00", "ends_at": 2, "doctor_id": 7, "starts_at": 1}, {"n": 2, "label": "mañana a las 14:30 👍", "ends_at": 4, "doctor_id": 8, "starts_at": 3}], "language": "es", "reschedule_of": 42}"#,
        #"{"kind":"slots","language":"en","reschedule_of":null,"slots":[]}"#,
        " \n{ \"slots\" :[ ] ,\t\"language\":\"en\",\r\"kind\":\"other\" } \n",
        #"{"kind": "slots", "slots": [{"n": -9223372036854775808, "label": "", "ends_at": 9223372036854775807, "doctor_id": 0, "starts_at": -1}], "language": ""}"#,
    ]

    @Test("pending_intent: the hand reader gives JSONDecoder's answer for the stored shape")
    func pendingOfferShapes() throws {
        for text in Self.offerTexts {
            let fast = PendingOfferJSON.decode(text)
            #expect(fast != nil, "\(text)")
            #expect(fast == Self.foundationOffer(text), "\(text)")
        }
        // What the app writes itself.
        let own = PendingOffer(language: "es", slots: [OfferedSlot(n: 3, doctorID: 9, startsAt: 100, endsAt: 1900, label: "sáb 5 dic a las 9:00")],
                               rescheduleOf: 77)
        #expect(PendingOfferJSON.decode(own.json) == own)
        #expect(PendingOffer.parse(own.json) == own)
        #expect(PendingOffer.parse(Self.offerTexts[3]) == nil)  // another kind
        #expect(PendingOffer.parse(nil) == nil)
    }

    @Test("pending_intent: what the hand reader leaves to JSONDecoder", arguments: [
        #"{"kind": "slots", "slots": [], "language": "e\"n"}"#,          // an escape
        #"{"kind": "slots", "slots": [], "language": "\u0065n"}"#,
        #"{"kind": "slots", "slots": [{"n": 1.0, "label": "", "ends_at": 2, "doctor_id": 7, "starts_at": 1}], "language": "en"}"#,
        #"{"kind": "slots", "slots": [{"n": 1e0, "label": "", "ends_at": 2, "doctor_id": 7, "starts_at": 1}], "language": "en"}"#,
        #"{"kind": "slots", "slots": [{"n": -0, "label": "", "ends_at": 2, "doctor_id": 7, "starts_at": 1}], "language": "en"}"#,
        #"{"kind": "slots", "slots": [{"n": 01, "label": "", "ends_at": 2, "doctor_id": 7, "starts_at": 1}], "language": "en"}"#,
        #"{"kind": "slots", "slots": [{"n": 9223372036854775808, "label": "", "ends_at": 2, "doctor_id": 7, "starts_at": 1}], "language": "en"}"#,
        #"{"kind": "slots", "kind": "slots", "slots": [], "language": "en"}"#,  // a repeated key
        #"{"kind": "slots", "slots": [], "language": "en", "extra": 1}"#,      // an unknown key
        #"{"kind": "slots", "slots": [], "language": "en"} x"#,                // trailing text
        #"{"kind": "slots", "slots": [{"n": 1, "label": "", "doctor_id": 7, "starts_at": 1}], "language": "en"}"#,  // a missing field
        #"{"kind": "slots", "slots": [], "language": null}"#,
        #"{"kind": "slots", "slots": [], "language": "en",}"#,
        "{\"kind\": \"slots\", \"slots\": [], \"language\": \"e\u{0}n\"}",
        "", "null", "[]", "{", #"{"kind": "slots", "slots": [{"n": 1}"#,
    ])
    func pendingOfferLeftToFoundation(text: String) {
        #expect(PendingOfferJSON.decode(text) == nil)
        let expected = Self.foundationOffer(text).flatMap { $0.kind == "slots" ? $0 : nil }
        #expect(PendingOffer.parse(text) == expected)
    }

    @Test("pending_intent: 30,000 mutated texts, the hand reader never disagrees with JSONDecoder")
    func pendingOfferMutations() {
        var seed: UInt64 = 0x9E37_79B9_7F4A_7C15
        func next(_ n: Int) -> Int {
            seed = seed &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
            return Int((seed >> 33) % UInt64(n))
        }
        let alphabet = Array(#"{}[]:,"\ -0123456789.eEnulabkdsx"#.utf8) + [0x00, 0x09, 0x0A, 0x0D, 0xC3, 0xB1, 0xFF]
        var answered = 0
        for round in 0..<30_000 {
            var bytes = Array(Self.offerTexts[round % Self.offerTexts.count].utf8)
            for _ in 0...next(3) {
                switch next(3) {
                case 0 where !bytes.isEmpty: bytes[next(bytes.count)] = alphabet[next(alphabet.count)]
                case 1: bytes.insert(alphabet[next(alphabet.count)], at: next(bytes.count + 1))
                default: if !bytes.isEmpty { bytes.remove(at: next(bytes.count)) }
                }
            }
            let text = String(decoding: bytes, as: UTF8.self)
            if let fast = PendingOfferJSON.decode(text) {
                answered += 1
                #expect(fast == Self.foundationOffer(text), "\(text)")
            }
        }
        #expect(answered > 1_000)  // the comparison ran on many texts the reader accepted
    }

    @Test("TwiML text with nothing to escape is the text itself; the rest as before")
    func twimlEscape() {
        func reference(_ text: String) -> String {
            var out = ""
            for scalar in text.unicodeScalars {
                switch scalar {
                case "&": out += "&amp;"
                case "<": out += "&lt;"
                case ">": out += "&gt;"
                case "\"": out += "&quot;"
                case "'": out += "&apos;"
                default:
                    let v = scalar.value
                    if v == 0x9 || v == 0xA || v == 0xD || (v >= 0x20 && v != 0xFFFE && v != 0xFFFF) { out.unicodeScalars.append(scalar) }
                }
            }
            return out
        }
        for s in Self.samples + ["\u{FFFE}a\u{FFFF}", "\u{FEFF}x", "ok \u{EFFF}", "Tom & Jerry's <b>"] {
            #expect(TwiML.escape(s) == reference(s), "\(Array(s.utf8).prefix(20))")
        }
    }
}
