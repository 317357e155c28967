@testable import FileFormats
import Foundation
import Testing
import TestSupport

/// What no bundle upload may do: trap on a cell reference, or make the reader hold more than its limits.
@Suite struct SpreadsheetBoundsTests {
    func code(_ body: () throws -> Any) -> String? {
        do { _ = try body(); return nil } catch let e as FileFormatError { return e.code.rawValue } catch { return "\(error)" }
    }

    func ref(_ s: String) -> [Int]? { Spreadsheet.cellReference(s).map { [$0.column, $0.row] } }

    @Test func cellReferencesUpToXFDAndRow1048576() {
        #expect(ref("A1") == [0, 0])
        #expect(ref("b3") == [1, 2])
        #expect(ref("Z9") == [25, 8])
        #expect(ref("AA10") == [26, 9])
        #expect(ref("XFD1048576") == [16_383, 1_048_575])
        for bad in ["XFE1", "ZZZ1", "AAAA1", "A1048577", "A0", "A01", "1A", "A", "7", "", "A1B", "$A$1", "A 1", "É1",
                    "AAAAAAAAAAAAAAAAAAAA2", "A99999999999999999999999"] {
            #expect(ref(bad) == nil, "\(bad)")
        }
    }

    @Test func anOverflowingCellReferenceIsInvalidFile() throws {
        // An upload whose reference overflowed Int and killed medsync-fcgi.
        let file = TestXlsx.workbook(sheetData: "<row r=\"1\">\(TestXlsx.cell("A1", "phone"))</row><row r=\"2\"><c r=\"AAAAAAAAAAAAAAAAAAAA2\"><v>1</v></c></row>")
        #expect(code { try Spreadsheet.read(data: file, filename: "x.xlsx", contentType: nil) } == "invalid_file")
        let xfe = TestXlsx.workbook(sheetData: "<row r=\"1\">\(TestXlsx.cell("A1", "phone"))\(TestXlsx.cell("XFE1", "x"))</row>")
        #expect(code { try Spreadsheet.read(data: xfe, filename: "x.xlsx", contentType: nil) } == "invalid_file")
        let row = TestXlsx.workbook(sheetData: "<row r=\"1048577\">\(TestXlsx.cell("A1", "phone"))</row>")
        #expect(code { try Spreadsheet.read(data: row, filename: "x.xlsx", contentType: nil) } == "invalid_file")
    }

    @Test func xfdIsReadButAValueThereIsTooWide() throws {
        // An empty formatted cell at XFD (Excel writes those) is skipped; the list reads as usual.
        let styled = TestXlsx.workbook(sheetData: "<row r=\"1\">\(TestXlsx.cell("A1", "phone"))<c r=\"XFD1\" s=\"1\"/></row>"
                                       + "<row r=\"1048576\">\(TestXlsx.cell("A1048576", "+14155550100"))</row>")
        let table = try Spreadsheet.read(data: styled, filename: "x.xlsx", contentType: nil)
        #expect(table.header == ["phone"])
        #expect(table.rows == [["+14155550100"]])
        let valued = TestXlsx.workbook(sheetData: "<row r=\"1\">\(TestXlsx.cell("A1", "phone"))\(TestXlsx.cell("XFD1", "x"))</row>")
        #expect(code { try Spreadsheet.read(data: valued, filename: "x.xlsx", contentType: nil) } == "too_many_columns")
    }

    @Test func wideCSVIsRefusedAtItsFirstLine() throws {
        // 250,000 commas, then ordinary rows (SwiftCSV padded every row to that width).
        var csv = String(repeating: ",", count: 250_000) + "\n"
        for i in 0..<2_000 { csv += "Patient \(i),+1415555\(String(format: "%04d", i))\n" }
        #expect(code { try CSVReader.read(Array(csv.utf8)) } == "too_many_columns")
        let hundred = (0..<100).map { "c\($0)" }.joined(separator: ",") + "\n" + (0..<100).map { _ in "x" }.joined(separator: ",") + "\n"
        #expect(try CSVReader.read(Array(hundred.utf8)).rows.first?.count == 100)
        let hundredOne = (0...100).map { "c\($0)" }.joined(separator: ";")
        #expect(code { try CSVReader.read(Array(hundredOne.utf8)) } == "too_many_columns")
    }

