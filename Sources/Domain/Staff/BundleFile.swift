import FileFormats

/// Reading a bundle upload (CSV or XLSX) into a header row and data rows of strings: FileFormats'
/// bounded readers, their refusals answered as the API's errors (same codes).
public enum BundleFile {
    public typealias Table = Spreadsheet.Table

    public static let maxRows = Spreadsheet.maxRows
    public static let maxColumns = Spreadsheet.maxColumns
    public static let maxCells = Spreadsheet.maxCells

    public static func read(data: [UInt8], filename: String?, contentType: String?) throws -> Table {
        try answered { try Spreadsheet.read(data: data, filename: filename, contentType: contentType) }
    }

    public static func csv(_ bytes: [UInt8]) throws -> Table {
        try answered { try CSVReader.read(bytes) }
    }

    static func answered(_ read: () throws -> Table) throws -> Table {
        do {
            return try read()
        } catch let error as FileFormatError {
            throw AppError(code(error.code), error.message)
        }
    }

    static func code(_ code: FileFormatError.Code) -> ErrorCode {
        switch code {
        case .invalidFile: .invalidFile
        case .unsupportedFile: .unsupportedFile
        case .fileTooLarge: .fileTooLarge
        case .tooManyRows: .tooManyRows
        case .tooManyColumns: .tooManyColumns
        case .tooManyCells: .tooManyCells
        }
    }
}
