import Foundation
import SwiftCSV
import ZIPFoundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// Reading a bundle upload (CSV or XLSX) into a header row and data rows of strings.
public enum BundleFile {
    /// Most rows a file may have (a bundle sends at most 250; the preview shows what is wrong).
    public static let maxRows = 20_000
    /// Uncompressed bytes an XLSX may expand to, in total (a zip bomb stops here).
    public static let maxUncompressedBytes = 50 * 1024 * 1024

    public struct Table: Sendable {
        public var header: [String]
        public var rows: [[String]]
        public init(header: [String], rows: [[String]]) {
            self.header = header
            self.rows = rows
        }
    }

    static func fail(_ message: String) -> AppError { AppError(status: 400, code: "invalid_file", message: message) }

    public static func read(data: [UInt8], filename: String?, contentType: String?) throws -> Table {
        let name = (filename ?? "").lowercased()
        let isZip = data.count >= 4 && data[0] == 0x50 && data[1] == 0x4B && data[2] == 0x03 && data[3] == 0x04
        if name.hasSuffix(".xlsx") || isZip || (contentType ?? "").contains("spreadsheetml") {
            return try xlsx(data)
        }
        if name.hasSuffix(".xls") { throw AppError(status: 415, code: "unsupported_file", message: "Old .xls files are not supported; save as .xlsx or .csv.") }
        return try csv(data)
    }

    // MARK: CSV

