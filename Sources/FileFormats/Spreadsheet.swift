import Foundation

/// A spreadsheet as a bundle upload holds it (CSV or XLSX): a header row and data rows of strings,
/// read within fixed limits so no input makes a reader hold more than the table it may return.
public enum Spreadsheet {
    /// Most rows a file may have (a bundle sends at most 250; the preview shows what is wrong).
    public static let maxRows = 20_000
    /// Uncompressed bytes an XLSX may expand to, in total (a zip bomb stops here): every part is
    /// checked against its declared size, then read in chunks that stop at this budget.
    public static let maxUncompressedBytes = 32 * 1024 * 1024
    /// Most entries of the shared string table (each costs a String even when empty).
    public static let maxSharedStrings = 1_000_000

    public struct Table: Sendable {
        public var header: [String]
        public var rows: [[String]]
        public init(header: [String], rows: [[String]]) {
            self.header = header
            self.rows = rows
        }
    }

    static func fail(_ message: String) -> FileFormatError { FileFormatError(.invalidFile, message) }

    public static func read(data: [UInt8], filename: String?, contentType: String?) throws -> Table {
        let name = (filename ?? "").lowercased()
        let isZip = data.count >= 4 && data[0] == 0x50 && data[1] == 0x4B && data[2] == 0x03 && data[3] == 0x04
        if name.hasSuffix(".xlsx") || isZip || (contentType ?? "").contains("spreadsheetml") {
            return try XLSXReader.read(data)
        }
        if name.hasSuffix(".xls") { throw FileFormatError(.unsupportedFile, "Old .xls files are not supported; save as .xlsx or .csv.") }
        return try CSVReader.read(data)
    }

    // MARK: Limits

    /// Most fields a row may have (a patient list has a handful; a line of 250,000 commas is refused
    /// at its 101st field, before anything is kept).
    public static let maxColumns = 100
    /// Most cells the table may hold in all (e.g. 20,000 rows of 20 columns): what the preview builds
    /// from them stays within a few tens of MB.
    public static let maxCells = 400_000

    static func tooManyRows() -> FileFormatError {
        FileFormatError(.tooManyRows, "A file may have at most \(maxRows) rows.")
    }
    static func tooManyColumns(row: Int) -> FileFormatError {
        FileFormatError(.tooManyColumns, "A row may have at most \(maxColumns) columns; row \(row) has more.")
    }
    static func tooManyCells() -> FileFormatError {
        FileFormatError(.tooManyCells, "A file may have at most \(maxCells) cells in all; split the list.")
    }

    /// Collects rows as they are read, checking every limit before a row is kept: the first
    /// non-blank row is the header; blank rows are dropped; more than `maxRows` data rows, a row
    /// wider than `maxColumns` or more than `maxCells` cells throw at once.
    struct TableBuilder {
        var header: [String]?
        var rows: [[String]] = []
        var cells = 0
        /// 1-based number of the row being read (for error messages).
        var line = 1

        /// Checked before a cell is added to the current row.
        func checkWidth(_ count: Int) throws(FileFormatError) {
            if count >= Spreadsheet.maxColumns { throw Spreadsheet.tooManyColumns(row: line) }
        }

        mutating func add(_ row: [String]) throws(FileFormatError) {
            defer { line += 1 }
            guard row.count <= Spreadsheet.maxColumns else { throw Spreadsheet.tooManyColumns(row: line) }
            if row.allSatisfy({ $0.trimmingCharacters(in: .whitespaces).isEmpty }) { return }
            cells += row.count
            guard cells <= Spreadsheet.maxCells else { throw Spreadsheet.tooManyCells() }
            if header == nil { header = row; return }
            guard rows.count < Spreadsheet.maxRows else { throw Spreadsheet.tooManyRows() }
            rows.append(row)
        }
    }

    /// A cell reference of a worksheet (`B3`) as zero-based (column, row); nil when it is malformed
    /// or past Excel's grid (last column XFD = 16,384, last row 1,048,576). At most 3 letters and
    /// 7 digits are read, so the arithmetic cannot overflow.
    public static func cellReference(_ ref: String) -> (column: Int, row: Int)? {
        var column = 0, row = 0, letters = 0, digits = 0
        for b in ref.utf8 {
            switch b {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"):
                guard digits == 0, letters < 3 else { return nil }
                column = column * 26 + Int((b & 0xDF) - UInt8(ascii: "A") + 1)
                letters += 1
            case UInt8(ascii: "0")...UInt8(ascii: "9"):
                guard letters > 0, digits < 7, !(digits == 0 && b == UInt8(ascii: "0")) else { return nil }
                row = row * 10 + Int(b - UInt8(ascii: "0"))
                digits += 1
            default:
                return nil
            }
        }
        guard letters > 0, digits > 0, column <= 16_384, row <= 1_048_576 else { return nil }
        return (column - 1, row - 1)
    }

    /// A `<row r="…">` number: 1 ... 1,048,576.
    static func rowNumber(_ text: String) -> Int? {
        guard !text.isEmpty, text.utf8.count <= 7, let n = Int(text), (1...1_048_576).contains(n) else { return nil }
        return n
    }
}
