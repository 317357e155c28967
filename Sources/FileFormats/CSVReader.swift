import Foundation

/// RFC 4180 CSV (quotes, doubled quotes, CRLF/LF/CR), delimiter `;`, `,` or tab (the most frequent
/// in the first line), UTF-8 or Windows-1252. A bounded parser of our own: limits are checked
/// while reading, so no input makes it hold more than the table it may return.
public enum CSVReader {
    public static func read(_ bytes: [UInt8]) throws -> Spreadsheet.Table {
        var data = bytes
        if data.starts(with: [0xEF, 0xBB, 0xBF]) { data.removeFirst(3) }
        guard !data.contains(0) else { throw Spreadsheet.fail("The file contains NUL bytes: it is not a text CSV (UTF-16 is not supported; save as CSV UTF-8).") }
        if String(validating: data, as: UTF8.self) == nil {
            // Excel on Windows saves CSV in Windows-1252.
            guard let latin = String(data: Data(data), encoding: .windowsCP1252) else { throw Spreadsheet.fail("The CSV file is not UTF-8 text.") }
            data = Array(latin.utf8)
        }
        var builder = Spreadsheet.TableBuilder()
        try parseCSV(data, delimiter: detectDelimiter(data), into: &builder)
        guard let header = builder.header else { throw Spreadsheet.fail("The file is empty.") }
        return Spreadsheet.Table(header: header, rows: builder.rows)
    }

    /// `;`, `,` or tab, whichever the first line has most of (ties in that order); `,` when none.
    static func detectDelimiter(_ data: [UInt8]) -> UInt8 {
        var semicolons = 0, commas = 0, tabs = 0
        for b in data {
            if b == 10 || b == 13 { break }
            if b == UInt8(ascii: ";") { semicolons += 1 } else if b == UInt8(ascii: ",") { commas += 1 } else if b == 9 { tabs += 1 }
        }
        if semicolons > 0, semicolons >= commas, semicolons >= tabs { return UInt8(ascii: ";") }
        if tabs > commas { return 9 }
        return UInt8(ascii: ",")
    }

    static func parseCSV(_ data: [UInt8], delimiter: UInt8, into builder: inout Spreadsheet.TableBuilder) throws {
        let quote = UInt8(ascii: "\"")
        var row: [String] = []
        var field: [UInt8] = []
        var inQuotes = false
        func endField() throws(FileFormatError) {
            try builder.checkWidth(row.count)
            row.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
        }
        func endRow() throws(FileFormatError) {
            try endField()
            try builder.add(row)
            row.removeAll(keepingCapacity: true)
        }
        try data.withUnsafeBufferPointer { (p: UnsafeBufferPointer<UInt8>) throws(FileFormatError) in
            var i = 0
            while i < p.count {
                let b = p[i]
                i += 1
                if inQuotes {
                    if b == quote {
                        if i < p.count, p[i] == quote { field.append(quote); i += 1 } else { inQuotes = false }
                    } else {
                        field.append(b)
                    }
                    continue
                }
                switch b {
                case quote where field.isEmpty: inQuotes = true
                case delimiter: try endField()
                case 13:
                    if i < p.count, p[i] == 10 { i += 1 }
                    try endRow()
                case 10: try endRow()
                default: field.append(b)
                }
            }
        }
        guard !inQuotes else { throw Spreadsheet.fail("The CSV file cannot be read: a quoted field is not closed (row \(builder.line)).") }
        if !field.isEmpty || !row.isEmpty { try endRow() }
    }
}