    @Test func rowsAndCellsAreCountedWhileReading() {
        var rows = "phone\n"
        for i in 0...Spreadsheet.maxRows { rows += "+1415\(String(format: "%07d", i))\n" }
        #expect(code { try CSVReader.read(Array(rows.utf8)) } == "too_many_rows")
        // 25 columns × 20,000 rows = 500,000 cells > 400,000.
        let line = (0..<25).map { _ in "x" }.joined(separator: ",") + "\n"
        let cells = "phone" + String(repeating: ",c", count: 24) + "\n" + String(repeating: line, count: 16_001)
        #expect(code { try CSVReader.read(Array(cells.utf8)) } == "too_many_cells")
        // Blank lines cost nothing and count for nothing.
        let blanks = "phone\n" + String(repeating: "\n", count: 100_000) + "+14155550100\n"
        #expect((try? CSVReader.read(Array(blanks.utf8)))?.rows == [["+14155550100"]])
    }

    @Test func csvQuotingAndNULs() throws {
        let t = try CSVReader.read(Array("name,phone\r\n\"Ana \"\"A\"\", M\",\"+1415\n5550100\"\r\n\r\nBob,+1\r".utf8))
        #expect(t.rows == [["Ana \"A\", M", "+1415\n5550100"], ["Bob", "+1"]])
        #expect(code { try CSVReader.read(Array("name,phone\n\"Ana,+1\n".utf8)) } == "invalid_file")
        #expect(code { try CSVReader.read(Array("phone\n+1\u{0}\n".utf8)) } == "invalid_file")
        #expect(code { try CSVReader.read(Array("\n\n  \n".utf8)) } == "invalid_file")
    }
}

/// Inputs FuzzXLSX found (kept in Fuzz/corpus/FuzzXLSX): each once trapped or hung a worker.
@Suite struct SpreadsheetFuzzRegressionTests {
    func corpus(_ name: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: "\(projectRoot)/Fuzz/corpus/FuzzXLSX/\(name)")))
    }

    func code(_ data: [UInt8]) -> String? {
        do { _ = try Spreadsheet.read(data: data, filename: "x.xlsx", contentType: nil); return nil } catch let e as FileFormatError { return e.code.rawValue } catch { return "\(error)" }
    }

    @Test func entryOffsetPastTheDataIsInvalid() throws {
        // ZIPFoundation's in-memory archive trapped here (Range requires lowerBound <= upperBound).
        #expect(code(try corpus("crash-memoryfile-offset-past-end.xlsx")) == "invalid_file")
    }

    @Test func truncatedDeflateStreamIsInvalidNotAHang() throws {
        // ZIPFoundation's inflate loop spun forever once the input ran out before the stream's end.
        #expect(code(try corpus("timeout-truncated-deflate-stream.xlsx")) == "invalid_file")
        let whole = TestXlsx.storedZip([("xl/worksheets/sheet1.xml", Array("<worksheet/>".utf8))])
        #expect(code(Array(whole.prefix(whole.count - 30))) == "invalid_file")
    }

    @Test func nonUTF8ElementNameIsInvalid() throws {
        // Foundation's XMLParser trapped in _NSXMLParserStartElementNs on this worksheet.
        let xml = try corpus("crash-xmlparser-non-utf8-element-name.xml")
        #expect(throws: FileFormatError.self) { try XLSXReader.sheet(Data(xml), shared: []) }
        let inZip = TestXlsx.storedZip([("xl/worksheets/sheet1.xml", xml)])
        #expect(code(inZip) == "invalid_file")
    }

    @Test func processingInstructionsAndDTDsAreInvalid() throws {
        // Foundation's XMLParser called strlen(NULL) on a processing instruction without data: the
        // process died (FuzzXLSX). Only the leading XML declaration is let through, and no DTD.
        let xml = try corpus("processing-instruction-without-data.xml")
        #expect(throws: FileFormatError.self) { try XLSXReader.sheet(Data(xml), shared: []) }
        #expect(XLSXReader.SharedStringsParser.parse(Data(xml)).isEmpty)
        #expect(code(TestXlsx.storedZip([("xl/worksheets/sheet1.xml", xml)])) == "invalid_file")
        for bad in ["<worksheet><?pi?></worksheet>", "<?x?><worksheet/>", "<!DOCTYPE worksheet [<!ENTITY a \"b\">]><worksheet/>",
                    " <?xml-stylesheet href=\"a\"?><worksheet/>"] {
            #expect(throws: FileFormatError.self, "\(bad)") { try XLSXReader.sheet(Data(bad.utf8), shared: []) }
        }
        // What spreadsheet programs write is still read.
        let ok = "\u{FEFF}<?xml version=\"1.0\" encoding=\"UTF-8\" standalone=\"yes\"?>\n<worksheet><sheetData><row r=\"1\"><c r=\"A1\" t=\"inlineStr\"><is><t>phone</t></is></c></row></sheetData></worksheet>"
        #expect(try XLSXReader.sheet(Data(ok.utf8), shared: []).header == ["phone"])
    }
}
