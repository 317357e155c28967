/// A bounded reader for the one JSON shape a conversation's `pending_intent` holds (what
/// `PendingOffer.json` and the SQL that builds offers write, as PostgreSQL's jsonb prints it):
///
///     {"kind": "slots", "slots": [{"n": 1, "label": "…", "ends_at": 1, "doctor_id": 2, "starts_at": 0}], "language": "en"}
///
/// Keys in any order, JSON whitespace anywhere between tokens, `reschedule_of` optional (a number
/// or null). Anything else — an unknown or repeated key, a string with an escape, a number with a
/// fraction or exponent or outside Int64, a missing field — is not decided here: `decode` returns
/// nil and `PendingOffer.parse` asks JSONDecoder, whose answer stands. So this reader only ever
/// gives JSONDecoder's own answer, sooner (the fuzz target FuzzPendingOffer compares the two).
///
/// Linear in the input, no recursion (the depth is fixed), no index past the end, no `!`.
enum PendingOfferJSON {
    static func decode(_ text: String) -> PendingOffer? {
        var text = text
        return text.withUTF8 { bytes in
            var r = Reader(bytes: bytes)
            return r.offer()
        }
    }

    struct Reader {
        let bytes: UnsafeBufferPointer<UInt8>
        var i = 0

        init(bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

        static let quote = UInt8(ascii: "\""), backslash = UInt8(ascii: "\\"), colon = UInt8(ascii: ":"), comma = UInt8(ascii: ",")
        static let openBrace = UInt8(ascii: "{"), closeBrace = UInt8(ascii: "}"), openBracket = UInt8(ascii: "["), closeBracket = UInt8(ascii: "]")

        var peek: UInt8? { i < bytes.count ? bytes[i] : nil }

        /// JSON's whitespace: space, tab, LF, CR.
        mutating func skipSpace() {
            while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x09 || bytes[i] == 0x0A || bytes[i] == 0x0D { i += 1 }
        }

        /// The byte `c` after optional whitespace.
        mutating func take(_ c: UInt8) -> Bool {
            skipSpace()
            guard i < bytes.count, bytes[i] == c else { return false }
            i += 1
            return true
        }

        /// A string without escapes or control characters (anything else: nil). The input is a Swift
        /// String's UTF-8, so the bytes between the quotes are valid UTF-8.
        mutating func string() -> String? {
            guard take(Self.quote) else { return nil }
            let start = i
            while i < bytes.count {
                let b = bytes[i]
                if b == Self.quote {
                    let s = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
                    i += 1
                    return s
                }
                if b == Self.backslash || b < 0x20 { return nil }
                i += 1
            }
            return nil
        }

        /// An integer as JSON writes one (`0`, `-12`; no leading zero, no `-0`), within Int64, not
        /// followed by a fraction or an exponent.
        mutating func integer() -> Int64? {
            skipSpace()
            var negative = false
            if peek == UInt8(ascii: "-") { negative = true; i += 1 }
            guard let first = peek, first >= 0x30, first <= 0x39 else { return nil }
            if first == 0x30 {
                i += 1
                if negative { return nil }
                if let next = peek, (next >= 0x30 && next <= 0x39) || next == UInt8(ascii: ".") || next == UInt8(ascii: "e") || next == UInt8(ascii: "E") {
                    return nil
                }
                return 0
            }
            var value: Int64 = 0
            while let d = peek, d >= 0x30, d <= 0x39 {
                let digit = Int64(d - 0x30)
                // Accumulated as a negative number: Int64.min has no positive twin.
                let (times10, o1) = value.multipliedReportingOverflow(by: 10)
                let (next, o2) = times10.subtractingReportingOverflow(digit)
                if o1 || o2 { return nil }
                value = next
                i += 1
            }
            if let next = peek, next == UInt8(ascii: ".") || next == UInt8(ascii: "e") || next == UInt8(ascii: "E") { return nil }
            if negative { return value }
            return value == Int64.min ? nil : -value
        }

        /// `null`, after optional whitespace.
        mutating func null() -> Bool {
            skipSpace()
            guard i + 4 <= bytes.count, bytes[i] == UInt8(ascii: "n"), bytes[i + 1] == UInt8(ascii: "u"),
                  bytes[i + 2] == UInt8(ascii: "l"), bytes[i + 3] == UInt8(ascii: "l") else { return false }
            i += 4
            return true
        }

        /// `{"key": value, …}`: `value` reads the value of each key (false: not this shape).
        mutating func object(_ value: (inout Reader, String) -> Bool) -> Bool {
            guard take(Self.openBrace) else { return false }
            if take(Self.closeBrace) { return true }
            while true {
                guard let key = string(), take(Self.colon), value(&self, key) else { return false }
                if take(Self.comma) { continue }
                return take(Self.closeBrace)
            }
        }

        mutating func slot() -> OfferedSlot? {
            var n: Int64?, doctor: Int64?, starts: Int64?, ends: Int64?, label: String?
            let ok = object { r, key in
                switch key {
                case "n": guard n == nil else { return false }; n = r.integer(); return n != nil
                case "doctor_id": guard doctor == nil else { return false }; doctor = r.integer(); return doctor != nil
                case "starts_at": guard starts == nil else { return false }; starts = r.integer(); return starts != nil
                case "ends_at": guard ends == nil else { return false }; ends = r.integer(); return ends != nil
                case "label": guard label == nil else { return false }; label = r.string(); return label != nil
                default: return false
                }
            }
            guard ok, let n, let doctor, let starts, let ends, let label, let number = Int(exactly: n) else { return nil }
            return OfferedSlot(n: number, doctorID: doctor, startsAt: starts, endsAt: ends, label: label)
        }

        mutating func slots() -> [OfferedSlot]? {
            guard take(Self.openBracket) else { return nil }
            var out: [OfferedSlot] = []
            if take(Self.closeBracket) { return out }
            while true {
                guard let s = slot() else { return nil }
                out.append(s)
                if take(Self.comma) { continue }
                return take(Self.closeBracket) ? out : nil
            }
        }

        mutating func offer() -> PendingOffer? {
            var kind: String?, language: String?, slots: [OfferedSlot]?
            var rescheduleOf: Int64?
            var sawReschedule = false
            let ok = object { r, key in
                switch key {
                case "kind": guard kind == nil else { return false }; kind = r.string(); return kind != nil
                case "language": guard language == nil else { return false }; language = r.string(); return language != nil
                case "slots": guard slots == nil else { return false }; slots = r.slots(); return slots != nil
                case "reschedule_of":
                    guard !sawReschedule else { return false }
                    sawReschedule = true
                    if r.null() { return true }
                    rescheduleOf = r.integer()
                    return rescheduleOf != nil
                default: return false
                }
            }
            skipSpace()
            guard ok, i == bytes.count, let kind, let language, let slots else { return nil }
            var offer = PendingOffer(language: language, slots: slots, rescheduleOf: rescheduleOf)
            offer.kind = kind
            return offer
        }
    }
}