    public static func csv(_ bytes: [UInt8]) throws -> Table {
        var data = bytes
        if data.starts(with: [0xEF, 0xBB, 0xBF]) { data.removeFirst(3) }
        let text: String
        if let utf8 = String(validating: data, as: UTF8.self) {
            text = utf8
        } else {
            // Excel on Windows saves CSV in Windows-1252.
            guard let latin = String(data: Data(data), encoding: .windowsCP1252) else { throw fail("The CSV file is not UTF-8 text.") }
            text = latin
        }
        guard !text.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw fail("The file is empty.") }
        let firstLine = text.prefix { $0 != "\n" && $0 != "\r\n" && $0 != "\r" }
        let counts: [(Character, Int)] = [(";", firstLine.filter { $0 == ";" }.count), (",", firstLine.filter { $0 == "," }.count),
                                          ("\t", firstLine.filter { $0 == "\t" }.count)]
        let best = counts.max { $0.1 < $1.1 }
        let delimiter: CSVDelimiter = best.map { $0.1 > 0 ? ($0.0 == ";" ? .semicolon : $0.0 == "\t" ? .tab : .comma) : .comma } ?? .comma
        let parsed: EnumeratedCSV
        do {
            parsed = try EnumeratedCSV(string: text, delimiter: delimiter, loadColumns: false, rowLimit: maxRows + 1)
        } catch let e as CSVParseError {
            switch e {
            case .generic(let m), .quotation(let m): throw fail("The CSV file cannot be read: \(m)")
            }
        }
        let rows = parsed.rows.filter { !$0.allSatisfy { $0.trimmingCharacters(in: .whitespaces).isEmpty } }
        guard rows.count <= maxRows else { throw AppError(status: 413, code: "too_many_rows", message: "A file may have at most \(maxRows) rows.") }
        return Table(header: parsed.header, rows: rows)
    }

    // MARK: XLSX

    public static func xlsx(_ bytes: [UInt8]) throws -> Table {
        let archive: Archive
        do { archive = try Archive(data: Data(bytes), accessMode: .read) } catch {
            throw fail("The .xlsx file is not a valid zip archive.")
        }
        var budget = maxUncompressedBytes
        func read(_ path: String) throws -> Data? {
            guard let entry = archive[path] else { return nil }
            guard entry.uncompressedSize <= UInt64(budget) else { throw tooLarge() }
            var out = Data()
            do {
                _ = try archive.extract(entry, skipCRC32: false) { chunk in
                    budget -= chunk.count
                    if budget < 0 { throw BombError() }
                    out.append(chunk)
                }
            } catch is BombError {
                throw tooLarge()
            } catch {
                throw fail("The .xlsx file is damaged (\(path)).")
            }
            return out
        }
        let shared = try read("xl/sharedStrings.xml").map(SharedStringsParser.parse) ?? []
        let sheetPath = try firstSheetPath(archive: archive, read: read)
        guard let sheet = try read(sheetPath) else { throw fail("The .xlsx file has no worksheet.") }
        let parser = SheetParser(shared: shared, maxRows: maxRows + 1)
        let xml = XMLParser(data: sheet)
        xml.delegate = parser
        xml.shouldResolveExternalEntities = false
        guard xml.parse() || parser.stoppedForLimit else { throw fail("The worksheet XML cannot be read.") }
        var rows = parser.rows.filter { !$0.allSatisfy { $0.trimmingCharacters(in: .whitespaces).isEmpty } }
        guard !rows.isEmpty else { throw fail("The worksheet is empty.") }
        let header = rows.removeFirst()
        guard rows.count <= maxRows else { throw AppError(status: 413, code: "too_many_rows", message: "A file may have at most \(maxRows) rows.") }
        let width = header.count
        rows = rows.map { $0.count < width ? $0 + Array(repeating: "", count: width - $0.count) : $0 }
        return Table(header: header, rows: rows)
    }

    struct BombError: Error {}
    static func tooLarge() -> AppError {
        AppError(status: 413, code: "file_too_large", message: "The .xlsx file expands to more than \(maxUncompressedBytes / 1024 / 1024) MB; it is refused.")
    }

    /// The first sheet of the workbook (workbook.xml + its rels), else the first xl/worksheets/sheet*.xml.
    static func firstSheetPath(archive: Archive, read: (String) throws -> Data?) throws -> String {
        if let wb = try read("xl/workbook.xml"), let rels = try read("xl/_rels/workbook.xml.rels") {
            let first = AttributeCollector.collect(wb, element: "sheet").first
            let rid = first?["r:id"] ?? first?.first { $0.key.hasSuffix(":id") }?.value
            if let rid, let target = AttributeCollector.collect(rels, element: "Relationship").first(where: { $0["Id"] == rid })?["Target"] {
                let path = target.hasPrefix("/") ? String(target.dropFirst()) : "xl/" + target
                if archive[path] != nil { return path }
            }
        }
        let sheets = archive.map(\.path).filter { $0.hasPrefix("xl/worksheets/sheet") && $0.hasSuffix(".xml") }.sorted()
        guard let first = sheets.first else { throw fail("The .xlsx file has no worksheet.") }
        return first
    }

    final class AttributeCollector: NSObject, XMLParserDelegate {
        let element: String
        var found: [[String: String]] = []
        init(element: String) { self.element = element }
        static func collect(_ data: Data, element: String) -> [[String: String]] {
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
            if name == "si" { strings.append(current); inSI = false }
        }
    }

    /// Cells of a worksheet into rows; columns placed by their `r` reference (B3 → column 1).
    final class SheetParser: NSObject, XMLParserDelegate {
        let shared: [String]
        let maxRows: Int
        var rows: [[String]] = []
        var row: [String] = []
        var col = 0
        var type = ""
        var value = ""
        var inValue = false
        var stoppedForLimit = false
        init(shared: [String], maxRows: Int) { self.shared = shared; self.maxRows = maxRows }

        func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?, qualifiedName: String?,
                    attributes: [String: String]) {
            switch name {
            case "row": row = []; col = 0
            case "c":
                type = attributes["t"] ?? "n"
                value = ""
                if let r = attributes["r"] {
                    var n = 0
                    for ch in r.unicodeScalars where ch.properties.isUppercase || ("A"..."Z").contains(ch) {
                        n = n * 26 + Int(ch.value - 64)
                    }
                    if n > 0 { col = n - 1 }
                }
                if col > 200 { col = 200 }
            case "v", "t": inValue = true
            default: break
            }
        }
        func parser(_ parser: XMLParser, foundCharacters string: String) { if inValue { value += string } }
        func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
            switch name {
            case "v", "t": inValue = false
            case "c":
                var text = value
                if type == "s", let i = Int(value), shared.indices.contains(i) { text = shared[i] }
                else if type == "b" { text = value == "1" ? "TRUE" : "FALSE" }
                else if type == "n", let d = Double(value), d.rounded() == d, abs(d) < 1e15 { text = String(Int64(d)) }
                while row.count < col { row.append("") }
                if row.count == col { row.append(text) } else { row[col] = text }
                col += 1
            case "row":
                rows.append(row)
                if rows.count > maxRows { stoppedForLimit = true; parser.abortParsing() }
            default: break
            }
        }
    }
}
