/// `application/x-www-form-urlencoded` pairs (request bodies and query strings), in order, with
/// repeated keys kept.
public struct FormData: Sendable {
    public var pairs: [(String, String)]

    public init(pairs: [(String, String)]) { self.pairs = pairs }

    /// The first value for `name`.
    public subscript(name: String) -> String? { pairs.first { $0.0 == name }?.1 }

    /// Every value for `name`, in order.
    public func values(_ name: String) -> [String] { pairs.filter { $0.0 == name }.map(\.1) }

    /// Parses `a=1&b=x+y&b=%C3%A9`: `+` is a space, `%XX` a byte, the decoded bytes must be UTF-8.
    /// Empty segments (`a=1&&b=2`) are skipped; `a` and `a=` are both an empty value.
    /// Throws `malformed_form` for a bad `%` escape, `invalid_utf8` for bytes that are not UTF-8 and
    /// `nul_character` for a NUL (raw or `%00`).
    public static func parse(_ body: [UInt8]) throws(BodyError) -> FormData {
        var pairs: [(String, String)] = []
        for segment in body.split(separator: UInt8(ascii: "&"), omittingEmptySubsequences: true) {
            let key: ArraySlice<UInt8>
            let value: ArraySlice<UInt8>
            if let eq = segment.firstIndex(of: UInt8(ascii: "=")) {
                key = segment[..<eq]
                value = segment[(eq + 1)...]
            } else {
                key = segment
                value = []
            }
            pairs.append((try decode(key), try decode(value)))
        }
        return FormData(pairs: pairs)
    }

    /// Parses a query string or form body given as text.
    public static func parse(_ text: String) throws(BodyError) -> FormData { try parse(Array(text.utf8)) }

    static func decode(_ bytes: ArraySlice<UInt8>) throws(BodyError) -> String {
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count)
        var i = bytes.startIndex
        while i < bytes.endIndex {
            let b = bytes[i]
            switch b {
            case UInt8(ascii: "+"):
                out.append(UInt8(ascii: " "))
                i += 1
            case UInt8(ascii: "%"):
                guard i + 2 < bytes.endIndex,
                      let hi = hexValue(bytes[i + 1]), let lo = hexValue(bytes[i + 2])
                else {
                    throw .malformedForm("a '%' must be followed by two hexadecimal digits")
                }
                out.append(hi << 4 | lo)
                i += 3
            default:
                out.append(b)
                i += 1
            }
        }
        guard !out.contains(0) else { throw .nulCharacter("the form data contains a NUL character (%00), which is not accepted") }
        guard let s = String(validating: out, as: UTF8.self) else {
            throw .invalidUTF8("the form data is not valid UTF-8")
        }
        return s
    }

    static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }
}
