/// Why an uploaded file was refused. The codes are the API's (Domain answers them as `AppError`s of
/// the same code); the message is for the person who uploaded the file.
public struct FileFormatError: Error, Sendable, Equatable {
    public enum Code: String, Sendable {
        case invalidFile = "invalid_file"
        case unsupportedFile = "unsupported_file"
        case fileTooLarge = "file_too_large"
        case tooManyRows = "too_many_rows"
        case tooManyColumns = "too_many_columns"
        case tooManyCells = "too_many_cells"
    }

    public let code: Code
    public let message: String

    public init(_ code: Code, _ message: String) {
        self.code = code
        self.message = message
    }
}
