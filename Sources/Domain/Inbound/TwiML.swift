import Foundation

/// TwiML answers.
public enum TwiML {
    public static let empty = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>"

    public static func message(_ text: String) -> String {
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>\(escape(text))</Message></Response>"
    }

    /// XML-escaped text; characters XML 1.0 cannot carry are dropped.
    public static func escape(_ text: String) -> String {
        // On the UTF-8 bytes: the characters escaped or dropped are ASCII, except U+FFFE and U+FFFF
        // (EF BF BE, EF BF BF); every other byte is copied (a String's UTF-8 is valid).
        let u = text.utf8
        if u.allSatisfy({ ($0 >= 0x20 || $0 == 0x9 || $0 == 0xA || $0 == 0xD) && $0 != 0x26 && $0 != 0x3C && $0 != 0x3E && $0 != 0x22 && $0 != 0x27 && $0 != 0xEF }) {
            return text  // nothing to escape or drop
        }
        if !u.contains(0xEF) {
            var bytes: [UInt8] = []
            bytes.reserveCapacity(u.count + 16)
            for b in u {
                switch b {
                case 0x26: bytes += Array("&amp;".utf8)
                case 0x3C: bytes += Array("&lt;".utf8)
                case 0x3E: bytes += Array("&gt;".utf8)
                case 0x22: bytes += Array("&quot;".utf8)
                case 0x27: bytes += Array("&apos;".utf8)
                default: if b >= 0x20 || b == 0x9 || b == 0xA || b == 0xD { bytes.append(b) }
                }
            }
            return String(decoding: bytes, as: UTF8.self)
        }
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for scalar in text.unicodeScalars {
            switch scalar {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            default:
                let v = scalar.value
                if v == 0x9 || v == 0xA || v == 0xD || (v >= 0x20 && v != 0xFFFE && v != 0xFFFF) {
                    out.unicodeScalars.append(scalar)
                }
            }
        }
        return out
    }
}
