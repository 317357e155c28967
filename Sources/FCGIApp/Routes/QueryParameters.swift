import Domain
import FastCGI
import Foundation

// Typed query parameters of the staff routes; a value of the wrong type is 400 `validation_failed`
// naming the parameter.

/// Query parameters (repeats: the first wins).
func queryParams(_ request: Request) throws -> FormData { try request.queryItems() }

func intQuery(_ q: FormData, _ name: String, default value: Int) throws -> Int {
    guard let raw = q[name], !raw.isEmpty else { return value }
    guard let n = Int(raw) else { throw AppError.validation(name, "must be an integer.") }
    return n
}

/// An ISO 8601 date-time (`2026-12-03T09:00:00Z`, `…-06:00`) query parameter, within `TimeBounds`.
func dateQuery(_ q: FormData, _ name: String) throws -> Date? {
    guard let raw = q[name], !raw.isEmpty else { return nil }
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    if let d = f.date(from: raw) { return try TimeBounds.check(d, name) }
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    if let d = f.date(from: raw) { return try TimeBounds.check(d, name) }
    throw AppError.validation(name, "an ISO 8601 date-time, e.g. 2026-12-03T09:00:00Z.")
}

func idQuery(_ q: FormData, _ name: String) throws -> Int64? {
    guard let raw = q[name], !raw.isEmpty else { return nil }
    guard let id = FlexibleID.parse(raw) else { throw AppError.validation(name, "must be an id.") }
    return id
}
