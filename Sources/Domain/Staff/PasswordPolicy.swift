import FileFormats
import Foundation
import Synchronization

/// What a new password must be, wherever it is set (sign-in password change, members, the
/// operator CLI): 12 characters at least (ASVS 2.1.1), at most 1024 bytes, and not one of the
/// common, breached passwords of the bundled list (`data/common-passwords.txt.gz`).
public enum PasswordPolicy {
    public static let minimumLength = 12
    public static let maximumBytes = 1024

    /// Throws 400 `weak_password` (too short), `validation_failed` (too long) or `breached_password`
    /// (in the list); 503 `password_list_unavailable` when the list cannot be read (refused, never
    /// let through unchecked).
    public static func check(_ password: String, field: String = "password", list: CommonPasswords) throws {
        guard password.count >= minimumLength else {
            throw AppError(.weakPassword, "\(field): at least \(minimumLength) characters.")
        }
        guard password.utf8.count <= maximumBytes else { throw AppError.validation(field, "at most \(maximumBytes) bytes.") }
        guard try !list.contains(password) else {
            throw AppError(.breachedPassword, "\(field): this password is in a list of common, breached passwords; choose another.")
        }
    }
}

/// The bundled list of common passwords: read (gunzipped) once per process and path, on first use,
/// then kept as a set of lower-cased lines.
public final class CommonPasswords: Sendable {
    public static let defaultPath = "data/common-passwords.txt.gz"
    public let path: String
    private let loaded = Mutex<Set<String>?>(nil)
    private static let byPath = Mutex<[String: CommonPasswords]>([:])

    private init(path: String) { self.path = path }

    /// The one instance for `path` in this process.
    public static func at(_ path: String) -> CommonPasswords {
        byPath.withLock { cache in
            if let list = cache[path] { return list }
            let list = CommonPasswords(path: path)
            cache[path] = list
            return list
        }
    }

    /// True when `password`, lower-cased, is in the list.
    public func contains(_ password: String) throws -> Bool {
        try loaded.withLock { set in
            if set == nil { set = try Self.read(path) }
            return set?.contains(password.lowercased()) ?? false
        }
    }

    static func read(_ path: String) throws -> Set<String> {
        let unavailable = AppError(.passwordListUnavailable, "The list of breached passwords cannot be read; a password cannot be set now.")
        guard let data = FileManager.default.contents(atPath: path) else { throw unavailable }
        let bytes = [UInt8](data)
        // A gzip member without optional fields (`gzip -n`): 10-byte header, deflate data, 8-byte trailer.
        guard bytes.count > 18, bytes[0] == 0x1F, bytes[1] == 0x8B, bytes[2] == 8, bytes[3] == 0 else { throw unavailable }
        var budget = 16 << 20
        guard let text = try? ZipArchive.inflate(bytes[10..<(bytes.count - 8)], budget: &budget) else { throw unavailable }
        var set = Set<String>(minimumCapacity: 100_000)
        for line in text.split(separator: UInt8(ascii: "\n")) where !line.isEmpty {
            set.insert(String(decoding: line, as: UTF8.self))
        }
        guard !set.isEmpty else { throw unavailable }
        return set
    }
}
