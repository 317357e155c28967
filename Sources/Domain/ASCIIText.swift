import Foundation

/// Byte-level answers for ASCII text on the webhook's hot path, each the same as the Foundation call
/// it replaces (tests compare them on tricky input). Text with any non-ASCII byte goes to Foundation:
/// accents, Unicode spaces and the rest keep Foundation's exact behaviour. Foundation's string calls
/// go through NSString (and `folding` makes a CFLocale per call): most of the webhook's text work.
enum ASCIIText {
    static func isASCII(_ s: String) -> Bool { s.utf8.allSatisfy { $0 < 0x80 } }

    /// `s.trimmingCharacters(in: .whitespaces)`.
    static func trimmingWhitespaces(_ s: String) -> String { trim(s, newlines: false) }

    /// `s.trimmingCharacters(in: .whitespacesAndNewlines)`.
    static func trimmingWhitespacesAndNewlines(_ s: String) -> String { trim(s, newlines: true) }

    /// The ASCII members of `CharacterSet.whitespaces` (space, tab) and, with `newlines`, of
    /// `.whitespacesAndNewlines` (also LF, VT, FF, CR).
    @inline(__always)
    static func isSpace(_ b: UInt8, newlines: Bool) -> Bool {
        b == 0x20 || b == 0x09 || (newlines && b >= 0x0A && b <= 0x0D)
    }

    static func trim(_ s: String, newlines: Bool) -> String {
        let u = s.utf8
        guard let first = u.first, let last = u.last else { return s }
        // Both ends ASCII and not space: nothing to trim (the usual case), whatever lies between.
        if first < 0x80, last < 0x80, !isSpace(first, newlines: newlines), !isSpace(last, newlines: newlines) { return s }
        guard isASCII(s) else {
            return s.trimmingCharacters(in: newlines ? .whitespacesAndNewlines : .whitespaces)
        }
        var start = u.startIndex
        var end = u.endIndex
        while start < end, isSpace(u[start], newlines: newlines) { start = u.index(after: start) }
        while end > start, isSpace(u[u.index(before: end)], newlines: newlines) { end = u.index(before: end) }
        return String(Substring(u[start..<end]))
    }

    /// True when `haystack` (ASCII) contains `needle` (ASCII bytes) anywhere.
    static func contains(_ haystack: String, _ needle: [UInt8]) -> Bool {
        var h = haystack
        return h.withUTF8 { hb in
            let n = needle.count
            guard n > 0 else { return true }
            guard hb.count >= n else { return false }
            var i = 0
            while i + n <= hb.count {
                if hb[i] == needle[0] {
                    var k = 1
                    while k < n, hb[i + k] == needle[k] { k += 1 }
                    if k == n { return true }
                }
                i += 1
            }
            return false
        }
    }
}
