import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// An .xlsx workbook (a zip of XML parts) read into its first sheet's table: the archive under a
/// byte budget (`ZipArchive`), the shared strings and the sheet with Foundation's XMLParser, given
/// only XML it cannot trap on.
public enum XLSXReader {
    public static func read(_ bytes: [UInt8]) throws -> Spreadsheet.Table {
        let archive: ZipArchive
        do { archive = try ZipArchive(bytes) } catch { throw Spreadsheet.fail("The .xlsx file is not a valid zip archive.") }
        var budget = Spreadsheet.maxUncompressedBytes
        func read(_ path: String) throws -> Data? {
            guard let entry = archive[path] else { return nil }
            do {
                return Data(try archive.extract(entry, budget: &budget))
            } catch .overBudget {
                throw tooLarge()
            } catch {
                throw Spreadsheet.fail("The .xlsx file is damaged (\(path)).")
            }
        }
        let shared = try read("xl/sharedStrings.xml").map(SharedStringsParser.parse) ?? []
        guard shared.count <= Spreadsheet.maxSharedStrings else {
            throw FileFormatError(.fileTooLarge, "The .xlsx file has more than \(Spreadsheet.maxSharedStrings) shared strings; it is refused.")
        }
        let sheetPath = try firstSheetPath(archive: archive, read: read)
        guard let sheet = try read(sheetPath) else { throw Spreadsheet.fail("The .xlsx file has no worksheet.") }
        return try self.sheet(sheet, shared: shared)
    }

    /// A worksheet's XML into a table, with the shared strings it refers to.
    static func sheet(_ xmlData: Data, shared: [String]) throws -> Spreadsheet.Table {
        guard isParsableXML(xmlData) else { throw Spreadsheet.fail("The worksheet is not UTF-8 XML.") }
        let parser = SheetParser(shared: shared)
        let xml = XMLParser(data: xmlData)
        xml.delegate = parser
        xml.shouldResolveExternalEntities = false
        let parsed = xml.parse()
        if let failure = parser.failure { throw failure }
        guard parsed else { throw Spreadsheet.fail("The worksheet XML cannot be read.") }
        guard let header = parser.builder.header else { throw Spreadsheet.fail("The worksheet is empty.") }
        return Spreadsheet.Table(header: header, rows: parser.builder.rows)
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

    static func tooLarge() -> FileFormatError {
        FileFormatError(.fileTooLarge, "The .xlsx file expands to more than \(Spreadsheet.maxUncompressedBytes / 1024 / 1024) MB; it is refused.")
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
        guard let first = sheets.first else { throw Spreadsheet.fail("The .xlsx file has no worksheet.") }
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
                if strings.count > Spreadsheet.maxSharedStrings { parser.abortParsing() }
            }
        }
    }

    /// Cells of a worksheet into rows; columns placed by their `r` reference (B3 → column 1). A
    /// reference past XFD / row 1,048,576 or malformed stops the parse with 400 `invalid_file`; a
    /// value past `maxColumns` with 413 `too_many_columns` (empty cells there, Excel's formatting, are
    /// skipped); the row, column and cell limits of `TableBuilder` hold as rows end.
    final class SheetParser: NSObject, XMLParserDelegate {
        let shared: [String]
        var builder = Spreadsheet.TableBuilder()
        var failure: FileFormatError?
        var row: [String] = []
        var col = 0
        var type = ""
        var value = ""
        var inValue = false
        init(shared: [String]) { self.shared = shared }

        func stop(_ parser: XMLParser, _ error: FileFormatError) {
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
                if let r = attributes["r"], Spreadsheet.rowNumber(r) == nil {
                    stop(parser, Spreadsheet.fail("The worksheet has a row number past Excel's last row (1048576) or a malformed one."))
                }
            case "c":
                type = attributes["t"] ?? "n"
                value = ""
                if let r = attributes["r"] {
                    guard let ref = Spreadsheet.cellReference(r) else {
                        stop(parser, Spreadsheet.fail("The worksheet has a cell reference past Excel's last column (XFD) or row (1048576), or a malformed one."))
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
                if col >= Spreadsheet.maxColumns {
                    if !text.isEmpty { stop(parser, Spreadsheet.tooManyColumns(row: builder.line)) }
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
