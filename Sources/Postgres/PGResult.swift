@preconcurrency import CLibPQ
import Foundation

/// The result of one statement. Owns its `PGresult`; `PQclear` runs in `deinit` and nowhere else.
/// Rows are read through `PGRow` (by column name), all values in text format.
public final class PGResult: RandomAccessCollection {
    let handle: OpaquePointer
    private var columnIndex: [String: Int32] = [:]

    /// Takes ownership of a non-NULL `PGresult`.
    init(owning handle: OpaquePointer) {
        self.handle = handle
        let n = PQnfields(handle)
        columnIndex.reserveCapacity(Int(Swift.max(n, 0)))
        for i in 0..<n {
            if let name = PQfname(handle, i) {
                let key = String(cString: name)
                if columnIndex[key] == nil { columnIndex[key] = i }
            }
        }
    }

    deinit { PQclear(handle) }

    /// Number of rows returned.
    public var count: Int { Int(PQntuples(handle)) }
    public var startIndex: Int { 0 }
    public var endIndex: Int { count }
    public subscript(position: Int) -> PGRow { PGRow(result: self, index: Int32(position)) }
    public var rows: [PGRow] { Array(self) }

    /// Column names in order.
    public var columns: [String] {
        (0..<PQnfields(handle)).map { PQfname(handle, $0).map { String(cString: $0) } ?? "" }
    }

    /// Rows affected by INSERT/UPDATE/DELETE (`PQcmdTuples`), 0 for other statements.
    public var rowsAffected: Int {
        guard let s = PQcmdTuples(handle) else { return 0 }
        return Int(String(cString: s)) ?? 0
    }

    /// The first row; throws when the statement returned none (an `INSERT ... RETURNING` that must
    /// return one, an aggregate), instead of trapping on `.first!`.
    public func one() throws -> PGRow {
        guard count > 0 else { throw PGError.noRow(statement: nil) }
        return self[0]
    }

    /// The index of a column, nil when the result has none of that name (no assertion: decoding throws).
    func columnIfPresent(_ name: String) -> Int32? { columnIndex[name] }

    func column(_ name: String) -> Int32? {
        if let i = columnIndex[name] { return i }
        assertionFailure("no column \(name) in result (columns: \(columns))")
        return nil
    }
}

/// One row of a `PGResult`; keeps the result alive.
///
/// Read columns with the throwing `decode(Int64.self, "id")` (`decode(String?.self, "name")` where
/// NULL is allowed): a missing column, a NULL where a value is required or a text that is not of the
/// type throws a `PGError` (`decode_failed`) naming the column and the type, never the value.
/// The older accessors (`int64("id")`, ...) return nil for all three and remain for callers that
/// have not moved yet.
public struct PGRow {
    public let result: PGResult
    public let index: Int32

    /// The column's value as `T`; `T` optional accepts NULL.
    public func decode<T: PGDecodable>(_ type: T.Type = T.self, _ column: String) throws -> T {
        guard let c = result.columnIfPresent(column) else {
            throw PGError.decodeFailure(column: column, "no such column in the result")
        }
        if PQgetisnull(result.handle, index, c) != 0 {
            guard let null = T.pgNull else { throw PGError.decodeFailure(column: column, "NULL where \(T.self) is required") }
            return null
        }
        guard let p = PQgetvalue(result.handle, index, c), let value = T.pgDecode(text: String(cString: p)) else {
            throw PGError.decodeFailure(column: column, "the text is not a valid \(T.self)")
        }
        return value
    }

    /// A `json`/`jsonb` column decoded as `T`; throws on NULL (use the optional overload to allow it).
    public func decodeJSON<T: Decodable>(_ type: T.Type = T.self, _ column: String) throws -> T {
        let text = try decode(String.self, column)
        do {
            return try JSONDecoder().decode(T.self, from: Data(text.utf8))
        } catch {
            // The decoder's message may quote the document: name only the column and the type.
            throw PGError.decodeFailure(column: column, "the JSON is not a valid \(T.self)")
        }
    }

    /// A nullable `json`/`jsonb` column: NULL is nil.
    public func decodeJSON<T: Decodable>(_ type: T?.Type, _ column: String) throws -> T? {
        guard try decode(String?.self, column) != nil else { return nil }
        return try decodeJSON(T.self, column)
    }

    /// The raw text of a column, nil when NULL or when the column does not exist.
    public func string(_ column: String) -> String? {
        guard let c = result.column(column), PQgetisnull(result.handle, index, c) == 0,
              let p = PQgetvalue(result.handle, index, c) else { return nil }
        return String(cString: p)
    }

    public func int(_ column: String) -> Int? { string(column).flatMap { Int($0) } }
    public func int64(_ column: String) -> Int64? { string(column).flatMap { Int64($0) } }
    public func double(_ column: String) -> Double? {
        guard let s = string(column) else { return nil }
        switch s {
        case "NaN": return .nan
        case "Infinity": return .infinity
        case "-Infinity": return -.infinity
        default: return Double(s)
        }
    }
    public func bool(_ column: String) -> Bool? {
        switch string(column) {
        case "t"?, "true"?: return true
        case "f"?, "false"?: return false
        default: return nil
        }
    }
    /// A `timestamptz`, `timestamp` (read as UTC) or `date` column.
    public func date(_ column: String) -> Date? { string(column).flatMap(PGValue.parseTimestamp) }

    /// A `bytea` column (hex or escape output format).
    public func bytes(_ column: String) -> [UInt8]? {
        guard let c = result.column(column), PQgetisnull(result.handle, index, c) == 0,
              let p = PQgetvalue(result.handle, index, c) else { return nil }
        let length = Int(PQgetlength(result.handle, index, c))
        return p.withMemoryRebound(to: UInt8.self, capacity: length) { raw in
            let text = UnsafeBufferPointer(start: raw, count: length)
            if length >= 2, text[0] == UInt8(ascii: "\\"), text[1] == UInt8(ascii: "x") {
                return PGRow.decodeHex(text.dropFirst(2))
            }
            // Escape format (bytea_output = escape): let libpq decode it.
            var outLength = 0
            guard let out = PQunescapeBytea(raw, &outLength) else { return nil }
            defer { PQfreemem(out) }
            return Array(UnsafeBufferPointer(start: out, count: outLength))
        }
    }

    /// Decodes a `json`/`jsonb` column.
    public func json<T: Decodable>(_ column: String, as type: T.Type = T.self) throws -> T? {
        guard let s = string(column) else { return nil }
        do {
            return try JSONDecoder().decode(T.self, from: Data(s.utf8))
        } catch {
            throw PGError(code: .decodeFailed, serverMessage: "column \(column): \(error)")
        }
    }

    public func isNull(_ column: String) -> Bool {
        guard let c = result.column(column) else { return true }
        return PQgetisnull(result.handle, index, c) != 0
    }

    static func decodeHex(_ hex: Slice<UnsafeBufferPointer<UInt8>>) -> [UInt8]? {
        guard hex.count % 2 == 0 else { return nil }
        func nibble(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var out = [UInt8]()
        out.reserveCapacity(hex.count / 2)
        var i = hex.startIndex
        while i < hex.endIndex {
            guard let hi = nibble(hex[i]), let lo = nibble(hex[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }
}
