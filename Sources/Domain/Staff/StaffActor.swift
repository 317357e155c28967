import Foundation

/// Who is acting: an authenticated user, the workspace named by `X-Account-Id` (of which the user
/// is a member) and the user's role there. Every staff use case takes one and touches only rows of
/// `workspaceID`, so ids of another workspace are simply not found (404). Which roles may do what is
/// decided by the role each route declares (medsync-fcgi's AuthMiddleware), before a use case runs.
public struct StaffActor: Sendable, Equatable {
    public let userID: Int64
    public let workspaceID: Int64
    public let role: Role

    public init(userID: Int64, workspaceID: Int64, role: Role) {
        self.userID = userID
        self.workspaceID = workspaceID
        self.role = role
    }
}

extension AppError {
    /// 400 `validation_failed` naming the field.
    public static func validation(_ field: String, _ message: String) -> AppError {
        AppError(.validationFailed, "\(field): \(message)")
    }
}

/// Phone numbers in E.164 (`+` and 7 to 15 digits, no leading zero).
public enum Phone {
    public static func isE164(_ s: String) -> Bool {
        guard s.hasPrefix("+") else { return false }
        let digits = s.dropFirst()
        return (7...15).contains(digits.count) && digits.allSatisfy { $0.isASCII && $0.isNumber } && digits.first != "0"
    }

    /// Strips `whatsapp:`, spaces, dashes, dots and parentheses; `00` becomes `+`; digits without a
    /// prefix get `defaultCountryCode` when given. Nil when the result is not E.164.
    public static func normalize(_ raw: String, defaultCountryCode: String? = nil) -> String? {
        var s = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        if s.lowercased().hasPrefix("whatsapp:") { s = String(s.dropFirst("whatsapp:".count)) }
        s = String(s.filter { !" \t-.()/\u{00A0}".contains($0) })
        if s.hasPrefix("00") { s = "+" + s.dropFirst(2) }
        if !s.hasPrefix("+") {
            guard let cc = defaultCountryCode?.filter(\.isNumber), !cc.isEmpty, !s.isEmpty else { return nil }
            let national = s.hasPrefix("0") ? String(s.drop { $0 == "0" }) : s
            // A spreadsheet number that lost its "+" but kept the country code (e.g. 14155550100 with code 1).
            s = "+" + (national.hasPrefix(cc) && national.count >= cc.count + 10 ? national : cc + national)
        }
        return isE164(s) ? s : nil
    }
}

/// JSON helpers for jsonb columns and details.
enum StaffJSON {
    static func encode(_ value: some Encodable) -> String {
        (try? String(decoding: JSONEncoder().encode(value), as: UTF8.self)) ?? "{}"
    }
}
