/// An id in a request body as the product guide's clients send it: a JSON number (`12`) or a string
/// of digits (`"12"`). Anything else (a fraction, a negative number, letters, more than 18 digits)
/// is refused by the decoder, naming the field.
public struct FlexibleID: Decodable, Sendable, Equatable, Hashable {
    public let value: Int64

    public init(_ value: Int64) { self.value = value }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.singleValueContainer()
        if let n = try? c.decode(Int64.self) {
            guard n > 0 else { throw DecodingError.dataCorruptedError(in: c, debugDescription: "an id is a positive integer") }
            value = n
            return
        }
        guard let s = try? c.decode(String.self) else {
            throw DecodingError.typeMismatch(Int64.self, .init(codingPath: c.codingPath, debugDescription: "an id: a number or a string of digits"))
        }
        guard let n = FlexibleID.parse(s) else {
            throw DecodingError.dataCorruptedError(in: c, debugDescription: "an id: a number or a string of digits")
        }
        value = n
    }

    /// A positive id from a string of 1 to 18 ASCII digits (a path segment or a JSON string).
    public static func parse(_ s: String) -> Int64? {
        guard (1...18).contains(s.utf8.count), s.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }), let n = Int64(s), n > 0 else { return nil }
        return n
    }
}

extension KeyedDecodingContainer {
    /// A PATCH-style field: absent → `.none` (leave it), JSON null → `.some(nil)` (clear it),
    /// a string → `.some(value)` (set it).
    func decodeClearable(_ key: Key) throws -> String?? {
        guard contains(key) else { return .none }
        return try decodeNil(forKey: key) ? .some(nil) : .some(try decode(String.self, forKey: key))
    }
}
