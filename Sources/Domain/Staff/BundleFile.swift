import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Reading a bundle upload (CSV or XLSX) into a header row and data rows of strings.
public enum BundleFile {
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

    static func fail(_ message: String) -> AppError { AppError(.invalidFile, message) }

    public static func read(data: [UInt8], filename: String?, contentType: String?) throws -> Table {
        let name = (filename ?? "").lowercased()
        let isZip = data.count >= 4 && data[0] == 0x50 && data[1] == 0x4B && data[2] == 0x03 && data[3] == 0x04
        if name.hasSuffix(".xlsx") || isZip || (contentType ?? "").contains("spreadsheetml") {
            return try xlsx(data)
        }
        if name.hasSuffix(".xls") { throw AppError(.unsupportedFile, "Old .xls files are not supported; save as .xlsx or .csv.") }
        return try csv(data)
    }

    // MARK: Limits

    /// Most fields a row may have (a patient list has a handful; a line of 250,000 commas is refused
    /// at its 101st field, before anything is kept).
    public static let maxColumns = 100
    /// Most cells the table may hold in all (e.g. 20,000 rows of 20 columns): what the preview builds
    /// from them stays within a few tens of MB.
    public static let maxCells = 400_000

    static func tooManyRows() -> AppError {
        AppError(.tooManyRows, "A file may have at most \(maxRows) rows.")
    }
    static func tooManyColumns(row: Int) -> AppError {
        AppError(.tooManyColumns, "A row may have at most \(maxColumns) columns; row \(row) has more.")
    }
    static func tooManyCells() -> AppError {
        AppError(.tooManyCells, "A file may have at most \(maxCells) cells in all; split the list.")
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
        func checkWidth(_ count: Int) throws(AppError) {
            if count >= BundleFile.maxColumns { throw BundleFile.tooManyColumns(row: line) }
        }

        mutating func add(_ row: [String]) throws(AppError) {
            defer { line += 1 }
            guard row.count <= BundleFile.maxColumns else { throw BundleFile.tooManyColumns(row: line) }
            if row.allSatisfy({ $0.trimmingCharacters(in: .whitespaces).isEmpty }) { return }
            cells += row.count
            guard cells <= BundleFile.maxCells else { throw BundleFile.tooManyCells() }
            if header == nil { header = row; return }
            guard rows.count < BundleFile.maxRows else { throw BundleFile.tooManyRows() }
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

    // MARK: CSV

    /// RFC 4180 CSV (quotes, doubled quotes, CRLF/LF/CR), delimiter `;`, `,` or tab (the most frequent
    /// in the first line), UTF-8 or Windows-1252. A bounded parser of our own: limits are checked
    /// while reading, so no input makes it hold more than the table it may return.
    public static func csv(_ bytes: [UInt8]) throws -> Table {
        var data = bytes
        if data.starts(with: [0xEF, 0xBB, 0xBF]) { data.removeFirst(3) }
        guard !data.contains(0) else { throw fail("The file contains NUL bytes: it is not a text CSV (UTF-16 is not supported; save as CSV UTF-8).") }
        if String(validating: data, as: UTF8.self) == nil {
            // Excel on Windows saves CSV in Windows-1252.
            guard let latin = String(data: Data(data), encoding: .windowsCP1252) else { throw fail("The CSV file is not UTF-8 text.") }
            data = Array(latin.utf8)
        }
        var builder = TableBuilder()
        try parseCSV(data, delimiter: detectDelimiter(data), into: &builder)
        guard let header = builder.header else { throw fail("The file is empty.") }
        return Table(header: header, rows: builder.rows)
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

    static func parseCSV(_ data: [UInt8], delimiter: UInt8, into builder: inout TableBuilder) throws {
        let quote = UInt8(ascii: "\"")
        var row: [String] = []
        var field: [UInt8] = []
        var inQuotes = false
        func endField() throws(AppError) {
            try builder.checkWidth(row.count)
            row.append(String(decoding: field, as: UTF8.self))
            field.removeAll(keepingCapacity: true)
        }
        func endRow() throws(AppError) {
            try endField()
            try builder.add(row)
            row.removeAll(keepingCapacity: true)
        }
        try data.withUnsafeBufferPointer { (p: UnsafeBufferPointer<UInt8>) throws(AppError) in
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
        guard !inQuotes else { throw fail("The CSV file cannot be read: a quoted field is not closed (row \(builder.line)).") }
        if !field.isEmpty || !row.isEmpty { try endRow() }
    }

    // MARK: XLSX

    public static func xlsx(_ bytes: [UInt8]) throws -> Table {
        let archive: ZipArchive
        do { archive = try ZipArchive(bytes) } catch { throw fail("The .xlsx file is not a valid zip archive.") }
        var budget = maxUncompressedBytes
        func read(_ path: String) throws -> Data? {
            guard let entry = archive[path] else { return nil }
            do {
                return Data(try archive.extract(entry, budget: &budget))
            } catch .overBudget {
                throw tooLarge()
            } catch {
                throw fail("The .xlsx file is damaged (\(path)).")
            }
        }
        let shared = try read("xl/sharedStrings.xml").map(SharedStringsParser.parse) ?? []
        guard shared.count <= maxSharedStrings else {
            throw AppError(.fileTooLarge, "The .xlsx file has more than \(maxSharedStrings) shared strings; it is refused.")
        }
        let sheetPath = try firstSheetPath(archive: archive, read: read)
        guard let sheet = try read(sheetPath) else { throw fail("The .xlsx file has no worksheet.") }
        return try self.sheet(sheet, shared: shared)
    }

    /// A worksheet's XML into a table, with the shared strings it refers to.
    static func sheet(_ xmlData: Data, shared: [String]) throws -> Table {
        guard isParsableXML(xmlData) else { throw fail("The worksheet is not UTF-8 XML.") }
        let parser = SheetParser(shared: shared)
        let xml = XMLParser(data: xmlData)
        xml.delegate = parser
        xml.shouldResolveExternalEntities = false
        let parsed = xml.parse()
        if let failure = parser.failure { throw failure }
        guard parsed else { throw fail("The worksheet XML cannot be read.") }
        guard let header = parser.builder.header else { throw fail("The worksheet is empty.") }
        return Table(header: header, rows: parser.builder.rows)
    }

    /// Whether an XML part is UTF-8 (as Excel writes every part). Foundation's XMLParser traps in
    /// `_NSXMLParserStartElementNs` on an element name that is not UTF-8 (FuzzXLSX found it with
    /// `<\xFF\xFF/v>` in a worksheet), so nothing else reaches it.
    /// XML that Foundation's XMLParser may be given: UTF-8, no processing instruction but a leading
    /// `<?xml …?>` declaration, no DOCTYPE or ENTITY declaration (none occurs in an .xlsx part).
    /// XMLParser crashes the process on a processing instruction without data (`<?x?>`: it calls
    /// strlen on NULL; found by FuzzXLSX), and a DTD is only a way to make the parser do more work.
    static func isParsableXML(_ data: Data) -> Bool {
        data.withUnsafeBytes { raw in
            let b = raw.bindMemory(to: UInt8.self)
            guard String(validating: b, as: UTF8.self) != nil else { return false }
            func space(_ i: Int) -> Bool { i < b.count && (b[i] == 0x20 || b[i] == 0x09 || b[i] == 0x0A || b[i] == 0x0D) }
            var start = 0
            if b.count >= 3 && b[0] == 0xEF && b[1] == 0xBB && b[2] == 0xBF { start = 3 }
            while space(start) { start += 1 }
            func at(_ i: Int, _ text: StaticString) -> Bool {
                let n = text.utf8CodeUnitCount
                guard i + n <= b.count else { return false }
                for k in 0..<n where b[i + k] != text.utf8Start[k] { return false }
                return true
            }
            var i = 0
            while i + 1 < b.count {
                if b[i] == 0x3C {   // <
                    if b[i + 1] == 0x3F {   // <?
                        guard i == start && at(i, "<?xml") && space(i + 5) else { return false }   // only the declaration
                    } else if at(i, "<!DOCTYPE") || at(i, "<!ENTITY") {
                        return false
                    }
                }
                i += 1
            }
            return true
        }
    }

    static func tooLarge() -> AppError {
        AppError(.fileTooLarge, "The .xlsx file expands to more than \(maxUncompressedBytes / 1024 / 1024) MB; it is refused.")
    }

    /// The first sheet of the workbook (workbook.xml + its rels), else the first xl/worksheets/sheet*.xml.
    static func firstSheetPath(archive: ZipArchive, read: (String) throws -> Data?) throws -> String {
        if let wb = try read("xl/workbook.xml"), let rels = try read("xl/_rels/workbook.xml.rels") {
            let first = AttributeCollector.collect(wb, element: "sheet").first
            let rid = first?["r:id"] ?? first?.first { $0.key.hasSuffix(":id") }?.value
            if let rid, let target = AttributeCollector.collect(rels, element: "Relationship").first(where: { $0["Id"] == rid })?["Target"] {
                let path = target.hasPrefix("/") ? String(target.dropFirst()) : "xl/" + target
                if archive[path] != nil { return path }
            }
        }
        let sheets = archive.entries.map(\.path).filter { $0.hasPrefix("xl/worksheets/sheet") && $0.hasSuffix(".xml") }.sorted()
        guard let first = sheets.first else { throw fail("The .xlsx file has no worksheet.") }
        return first
    }

    final class AttributeCollector: NSObject, XMLParserDelegate {
        let element: String
        var found: [[String: String]] = []
        init(element: String) { self.element = element }
        static func collect(_ data: Data, element: String) -> [[String: String]] {
            guard isParsableXML(data) else { return [] }
            let c = AttributeCollector(element: element)
            let p = XMLParser(data: data)
            p.delegate = c
            p.shouldResolveExternalEntities = false
            _ = p.parse()
            return c.found
        }
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String]) {
            if name == element || name.hasSuffix(":" + element) { found.append(attributes) }
        }
    }

    /// `<si>` items of sharedStrings.xml: the text of their `<t>` runs.
    final class SharedStringsParser: NSObject, XMLParserDelegate {
        var strings: [String] = []
        var current = ""
        var inT = false
        var inSI = false
        static func parse(_ data: Data) -> [String] {
            guard isParsableXML(data) else { return [] }
            let s = SharedStringsParser()
            let p = XMLParser(data: data)
            p.delegate = s
            p.shouldResolveExternalEntities = false
            _ = p.parse()
            return s.strings
        }
        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String]) {
            if name == "si" { inSI = true; current = "" }
            if name == "t" && inSI { inT = true }
            if name == "rPh" { inSI = false }   // phonetic runs are not part of the text
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) { if inT { current += string } }
        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            if name == "t" { inT = false }
            if name == "rPh" { inSI = true }
            if name == "si" {
                strings.append(current)
                inSI = false
                // One past the limit is enough for the caller to refuse the file.
                if strings.count > BundleFile.maxSharedStrings { parser.abortParsing() }
            }
        }
    }

    /// Cells of a worksheet into rows; columns placed by their `r` reference (B3 → column 1). A
    /// reference past XFD / row 1,048,576 or malformed stops the parse with 400 `invalid_file`; a
    /// value past `maxColumns` with 413 `too_many_columns` (empty cells there, Excel's formatting, are
    /// skipped); the row, column and cell limits of `TableBuilder` hold as rows end.
    final class SheetParser: NSObject, XMLParserDelegate {
        let shared: [String]
        var builder = TableBuilder()
        var failure: AppError?
        var row: [String] = []
        var col = 0
        var type = ""
        var value = ""
        var inValue = false
        init(shared: [String]) { self.shared = shared }

        func stop(_ parser: XMLParser, _ error: AppError) {
            if failure == nil { failure = error }
            parser.abortParsing()
        }

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String]) {
            guard failure == nil else { return }
            switch name {
            case "row":
                row = []
                col = 0
                if let r = attributes["r"], BundleFile.rowNumber(r) == nil {
                    stop(parser, BundleFile.fail("The worksheet has a row number past Excel's last row (1048576) or a malformed one."))
                }
            case "c":
                type = attributes["t"] ?? "n"
                value = ""
                if let r = attributes["r"] {
                    guard let ref = BundleFile.cellReference(r) else {
                        stop(parser, BundleFile.fail("The worksheet has a cell reference past Excel's last column (XFD) or row (1048576), or a malformed one."))
                        return
                    }
                    col = ref.column
                }
            case "v", "t": inValue = true
            default: break
            }
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) { if inValue, failure == nil { value += string } }
        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            guard failure == nil else { return }
            switch name {
            case "v", "t": inValue = false
            case "c":
                var text = value
                if type == "s", let i = Int(value), shared.indices.contains(i) { text = shared[i] }
                else if type == "b" { text = value == "1" ? "TRUE" : "FALSE" }
                else if type == "n", let d = Double(value), d.rounded() == d, abs(d) < 1e15 { text = String(Int64(d)) }
                defer { col += 1 }
                if col >= BundleFile.maxColumns {
                    if !text.isEmpty { stop(parser, BundleFile.tooManyColumns(row: builder.line)) }
                    return
                }
                while row.count < col { row.append("") }
                if row.count == col { row.append(text) } else { row[col] = text }
            case "row":
                do { try builder.add(row) } catch { stop(parser, error) }
                row = []
            default: break
            }
        }
    }
}
