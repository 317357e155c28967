/// Base64 (RFC 4648 §4) and base64url (§5), with or without `=` padding. No Foundation.
public enum Base64 {
    public enum Alphabet: Sendable {
        /// `+` and `/`
        case standard
        /// `-` and `_` (URL and filename safe)
        case urlSafe
    }

    private static let standardTable = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8)
    private static let urlSafeTable = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    /// Encodes `bytes`; `padding: false` leaves out the trailing `=`.
    public static func encode(_ bytes: [UInt8], alphabet: Alphabet = .standard, padding: Bool = true) -> String {
        let table = alphabet == .standard ? standardTable : urlSafeTable
        var out = [UInt8]()
        out.reserveCapacity((bytes.count + 2) / 3 * 4)
        var i = 0
        while i + 3 <= bytes.count {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8 | UInt32(bytes[i + 2])
            out.append(table[Int(n >> 18 & 63)])
            out.append(table[Int(n >> 12 & 63)])
            out.append(table[Int(n >> 6 & 63)])
            out.append(table[Int(n & 63)])
            i += 3
        }
        let rest = bytes.count - i
        if rest == 1 {
            let n = UInt32(bytes[i]) << 16
            out.append(table[Int(n >> 18 & 63)])
            out.append(table[Int(n >> 12 & 63)])
            if padding { out.append(contentsOf: [UInt8(ascii: "="), UInt8(ascii: "=")]) }
        } else if rest == 2 {
            let n = UInt32(bytes[i]) << 16 | UInt32(bytes[i + 1]) << 8
            out.append(table[Int(n >> 18 & 63)])
            out.append(table[Int(n >> 12 & 63)])
            out.append(table[Int(n >> 6 & 63)])
            if padding { out.append(UInt8(ascii: "=")) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    public static func urlSafeEncode(_ bytes: [UInt8], padding: Bool = true) -> String {
        encode(bytes, alphabet: .urlSafe, padding: padding)
    }

    /// Decodes strictly: only characters of `alphabet`, no whitespace; `=` padding may be present
    /// (then it must be correct) or absent. A length that no encoding produces (4n+1) is rejected.
    /// Returns nil on any violation.
    public static func decode(_ string: String, alphabet: Alphabet = .standard) -> [UInt8]? {
        var chars = Array(string.utf8)
        if chars.count % 4 == 0, chars.count >= 4 {
            // Padded form: at most two '=' and only at the end.
            var pad = 0
            while pad < 2, chars.last == UInt8(ascii: "=") { chars.removeLast(); pad += 1 }
        }
        if chars.count % 4 == 1 { return nil }
        var out = [UInt8]()
        out.reserveCapacity(chars.count * 3 / 4)
        var acc: UInt32 = 0
        var bits = 0
        for c in chars {
            guard let v = value(of: c, alphabet) else { return nil }
            acc = acc << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
                acc &= (1 << UInt32(bits)) - 1
            }
        }
        return out
    }

    public static func urlSafeDecode(_ string: String) -> [UInt8]? { decode(string, alphabet: .urlSafe) }

    private static func value(of c: UInt8, _ alphabet: Alphabet) -> UInt8? {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return c - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return c - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+") where alphabet == .standard: return 62
        case UInt8(ascii: "/") where alphabet == .standard: return 63
        case UInt8(ascii: "-") where alphabet == .urlSafe: return 62
        case UInt8(ascii: "_") where alphabet == .urlSafe: return 63
        default: return nil
        }
    }
}
