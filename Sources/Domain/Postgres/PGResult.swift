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

    func column(_ name: String) -> Int32? {
        if let i = columnIndex[name] { return i }
        assertionFailure("no column \(name) in result (columns: \(columns))")
        return nil
    }
}

/// One row of a `PGResult`; keeps the result alive. Accessors return nil for SQL NULL.
public struct PGRow {
    public let result: PGResult
    public let index: Int32

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
