import Domain
import Foundation
import FuzzSupport

// libFuzzer target: the CSV reader of bundle uploads and the preview built from its table, as
// POST /api/whatsapp/bundle/preview runs them. A table that comes back is within every limit.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCSV(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = Array(UnsafeRawBufferPointer(start: start, count: count))
    guard let table = try? BundleFile.read(data: bytes, filename: "list.csv", contentType: "text/csv") else { return 0 }
    precondition(table.rows.count <= BundleFile.maxRows, "too many rows")
    precondition(table.header.count <= BundleFile.maxColumns && table.rows.allSatisfy { $0.count <= BundleFile.maxColumns }, "too wide")
    precondition(table.rows.reduce(table.header.count) { $0 + $1.count } <= BundleFile.maxCells, "too many cells")
    if let preview = try? Bundles.preview(table, defaultCountryCode: "52") {
        _ = try? JSONEncoder().encode(preview)
    }
    return 0
}

@_cdecl("FuzzCSV_main")
public func fuzzCSVMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?) -> Int32 {
    runFuzzer(argc, argv) { fuzzCSV($0, $1) }
}
