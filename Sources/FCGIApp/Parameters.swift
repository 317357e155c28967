import Domain

/// A value a path capture can be read as (`ctx.parameters.require("id", as: Int64.self)`).
/// `init?(pathParameter:)` answers nil for a value the route cannot mean.
protocol PathParameter {
    init?(pathParameter: String)
}

extension String: PathParameter {
    init?(pathParameter value: String) { self = value }
}

extension Int64: PathParameter {
    /// Ids are positive decimal integers; anything else names no row.
    init?(pathParameter value: String) {
        guard let n = Int64(value), n > 0 else { return nil }
        self = n
    }
}

/// The `{name}` captures of the route being handled, percent-decoded (set by the router).
struct Parameters: Sendable {
    private let values: [String: String]

    init(_ values: [String: String] = [:]) { self.values = values }

    /// The capture `name` as a `T`. A value that is not a `T` is 404 `not_found` (the path names no
    /// such resource, as an unknown id does); a name the route pattern does not capture is a
    /// programming error, answered 500 `internal_error`.
    func require<T: PathParameter>(_ name: String, as type: T.Type = T.self) throws -> T {
        guard let raw = values[name] else { throw AppError.internal }
        guard let value = T(pathParameter: raw) else { throw AppError(.notFound, "No such resource.") }
        return value
    }
}
