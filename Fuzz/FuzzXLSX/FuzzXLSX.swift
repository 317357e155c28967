import Domain
@testable import FileFormats
import Foundation
import FuzzSupport

// libFuzzer target: the XLSX reader of bundle uploads. An input starting like a zip goes through the
// whole reader (ZipArchive with the uncompressed budget, workbook, shared strings, sheet); any other
// input is parsed as the worksheet XML itself (and as a shared string table), so mutations reach the
// cell-reference and row logic without having to keep a zip's CRC right.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzXLSX(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    let table: Spreadsheet.Table?
    if bytes.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
        table = try? BundleFile.read(data: bytes, filename: "list.xlsx", contentType: nil)
    } else {
        let shared = XLSXReader.SharedStringsParser.parse(Data(bytes))
        table = try? XLSXReader.sheet(Data(bytes), shared: shared)
    }
    guard let table else { return 0 }
    precondition(table.rows.count <= BundleFile.maxRows, "too many rows")
    precondition(table.header.count <= BundleFile.maxColumns && table.rows.allSatisfy { $0.count <= BundleFile.maxColumns }, "too wide")
    if let preview = try? Bundles.preview(table) { _ = try? JSONEncoder().encode(preview) }
    return 0
}

@_cdecl("FuzzXLSX_main")
public func fuzzXLSXMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv) { fuzzXLSX($0, $1) }
}
